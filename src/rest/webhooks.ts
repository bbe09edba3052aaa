import { z } from 'zod';
import {
  createWebhook,
  deleteWebhook,
  filterFieldsFor,
  type FilterSettings,
  regenerateWebhookToken,
  updateWebhook,
  webhookNotFound,
} from '../commands/webhooks.js';
import { evaluateFilter, filterProblem, suggestFields } from '../agents/webhookFilter.js';
import { filterModeSchema, type WebhookChanges } from '../events/webhooks.js';
import { avatarUrlOf, KINS, kinsProjection, type KinDoc } from '../projections/kins.js';
import { incomingUrl, NEWEST_FIRST, WEBHOOK_LOGS, WEBHOOKS, webhooksProjection, type WebhookDoc, type WebhookLogDoc } from '../projections/webhooks.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';
import { listCache } from './listCache.js';
import { incomingWebhookOperation } from './webhookIncoming.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const REQUIRED = 'kinId and name are required';

const nameField = z.string({ error: REQUIRED }).trim().min(1, REQUIRED).max(200, 'name must be at most 200 characters');
const descriptionField = z.string({ error: 'description must be a string' }).max(1000, 'description must be at most 1000 characters');

const createWebhookInput = z
  .object({
    kinId: z.string({ error: REQUIRED }).trim().min(1, REQUIRED),
    name: nameField,
    description: descriptionField.nullable().optional(),
  })
  .meta({ id: 'CreateWebhookInput', description: 'Filters are set afterwards, with PATCH.' });

const filterOverrides = {
  filterMode: filterModeSchema.nullable().optional(),
  filterField: z.string({ error: 'filterField must be a string' }).nullable().optional(),
  filterAllowedValues: z.array(z.string(), { error: 'filterAllowedValues must be an array of strings' }).nullable().optional(),
  filterExpression: z.string({ error: 'filterExpression must be a string' }).nullable().optional(),
};

/** What a filter mode needs, checked when the mode is set. */
function checkFilter(value: FilterSettings, ctx: z.RefinementCtx) {
  const problem = filterProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
}

const updateWebhookInput = z
  .object({
    name: z.string({ error: 'name must be a string' }).trim().min(1, 'name cannot be empty').max(200, 'name must be at most 200 characters').optional(),
    description: descriptionField.nullable().optional(),
    isActive: z.boolean({ error: 'isActive must be a boolean' }).optional(),
    ...filterOverrides,
  })
  .superRefine(checkFilter)
  .meta({ id: 'UpdateWebhookInput', description: 'filterMode null clears the filter; absent leaves it as it is.' });

const testFilterInput = z
  .object({
    payload: z.string({ error: (issue) => (issue.input == null ? 'payload is required' : 'payload must be a string') }),
    ...filterOverrides,
  })
  .meta({ id: 'TestWebhookFilterInput', description: 'Filter keys that are present (even null) replace the saved ones.' });

/** Every validation failure is VALIDATION_ERROR with the field's own message. */
const validation = Object.fromEntries(
  ['kinId', 'name', 'description', 'isActive', 'payload', ...Object.keys(filterOverrides)].map((field) => [field, 'VALIDATION_ERROR']),
);

const webhookRef = z.object({ id: z.string().min(1) });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const webhookSummary = z
  .object({
    id: z.string(),
    kinId: z.string(),
    kinName: z.string().nullable(),
    kinAvatarUrl: z.string().nullable(),
    name: z.string(),
    description: z.string().nullable(),
    isActive: z.boolean(),
    triggerCount: z.number().int(),
    lastTriggeredAt: z.number().nullable().describe('epoch ms'),
    filterMode: filterModeSchema.nullable(),
    filterField: z.string().nullable(),
    filterAllowedValues: z.array(z.string()).nullable(),
    filterExpression: z.string().nullable(),
    filteredCount: z.number().int().describe('stored logs that the filter turned away'),
    createdBy: z.enum(['user', 'kin']),
    createdAt: z.number().describe('epoch ms'),
    url: z.string().describe('where the payloads are POSTed'),
  })
  .meta({ id: 'WebhookSummary' });

const createdWebhook = webhookSummary.extend({ token: z.string().describe('shown once: only its hash is kept') }).meta({ id: 'CreatedWebhook' });

const webhookLog = z
  .object({
    id: z.string(),
    webhookId: z.string(),
    payload: z.string().nullable(),
    sourceIp: z.string().nullable(),
    filtered: z.boolean(),
    createdAt: z.number().describe('epoch ms'),
  })
  .meta({ id: 'WebhookLog' });

