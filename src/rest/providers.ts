import { z } from 'zod';
import { connectionTestFor, createProvider, deleteProvider, providerNotFound, testProvider, updateProvider } from '../commands/providers.js';
import { PROVIDERS, providersProjection, type ProviderDoc } from '../projections/providers.js';
import {
  capabilitiesOf,
  configProblem,
  decryptProviderConfig,
  listModels,
  PROVIDER_TYPES,
  providerTypes,
  type ProviderModel,
} from '../agents/providerCatalog.js';
import type { ConnectionTest } from '../events/providers.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';
import { listCache } from './listCache.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const nameField = z
  .string({ error: (issue) => (issue.input === undefined ? 'Name is required' : 'Name must be a string') })
  .trim()
  .min(1, 'Name is required')
  .max(100, 'Name must be under 100 characters');

const typeField = z.enum(PROVIDER_TYPES, {
  error: (issue) => (issue.input === undefined ? 'Type is required' : `Unknown provider type: ${String(issue.input)}`),
});

const configInput = z
  .object({
    apiKey: z.string({ error: 'apiKey must be a string' }).trim().max(4096).optional(),
    baseUrl: z.string({ error: 'baseUrl must be a string' }).trim().max(2048).optional(),
  })
  .meta({ id: 'ProviderConfigInput', description: 'Encrypted at rest; never returned.' });

/** Blank strings are "not given". */
const cleanConfig = (config: { apiKey?: string; baseUrl?: string }) => ({
  ...(config.apiKey ? { apiKey: config.apiKey } : {}),
  ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}),
});

/** The type's own requirements (key, base URL) as a validation issue on the field at fault. */
const checkConfig = (value: { type: string; config: { apiKey?: string; baseUrl?: string } }, ctx: z.RefinementCtx) => {
  const problem = configProblem(value.type, cleanConfig(value.config));
  if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path.split('.') });
};

const createProviderInput = z
  .object({ name: nameField, type: typeField, config: configInput.default({}) })
  .superRefine(checkConfig)
  .meta({ id: 'CreateProviderInput' });

const testProviderConfigInput = z
  .object({ type: typeField, config: configInput.default({}) })
  .superRefine(checkConfig)
  .meta({ id: 'TestProviderConfigInput' });

const updateProviderInput = z
  .object({
    name: nameField.optional(),
    config: z
      .object({
        apiKey: z.string({ error: 'apiKey must be a string or null' }).trim().max(4096).nullable().optional(),
        baseUrl: z.string({ error: 'baseUrl must be a string or null' }).trim().max(2048).nullable().optional(),
      })
      .optional()
      .describe('Merged over the stored config (null clears a field), then re-tested'),
  })
  .meta({ id: 'UpdateProviderInput' });

const providerRef = z.object({ id: z.string().min(1) });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const providerListItem = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.string(),
    capabilities: z.array(z.string()),
    isValid: z.boolean(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Provider' });

const providerSummary = providerListItem
  .pick({ id: true, name: true, type: true, capabilities: true, isValid: true })
  .meta({ id: 'ProviderSummary' });

const testResult = z
  .object({ valid: z.boolean(), capabilities: z.array(z.string()), error: z.string().optional() })
  .meta({ id: 'ProviderTestResult' });

const typeInfo = z
  .object({
    type: z.string(),
    displayName: z.string(),
    capabilities: z.array(z.string()),
    noApiKey: z.boolean(),
    apiKeyUrl: z.string().optional(),
    source: z.enum(['builtin', 'plugin']),
  })
  .meta({ id: 'ProviderTypeInfo' });

const modelInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    providerId: z.string(),
    providerName: z.string(),
    providerType: z.string(),
    capability: z.string(),
    supportsImageInput: z.boolean().optional(),
  })
  .meta({ id: 'ProviderModel' });

const capabilityFlags = z
  .object({ llm: z.boolean(), embedding: z.boolean(), image: z.boolean(), search: z.boolean() })
  .meta({ id: 'ProviderCapabilityFlags' });

// ── Presentation ──────────────────────────────────────────────────────────────────────────────

const summaryOf = (doc: ProviderDoc): z.input<typeof providerSummary> => ({
  id: doc.id,
  name: doc.name,
  type: doc.type,
  capabilities: doc.capabilities,
  isValid: doc.isValid,
});

