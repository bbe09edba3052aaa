import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { eventMetadata, type RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, notFound } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { ReadStore } from '../es/readStore.js';
import {
  parseWebhookEvent,
  webhookLogStream,
  webhookStream,
  type IngestionEvent,
  type WebhookChanges,
  type WebhookEvent,
  type WebhookFilterFields,
} from '../events/webhooks.js';
import { evaluateFilter } from '../agents/webhookFilter.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { WEBHOOKS, type WebhookDoc } from '../projections/webhooks.js';
import { PRIORITY, runTurnCommand } from './messages.js';

// ── The webhook stream ────────────────────────────────────────────────────────────────────────

export type WebhookFields = { kinId: string; name: string; description: string | null; isActive: boolean } & WebhookFilterFields;

export type WebhookState = { status: 'none' } | { status: 'active'; webhook: WebhookFields } | { status: 'deleted' };

type Base = { webhookId: string; now: Date };

export type WebhookCommand =
  | (Base & {
      type: 'CreateWebhook';
      kinId: string;
      name: string;
      description: string | null;
      tokenHash: string;
      filter: WebhookFilterFields;
      createdBy: 'user' | 'kin';
    })
  | (Base & { type: 'UpdateWebhook'; changes: WebhookChanges })
  | (Base & { type: 'RegenerateWebhookToken'; tokenHash: string })
  | (Base & { type: 'PruneWebhookLogs'; olderThan: number; keepNewest: number })
  | (Base & { type: 'DeleteWebhook' });

export const webhookNotFound = () => notFound('NOT_FOUND', 'Webhook not found');

export const NO_FILTER: WebhookFilterFields = { filterMode: null, filterField: null, filterAllowedValues: null, filterExpression: null };