const filterResult = z
  .object({ passed: z.boolean(), extractedValue: z.string().nullable().optional(), error: z.string().optional() })
  .meta({ id: 'WebhookFilterResult' });

// ── Presentation ──────────────────────────────────────────────────────────────────────────────

export async function presentWebhooks(services: Pick<Services, 'readStore' | 'config'>, docs: WebhookDoc[]): Promise<z.input<typeof webhookSummary>[]> {
  const { readStore } = services;
  const kinIds = [...new Set(docs.map((doc) => doc.kinId))];
  const kins = new Map((await readStore.collection<KinDoc>(KINS).find({ id: { $in: kinIds } })).map((kin) => [kin.id, kin]));
  const logs = readStore.collection<WebhookLogDoc>(WEBHOOK_LOGS);
  return Promise.all(
    docs.map(async (doc) => {
      const kin = kins.get(doc.kinId);
      return {
        id: doc.id,
        kinId: doc.kinId,
        kinName: kin?.name ?? null,
        kinAvatarUrl: kin ? avatarUrlOf(kin) : null,
        name: doc.name,
        description: doc.description,
        isActive: doc.isActive,
        triggerCount: doc.triggerCount,
        lastTriggeredAt: doc.lastTriggeredAt,
        filterMode: doc.filterMode,
        filterField: doc.filterField,
        filterAllowedValues: doc.filterAllowedValues,
        filterExpression: doc.filterExpression,
        filteredCount: await logs.count({ webhookId: doc.id, filtered: true }),
        createdBy: doc.createdBy,
        createdAt: doc.createdAt,
        url: incomingUrl(services.config.publicUrl, doc.id),
      };
    }),
  );
}

/** A webhook that exists (its Kin too), else 404 NOT_FOUND. */
export async function findWebhook(services: Pick<Services, 'readStore'>, webhookId: string): Promise<WebhookDoc> {
  const webhook = await services.readStore.collection<WebhookDoc>(WEBHOOKS).get(webhookId);
  if (!webhook || webhook.kinDeleted) throw webhookNotFound();
  return webhook;
}

const LOG_LIMIT = { default: 50, min: 1, max: 200 };