const presentTest = (test: ConnectionTest): z.input<typeof testResult> => ({
  valid: test.valid,
  capabilities: test.capabilities,
  ...(test.error !== null ? { error: test.error } : {}),
});

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function providerOperations(services: Services): Operation[] {
  const { readStore, secrets } = services;
  const testConnection = connectionTestFor(services.config);
  const deps = { ...services, dataDir: services.config.dataDir, testConnection };
  const providers = () => readStore.collection<ProviderDoc>(PROVIDERS);
  const tags = ['Providers'];

  async function findProvider(id: string): Promise<ProviderDoc> {
    const doc = await providers().get(id);
    if (!doc) throw providerNotFound();
    return doc;
  }
  const allProviders = () => providers().find({}, { sort: { createdAt: 1, id: 1 } });
  const cachedList = listCache(readStore, { dependsOn: [providersProjection] });

  return [
    defineOperation({
      name: 'providers',
      summary: 'List providers with status (never their config)',
      method: 'get',
      path: '/api/providers',
      auth: 'user',
      tags,
      output: z.object({ providers: z.array(providerListItem) }),
      handler: () =>
        cachedList('', async () => ({
          providers: (await allProviders()).map((doc) => ({ ...summaryOf(doc), lastError: doc.lastError, createdAt: doc.createdAt })),
        })),
    }),
    defineOperation({
      name: 'createProvider',
      summary: 'Configure a provider: tests the connection and saves it even when the test fails',
      method: 'post',
      path: '/api/providers',
      auth: 'admin',
      tags,
      body: createProviderInput,
      status: 201,
      output: z.object({ provider: providerSummary }),
      async handler({ body }, ctx) {
        const input = { name: body.name, type: body.type, config: cleanConfig(body.config) };
        const { providerId, position } = await createProvider(deps, input, ctx.commandMetadata());
        await services.settle(position);
        return { provider: summaryOf(await findProvider(providerId)) };
      },
    }),
    defineOperation({
      name: 'updateProvider',
      summary: 'Update a provider: rename, and/or merge its config and re-test it',
      method: 'patch',
      path: '/api/providers/:id',
      auth: 'admin',
      tags,
      params: providerRef,
      body: updateProviderInput,
      output: z.object({ provider: providerSummary }),
      async handler({ params, body }, ctx) {
        const result = await updateProvider(deps, params.id, body, ctx.commandMetadata());
        await services.settle(result.position);
        return { provider: summaryOf(await findProvider(params.id)) };
      },
    }),
    defineOperation({
      name: 'deleteProvider',
      summary: 'Remove a provider (not the last one with llm or embedding); Kins using it get no provider',
      method: 'delete',
      path: '/api/providers/:id',
      auth: 'admin',
      tags,
      params: providerRef,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const { position } = await deleteProvider(deps, params.id, ctx.commandMetadata());
        await services.settle(position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'testProvider',
      summary: 'Test a saved provider now and record the outcome',
      method: 'post',
      path: '/api/providers/:id/test',
      auth: 'admin',
      tags,
      params: providerRef,
      output: testResult,
      async handler({ params }, ctx) {
        const { test, position } = await testProvider(deps, params.id, ctx.commandMetadata());
        await services.settle(position);
        return presentTest(test);
      },
    }),
    defineOperation({
      name: 'testProviderConfig',
      summary: 'Test a provider config without saving it',
      method: 'post',
      path: '/api/providers/test',
      auth: 'admin',
      tags,
      body: testProviderConfigInput,
      output: testResult,
      handler: async ({ body }) => presentTest(await testConnection(body.type, cleanConfig(body.config))),
    }),
    defineOperation({
      name: 'providerTypes',
      summary: 'Provider types, their capabilities and whether they need a key',
      method: 'get',
      path: '/api/providers/types',
      auth: 'user',
      tags,
      output: z.object({ types: z.array(typeInfo) }),
      handler: async () => ({ types: providerTypes() }),
    }),
    defineOperation({
      name: 'providerCapabilities',
      summary: 'Which capabilities the valid providers offer',
      method: 'get',
      path: '/api/providers/capabilities',
      auth: 'user',
      tags,
      output: z.object({ capabilities: capabilityFlags }),
      async handler() {
        const valid = (await allProviders()).filter((doc) => doc.isValid);
        const has = (capability: string) => valid.some((doc) => doc.capabilities.includes(capability));
        return { capabilities: { llm: has('llm'), embedding: has('embedding'), image: has('image'), search: has('search') } };
      },
    }),
    defineOperation({
      name: 'providerModels',
      summary: 'Models of the valid providers, listed live (a provider that does not answer is left out)',
      method: 'get',
      path: '/api/providers/models',
      auth: 'user',
      tags,
      output: z.object({ models: z.array(modelInfo) }),
      async handler(_input, ctx) {
        const valid = (await allProviders()).filter((doc) => doc.isValid);
        const lists = await Promise.all(
          valid.map(async (doc): Promise<z.input<typeof modelInfo>[]> => {
            try {
              const config = await decryptProviderConfig(secrets, doc.id, doc.configEncrypted);
              if (!config) return [];
              const capabilities = doc.capabilities.length ? doc.capabilities : capabilitiesOf(doc.type);
              const models: ProviderModel[] = await listModels(doc.type, config, capabilities);
              return models.map((model) => ({ ...model, providerId: doc.id, providerName: doc.name, providerType: doc.type }));
            } catch (error) {
              ctx.log.warn({ err: error, providerId: doc.id }, 'model listing failed');
              return [];
            }
          }),
        );
        return { models: lists.flat() };
      },
    }),
  ];
}
