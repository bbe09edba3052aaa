import { z } from 'zod';
import { changeSetting } from '../commands/settings.js';
import type { SettingValue } from '../events/settings.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { readSettings } from '../projections/settings.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation, type RequestContext } from './operation.js';
import { findKin } from './kins.js';

/**
 * /api/settings/* (platform.md §8): admin only, members get 403 FORBIDDEN. Every setting is a
 * `SettingChanged` event in the `settings-global` stream (src/events/settings.ts).
 *
 * Beside the seed's settings, `/api/settings/network` holds `allowPrivateNetworks` (default
 * false): whether outbound fetches a Kin triggers (web tools, mini-app proxy, knowledge URLs)
 * may reach loopback, link-local and private address ranges. Provider endpoints configured by an
 * admin are not subject to it.
 */

const INVALID_BODY = 'INVALID_BODY';
const THRESHOLD_MESSAGE = 'thresholdPercent must be between 50 and 95';

const globalPromptInput = z
  .object({
    globalPrompt: z
      .string({ error: 'globalPrompt must be a string' })
      .trim()
      .max(10_000, 'globalPrompt must be at most 10000 characters'),
  })
  .meta({ id: 'GlobalPromptInput' });

const extractionModelInput = z
  .object({ model: z.string({ error: 'model must be a string or null' }).trim().max(200).nullable() })
  .meta({ id: 'ExtractionModelInput' });

const embeddingModelInput = z
  .object({ model: z.string({ error: 'model must be a non-empty string' }).trim().min(1, 'model must be a non-empty string').max(200) })
  .meta({ id: 'EmbeddingModelInput' });

const searchProviderInput = z
  .object({ searchProviderId: z.string({ error: 'searchProviderId must be a string or null' }).trim().max(200).nullable() })
  .meta({ id: 'SearchProviderInput' });

const hubInput = z
  .object({ kinId: z.string({ error: 'kinId must be a string or null' }).trim().max(200).nullable() })
  .meta({ id: 'HubInput' });

const compactingThresholdInput = z
  .object({ thresholdPercent: z.number({ error: THRESHOLD_MESSAGE }).min(50, THRESHOLD_MESSAGE).max(95, THRESHOLD_MESSAGE) })
  .meta({ id: 'CompactingThresholdInput' });

const networkInput = z
  .object({ allowPrivateNetworks: z.boolean({ error: 'allowPrivateNetworks must be a boolean' }) })
  .meta({ id: 'NetworkSettingsInput' });

const hubSetting = z
  .object({ hubKinId: z.string().nullable(), hubKinName: z.string().nullable(), hubKinSlug: z.string().nullable() })
  .meta({ id: 'HubSetting' });