function logLimit(raw: string | undefined): number {
  const limit = Number.parseInt(raw ?? '', 10);
  return Number.isNaN(limit) ? LOG_LIMIT.default : Math.min(LOG_LIMIT.max, Math.max(LOG_LIMIT.min, limit));
}

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function webhookOperations(services: Services): Operation[] {
  const { readStore, config } = services;
  const limits = config.webhooks;
  const tags = ['Webhooks'];
  const summaryOf = async (webhookId: string) => (await presentWebhooks(services, [await findWebhook(services, webhookId)]))[0]!;
  // Summaries carry the Kin's name and avatar, and counts of the webhook's logs.
  const cachedList = listCache(readStore, { dependsOn: [webhooksProjection, kinsProjection] });

  return [
    defineOperation({
      name: 'webhooks',
      summary: 'List webhooks',
      method: 'get',
      path: '/api/webhooks',
      auth: 'user',
      tags,
      query: z.object({ kinId: z.string().optional() }),
      output: z.object({ webhooks: z.array(webhookSummary) }),
      handler: ({ query }) =>
        cachedList(query.kinId ?? '', async () => {
          const filter = query.kinId ? { kinId: query.kinId, kinDeleted: false } : { kinDeleted: false };
          const docs = await readStore.collection<WebhookDoc>(WEBHOOKS).find(filter, { sort: { createdAt: 1, id: 1 } });
          return { webhooks: await presentWebhooks(services, docs) };
        }),
    }),
    defineOperation({
      name: 'createWebhook',
      summary: 'Create a webhook (its token is in this answer only)',
      method: 'post',
      path: '/api/webhooks',
      auth: 'user',
      tags,
      body: createWebhookInput,
      errorCodes: validation,
      status: 201,
      output: z.object({ webhook: createdWebhook }),
      async handler({ body }, ctx) {
        const input = { kinId: body.kinId, name: body.name, description: body.description?.trim() || null, createdBy: 'user' as const };
        const { webhookId, token, position } = await createWebhook(services, limits, input, ctx.commandMetadata());
        await services.settle(position);
        return { webhook: { ...(await summaryOf(webhookId)), token } };
      },
    }),
    defineOperation({
      name: 'updateWebhook',
      summary: 'Update a webhook (name, description, active state, payload filter)',
      method: 'patch',
      path: '/api/webhooks/:id',
      auth: 'user',
      tags,
      params: webhookRef,
      body: updateWebhookInput,
      errorCodes: validation,
      output: z.object({ webhook: webhookSummary }),
      async handler({ params, body }, ctx) {
        const webhook = await findWebhook(services, params.id);
        const changes: WebhookChanges = {};
        if (body.name !== undefined) changes.name = body.name;
        if (body.description !== undefined) changes.description = body.description;
        if (body.isActive !== undefined) changes.isActive = body.isActive;
        if (body.filterMode !== undefined) Object.assign(changes, filterFieldsFor(body));
        const result = await updateWebhook(services, webhook.id, changes, ctx.commandMetadata());
        await services.settle(result.position);
        return { webhook: await summaryOf(webhook.id) };
      },
    }),
    defineOperation({
      name: 'deleteWebhook',
      summary: 'Delete a webhook and its logs',
      method: 'delete',
      path: '/api/webhooks/:id',
      auth: 'user',
      tags,
      params: webhookRef,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const webhook = await findWebhook(services, params.id);
        const result = await deleteWebhook(services, webhook.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'webhookLogs',
      summary: 'Get webhook execution logs (newest first)',
      method: 'get',
      path: '/api/webhooks/:id/logs',
      auth: 'user',
      tags,
      params: webhookRef,
      query: z.object({ limit: z.string().optional().describe('1–200, default 50') }),
      output: z.object({ logs: z.array(webhookLog) }),
      async handler({ params, query }) {
        const webhook = await findWebhook(services, params.id);
        const logs = await readStore
          .collection<WebhookLogDoc>(WEBHOOK_LOGS)
          .find({ webhookId: webhook.id }, { sort: NEWEST_FIRST, limit: logLimit(query.limit) });
        return { logs: logs.map(({ id, webhookId, payload, sourceIp, filtered, createdAt }) => ({ id, webhookId, payload, sourceIp, filtered, createdAt })) };
      },
    }),
    defineOperation({
      name: 'regenerateWebhookToken',
      summary: 'Regenerate webhook token (the old one stops working at once)',
      method: 'post',
      path: '/api/webhooks/:id/regenerate-token',
      auth: 'user',
      tags,
      params: webhookRef,
      output: z.object({ token: z.string() }),
      async handler({ params }, ctx) {
        const webhook = await findWebhook(services, params.id);
        const { token, position } = await regenerateWebhookToken(services, webhook.id, ctx.commandMetadata());
        await services.settle(position);
        return { token };
      },
    }),
    defineOperation({
      name: 'testWebhookFilter',
      summary: 'Test a payload filter against a sample payload (no side effects)',
      method: 'post',
      path: '/api/webhooks/:id/test-filter',
      auth: 'user',
      tags,
      params: webhookRef,
      body: testFilterInput,
      errorCodes: validation,
      output: filterResult,
      async handler({ params, body }) {
        const webhook = await findWebhook(services, params.id);
        const filter = {
          filterMode: body.filterMode !== undefined ? body.filterMode : webhook.filterMode,
          filterField: body.filterField !== undefined ? body.filterField : webhook.filterField,
          filterAllowedValues: body.filterAllowedValues !== undefined ? body.filterAllowedValues : webhook.filterAllowedValues,
          filterExpression: body.filterExpression !== undefined ? body.filterExpression : webhook.filterExpression,
        };
        return evaluateFilter(filter, body.payload);
      },
    }),
    defineOperation({
      name: 'suggestWebhookFields',
      summary: 'Extract field path suggestions from the last received payload',
      method: 'post',
      path: '/api/webhooks/:id/suggest-fields',
      auth: 'user',
      tags,
      params: webhookRef,
      output: z.object({ fields: z.array(z.string()), lastPayload: z.string().nullable() }),
      async handler({ params }) {
        const webhook = await findWebhook(services, params.id);
        const last = await readStore.collection<WebhookLogDoc>(WEBHOOK_LOGS).findOne({ webhookId: webhook.id }, { sort: NEWEST_FIRST });
        const lastPayload = last?.payload ?? null;
        return { fields: lastPayload === null ? [] : suggestFields(lastPayload), lastPayload };
      },
    }),
    incomingWebhookOperation(services),
  ];
}