export function evolveWebhook(state: WebhookState, event: WebhookEvent): WebhookState {
  switch (event.type) {
    case 'WebhookCreated': {
      const { kinId, name, description, filter } = event.data;
      return { status: 'active', webhook: { kinId, name, description, isActive: true, ...filter } };
    }
    case 'WebhookUpdated':
      return state.status === 'active' ? { status: 'active', webhook: { ...state.webhook, ...event.data.changes } } : state;
    case 'WebhookTokenRegenerated':
    case 'WebhookLogsPruned':
      return state;
    case 'WebhookDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function changedFields(changes: WebhookChanges, webhook: WebhookFields): WebhookChanges {
  return Object.fromEntries(
    Object.entries(changes).filter(([key, value]) => value !== undefined && !sameValue(value, webhook[key as keyof WebhookFields])),
  );
}

export function decideWebhook(command: WebhookCommand, state: WebhookState): WebhookEvent[] {
  const { webhookId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreateWebhook') {
    if (state.status !== 'none') throw conflict('WEBHOOK_EXISTS', 'A webhook with this id already exists');
    const { kinId, name, description, tokenHash, filter, createdBy } = command;
    return [{ type: 'WebhookCreated', data: { webhookId, kinId, name, description, tokenHash, filter, createdBy, createdAt: at } }];
  }
  if (state.status !== 'active') throw webhookNotFound();
  const { kinId } = state.webhook;
  switch (command.type) {
    case 'UpdateWebhook': {
      const changes = changedFields(command.changes, state.webhook);
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'WebhookUpdated', data: { webhookId, kinId, changes, updatedAt: at } }];
    }
    case 'RegenerateWebhookToken':
      return [{ type: 'WebhookTokenRegenerated', data: { webhookId, kinId, tokenHash: command.tokenHash, regeneratedAt: at } }];
    case 'PruneWebhookLogs': {
      const { olderThan, keepNewest } = command;
      return [{ type: 'WebhookLogsPruned', data: { webhookId, kinId, olderThan, keepNewest, prunedAt: at } }];
    }
    case 'DeleteWebhook':
      return [{ type: 'WebhookDeleted', data: { webhookId, kinId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const webhookDecider: Decider<WebhookState, WebhookCommand, WebhookEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveWebhook,
  decide: decideWebhook,
};

/** A filter as PATCH (or a Kin's tool) sets it: the mode decides which fields are kept. */
export type FilterSettings = {
  filterMode?: 'simple' | 'advanced' | null;
  filterField?: string | null;
  filterAllowedValues?: string[] | null;
  filterExpression?: string | null;
};

/**
 * The stored form of a filter mode (tasks-crons-webhooks.md §3, "Storage"): null clears the four
 * fields, simple keeps the trimmed field and the values (null: nothing is allowed), advanced the
 * trimmed expression.
 */
export function filterFieldsFor(settings: FilterSettings): WebhookFilterFields {
  switch (settings.filterMode) {
    case 'simple':
      return { filterMode: 'simple', filterField: settings.filterField?.trim() ?? null, filterAllowedValues: settings.filterAllowedValues ?? null, filterExpression: null };
    case 'advanced':
      return { filterMode: 'advanced', filterField: null, filterAllowedValues: null, filterExpression: settings.filterExpression?.trim() ?? null };
    default:
      return NO_FILTER;
  }
}

// ── Tokens ────────────────────────────────────────────────────────────────────────────────────

/** 32 random bytes as 64 lowercase hex characters. */
export const newToken = (): string => randomBytes(32).toString('hex');

/** Only this hash is kept (events and read model): a stolen log does not give the token away. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Constant time: both sides are 32-byte hashes, whatever the length of what was presented. */
export function tokenMatches(presented: string, tokenHash: string): boolean {
  const given = createHash('sha256').update(presented, 'utf8').digest();
  const expected = Buffer.from(tokenHash, 'hex');
  return expected.length === given.length && timingSafeEqual(given, expected);
}

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

export type WebhookDeps = { runCommand: RunCommand; readStore: ReadStore };

export type WebhookLimits = { maxPerKin: number };

const runWebhook = (deps: WebhookDeps, command: WebhookCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: webhookStream(command.webhookId), decider: webhookDecider, parse: parseWebhookEvent, command, metadata });

export type NewWebhook = {
  kinId: string;
  name: string;
  description: string | null;
  createdBy: 'user' | 'kin';
  filter?: WebhookFilterFields;
};

/** Returns the token: the only time it is known in clear. */
export async function createWebhook(deps: WebhookDeps, limits: WebhookLimits, input: NewWebhook, metadata: CommandMetadata) {
  if (!(await deps.readStore.collection<KinDoc>(KINS).get(input.kinId))) throw notFound('NOT_FOUND', 'Kin not found');
  const existing = await deps.readStore.collection<WebhookDoc>(WEBHOOKS).count({ kinId: input.kinId, kinDeleted: false });
  if (existing >= limits.maxPerKin) {
    throw badRequest('WEBHOOK_CREATE_ERROR', `Max webhooks per Kin (${limits.maxPerKin}) reached`);
  }
  const webhookId = uuidv7();
  const token = newToken();
  const command: WebhookCommand = {
    type: 'CreateWebhook',
    webhookId,
    kinId: input.kinId,
    name: input.name,
    description: input.description,
    tokenHash: hashToken(token),
    filter: input.filter ?? NO_FILTER,
    createdBy: input.createdBy,
    now: metadata.now,
  };
  const result = await runWebhook(deps, command, metadata);
  return { webhookId, token, position: result.position };
}

export const updateWebhook = (deps: WebhookDeps, webhookId: string, changes: WebhookChanges, metadata: CommandMetadata) =>
  runWebhook(deps, { type: 'UpdateWebhook', webhookId, changes, now: metadata.now }, metadata);

export async function regenerateWebhookToken(deps: WebhookDeps, webhookId: string, metadata: CommandMetadata) {
  const token = newToken();
  const result = await runWebhook(deps, { type: 'RegenerateWebhookToken', webhookId, tokenHash: hashToken(token), now: metadata.now }, metadata);
  return { token, position: result.position };
}

export const deleteWebhook = (deps: WebhookDeps, webhookId: string, metadata: CommandMetadata) =>
  runWebhook(deps, { type: 'DeleteWebhook', webhookId, now: metadata.now }, metadata);

export const pruneWebhookLogs = (deps: WebhookDeps, webhookId: string, retention: { olderThan: number; keepNewest: number }, metadata: CommandMetadata) =>
  runWebhook(deps, { type: 'PruneWebhookLogs', webhookId, ...retention, now: metadata.now }, metadata);

// ── Ingestion ─────────────────────────────────────────────────────────────────────────────────

/** What a log row keeps of a payload. */
export const LOG_PAYLOAD_CHARS = 10_240;

export type Received = { payload: string; sourceIp: string };

export type IngestionDecision = { event: IngestionEvent; message: string | null };

/**
 * Pure: what receiving `payload` means for `webhook` (already authenticated and active). A
 * payload that passes the filter becomes a message for the Kin; either way it is logged.
 */
export function decideIngestion(
  webhook: Pick<WebhookDoc, 'id' | 'kinId' | 'name'> & WebhookFilterFields,
  received: Received,
  ids: { logId: string; queueItemId: string },
  now: Date,
): IngestionDecision {
  const result = evaluateFilter(webhook, received.payload);
  const common = {
    webhookId: webhook.id,
    kinId: webhook.kinId,
    logId: ids.logId,
    payload: received.payload === '' ? null : received.payload.slice(0, LOG_PAYLOAD_CHARS),
    sourceIp: received.sourceIp,
    receivedAt: now.toISOString(),
  };
  if (!result.passed) {
    const extracted = result.extractedValue === undefined ? {} : { extractedValue: result.extractedValue };
    return { event: { type: 'WebhookPayloadFiltered', data: { ...common, ...extracted } }, message: null };
  }
  return {
    event: { type: 'WebhookPayloadAccepted', data: { ...common, queueItemId: ids.queueItemId } },
    message: `[Webhook: ${webhook.name}]\n${received.payload}`,
  };
}

export type IngestionDeps = { runCommand: RunCommand; eventStore: EventStore; notify: () => void };

/**
 * Logs the payload in the webhook's ingestion stream, then queues the Kin's turn when it passed.
 * The log comes first, carrying the queue item id: the audit trail never misses a payload a Kin
 * acted on. (A crash between the two appends leaves an accepted payload without its turn; the
 * queue item id in the log says which.)
 */
export async function ingestPayload(
  deps: IngestionDeps,
  webhook: Pick<WebhookDoc, 'id' | 'kinId' | 'name'> & WebhookFilterFields,
  received: Received,
  metadata: CommandMetadata,
) {
  const ids = { logId: uuidv7(), queueItemId: uuidv7() };
  const { event, message } = decideIngestion(webhook, received, ids, metadata.now);
  const appended = await deps.eventStore.append(
    webhookLogStream(webhook.id),
    [
      {
        id: ids.logId,
        type: event.type,
        data: event.data,
        metadata: eventMetadata(metadata),
      },
    ],
    'any',
  );
  deps.notify();
  if (message === null) return { filtered: true, queueItemId: null, position: appended.position };
  const queued = await runTurnCommand(
    deps,
    {
      type: 'QueueMessage',
      queueItemId: ids.queueItemId,
      kinId: webhook.kinId,
      sessionId: null,
      content: message,
      fileIds: [],
      sourceType: 'webhook',
      sourceId: webhook.id,
      priority: PRIORITY.webhook,
      now: metadata.now,
    },
    { ...metadata, causationId: ids.logId },
  );
  return { filtered: false, queueItemId: ids.queueItemId, position: queued.position ?? appended.position };
}