export function settingsOperations(services: Services): Operation[] {
  const { readStore } = services;
  const tags = ['Settings'];
  const common = { auth: 'admin', tags } as const;

  /** Records the change and waits until the read models have it. */
  async function change(setting: SettingValue, ctx: RequestContext): Promise<void> {
    const result = await changeSetting(services, setting, ctx.commandMetadata());
    await services.settle(result.position);
  }

  return [
    defineOperation({
      ...common,
      name: 'globalPrompt',
      summary: 'Get the global system prompt (injected into every Kin system prompt)',
      method: 'get',
      path: '/api/settings/global-prompt',
      output: z.object({ globalPrompt: z.string() }),
      handler: async () => ({ globalPrompt: (await readSettings(readStore)).globalPrompt }),
    }),
    defineOperation({
      ...common,
      name: 'updateGlobalPrompt',
      summary: 'Update the global prompt (trimmed, at most 10 000 characters; empty clears it)',
      method: 'put',
      path: '/api/settings/global-prompt',
      body: globalPromptInput,
      errorCodes: { globalPrompt: INVALID_BODY },
      output: z.object({ globalPrompt: z.string() }),
      async handler({ body }, ctx) {
        await change({ key: 'globalPrompt', value: body.globalPrompt }, ctx);
        return { globalPrompt: body.globalPrompt };
      },
    }),
    defineOperation({
      ...common,
      name: 'modelSettings',
      summary: 'Get the memory extraction and embedding models (stored values only)',
      method: 'get',
      path: '/api/settings/models',
      output: z.object({ extractionModel: z.string().nullable(), embeddingModel: z.string().nullable() }).meta({ id: 'ModelSettings' }),
      async handler() {
        const { extractionModel, embeddingModel } = await readSettings(readStore);
        return { extractionModel, embeddingModel };
      },
    }),
    defineOperation({
      ...common,
      name: 'updateExtractionModel',
      summary: 'Set the memory extraction model (null or blank clears it)',
      method: 'put',
      path: '/api/settings/extraction-model',
      body: extractionModelInput,
      errorCodes: { model: INVALID_BODY },
      output: z.object({ extractionModel: z.string().nullable() }),
      async handler({ body }, ctx) {
        const value = body.model || null;
        await change({ key: 'extractionModel', value }, ctx);
        return { extractionModel: value };
      },
    }),
    defineOperation({
      ...common,
      name: 'updateEmbeddingModel',
      summary: 'Set the embedding model (does not re-embed: see /api/memories/reembed)',
      method: 'put',
      path: '/api/settings/embedding-model',
      body: embeddingModelInput,
      errorCodes: { model: INVALID_BODY },
      output: z.object({ embeddingModel: z.string() }),
      async handler({ body }, ctx) {
        await change({ key: 'embeddingModel', value: body.model }, ctx);
        return { embeddingModel: body.model };
      },
    }),
    defineOperation({
      ...common,
      name: 'searchProviderSetting',
      summary: 'Get the web search provider',
      method: 'get',
      path: '/api/settings/search-provider',
      output: z.object({ searchProviderId: z.string().nullable() }),
      handler: async () => ({ searchProviderId: (await readSettings(readStore)).searchProviderId }),
    }),
    defineOperation({
      ...common,
      name: 'updateSearchProvider',
      summary: 'Set the web search provider (null or blank clears it)',
      method: 'put',
      path: '/api/settings/search-provider',
      body: searchProviderInput,
      errorCodes: { searchProviderId: INVALID_BODY },
      output: z.object({ searchProviderId: z.string().nullable() }),
      async handler({ body }, ctx) {
        const value = body.searchProviderId || null;
        await change({ key: 'searchProviderId', value }, ctx);
        return { searchProviderId: value };
      },
    }),
    defineOperation({
      ...common,
      name: 'hubSetting',
      summary: 'Get the hub Kin (nulls when unset or when that Kin was deleted)',
      method: 'get',
      path: '/api/settings/hub',
      output: hubSetting,
      async handler() {
        const { hubKinId } = await readSettings(readStore);
        const kin = hubKinId ? await readStore.collection<KinDoc>(KINS).get(hubKinId) : null;
        return { hubKinId: kin?.id ?? null, hubKinName: kin?.name ?? null, hubKinSlug: kin?.slug ?? null };
      },
    }),
    defineOperation({
      ...common,
      name: 'updateHub',
      summary: 'Set the hub Kin (an existing Kin id or slug, or null)',
      method: 'put',
      path: '/api/settings/hub',
      body: hubInput,
      errorCodes: { kinId: INVALID_BODY },
      output: z.object({ hubKinId: z.string().nullable() }),
      async handler({ body }, ctx) {
        const hubKinId = body.kinId ? (await findKin(services, body.kinId)).id : null;
        // Clearing a hub whose Kin was deleted: the stored id is still there, so record the null.
        await change({ key: 'hubKinId', value: hubKinId }, ctx);
        return { hubKinId };
      },
    }),
    defineOperation({
      ...common,
      name: 'compactingThreshold',
      summary: 'Get the compacting threshold percent (default 75)',
      method: 'get',
      path: '/api/settings/compacting-threshold',
      output: z.object({ thresholdPercent: z.number() }),
      handler: async () => ({ thresholdPercent: (await readSettings(readStore)).compactingThresholdPercent }),
    }),
    defineOperation({
      ...common,
      name: 'updateCompactingThreshold',
      summary: 'Set the compacting threshold percent (50-95; stored rounded, echoed as sent)',
      method: 'put',
      path: '/api/settings/compacting-threshold',
      body: compactingThresholdInput,
      errorCodes: { thresholdPercent: 'INVALID_VALUE' },
      output: z.object({ thresholdPercent: z.number() }),
      async handler({ body }, ctx) {
        await change({ key: 'compactingThresholdPercent', value: body.thresholdPercent }, ctx);
        return { thresholdPercent: body.thresholdPercent };
      },
    }),
    defineOperation({
      ...common,
      name: 'networkSettings',
      summary: 'Get the outbound network policy for Kin-triggered fetches',
      method: 'get',
      path: '/api/settings/network',
      output: z.object({ allowPrivateNetworks: z.boolean() }),
      handler: async () => ({ allowPrivateNetworks: (await readSettings(readStore)).allowPrivateNetworks }),
    }),
    defineOperation({
      ...common,
      name: 'updateNetworkSettings',
      summary: 'Allow or forbid Kin-triggered outbound fetches to loopback and private address ranges',
      method: 'put',
      path: '/api/settings/network',
      body: networkInput,
      errorCodes: { allowPrivateNetworks: INVALID_BODY },
      output: z.object({ allowPrivateNetworks: z.boolean() }),
      async handler({ body }, ctx) {
        await change({ key: 'allowPrivateNetworks', value: body.allowPrivateNetworks }, ctx);
        return { allowPrivateNetworks: body.allowPrivateNetworks };
      },
    }),
  ];
}
