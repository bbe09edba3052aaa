import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * Two streams per webhook:
 * - `webhook-<id>`: its definition (created, changed, token regenerated, logs pruned, deleted).
 *   Commands fold it, so it stays short.
 * - `webhooklog-<id>`: every payload it received and read (accepted or filtered out), appended
 *   with expected revision `any` — ingestion decides against the read model, not by folding this
 *   stream, which can grow to thousands of events.
 * Requests refused before the payload is read (rate limit, token, inactive, too large) are not
 * events: the log is permanent, and a caller without the token must not be able to grow it. They
 * are in the request log.
 */
export const webhookStream = (webhookId: string) => `webhook-${webhookId}`;
export const webhookLogStream = (webhookId: string) => `webhooklog-${webhookId}`;

export const filterModeSchema = z.enum(['simple', 'advanced']);
export type FilterModeValue = z.infer<typeof filterModeSchema>;

/** The four filter fields, always written together (PATCH replaces them as a group). */
export const webhookFilterSchema = z.object({
  filterMode: filterModeSchema.nullable(),
  filterField: z.string().nullable(),
  filterAllowedValues: z.array(z.string()).nullable(),
  filterExpression: z.string().nullable(),
});
export type WebhookFilterFields = z.infer<typeof webhookFilterSchema>;

export const webhookChangesSchema = z.object({
  name: z.string().optional(),
  description: z.string().nullable().optional(),
  isActive: z.boolean().optional(),
  filterMode: filterModeSchema.nullable().optional(),
  filterField: z.string().nullable().optional(),
  filterAllowedValues: z.array(z.string()).nullable().optional(),
  filterExpression: z.string().nullable().optional(),
});
export type WebhookChanges = z.infer<typeof webhookChangesSchema>;

const id = z.string();

export const webhookEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('WebhookCreated'),
    data: z.object({
      webhookId: id,
      kinId: id,
      name: z.string(),
      description: z.string().nullable(),
      /** SHA-256 (hex) of the token: the token itself is shown once and never stored. */
      tokenHash: z.string(),
      filter: webhookFilterSchema,
      createdBy: z.enum(['user', 'kin']),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('WebhookUpdated'),
    data: z.object({ webhookId: id, kinId: id, changes: webhookChangesSchema, updatedAt: z.string() }),
  }),
  z.object({
    type: z.literal('WebhookTokenRegenerated'),
    data: z.object({ webhookId: id, kinId: id, tokenHash: z.string(), regeneratedAt: z.string() }),
  }),
  z.object({
    /** Read model retention: logs received before `olderThan` (ms) go, then all but the newest `keepNewest`. */
    type: z.literal('WebhookLogsPruned'),
    data: z.object({ webhookId: id, kinId: id, olderThan: z.number(), keepNewest: z.number().int(), prunedAt: z.string() }),
  }),
  z.object({
    type: z.literal('WebhookDeleted'),
    data: z.object({ webhookId: id, kinId: id, deletedAt: z.string() }),
  }),
]);
export type WebhookEvent = z.infer<typeof webhookEventSchema>;
export const webhookEventTypes = ['WebhookCreated', 'WebhookUpdated', 'WebhookTokenRegenerated', 'WebhookLogsPruned', 'WebhookDeleted'] as const;

export const parseWebhookEvent = (recorded: RecordedEvent): WebhookEvent =>
  webhookEventSchema.parse({ type: recorded.type, data: recorded.data });

const received = {
  webhookId: id,
  kinId: id,
  /** The log row's id (also the event's id). */
  logId: id,
  /** The body text, cut to the log's 10 240 characters; null when empty. */
  payload: z.string().nullable(),
  sourceIp: z.string(),
  receivedAt: z.string(),
};

export const ingestionEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('WebhookPayloadAccepted'),
    /** `queueItemId`: the Kin's turn it was queued as (turn-<queueItemId>). */
    data: z.object({ ...received, queueItemId: id }),
  }),
  z.object({
    type: z.literal('WebhookPayloadFiltered'),
    /** `extractedValue`: what a simple filter read from the payload (why it was turned away). */
    data: z.object({ ...received, extractedValue: z.string().nullable().optional() }),
  }),
]);
export type IngestionEvent = z.infer<typeof ingestionEventSchema>;
export const ingestionEventTypes = ['WebhookPayloadAccepted', 'WebhookPayloadFiltered'] as const;

export const parseIngestionEvent = (recorded: RecordedEvent): IngestionEvent =>
  ingestionEventSchema.parse({ type: recorded.type, data: recorded.data });
