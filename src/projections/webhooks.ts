import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseKinEvent } from '../events/kins.js';
import {
  ingestionEventTypes,
  parseIngestionEvent,
  parseWebhookEvent,
  webhookEventTypes,
  type FilterModeValue,
} from '../events/webhooks.js';

export const WEBHOOKS = 'webhooks';
export const WEBHOOK_LOGS = 'webhook_logs';

/** Timestamps are epoch ms, as the API gives them. */
export type WebhookDoc = Doc & {
  id: string;
  kinId: string;
  name: string;
  description: string | null;
  tokenHash: string;
  isActive: boolean;
  triggerCount: number;
  lastTriggeredAt: number | null;
  filterMode: FilterModeValue | null;
  filterField: string | null;
  filterAllowedValues: string[] | null;
  filterExpression: string | null;
  createdBy: 'user' | 'kin';
  createdAt: number;
  updatedAt: number;
  /**
   * The Kin was deleted, and its webhooks with it: they answer 404 everywhere. The row stays
   * (without its logs) so that the live feed can name them in webhook:deleted.
   */
  kinDeleted: boolean;
  /** Position of the last ingestion counted in triggerCount: applying an event twice counts it once. */
  lastLogPosition: number;
};

export type WebhookLogDoc = Doc & {
  id: string;
  webhookId: string;
  kinId: string;
  payload: string | null;
  sourceIp: string;
  filtered: boolean;
  createdAt: number;
};

/** Where a webhook's payloads are POSTed. */
export const incomingUrl = (publicUrl: string, webhookId: string) => `${publicUrl.replace(/\/+$/, '')}/api/webhooks/incoming/${webhookId}`;

/** Newest first (uuid v7 ids break ties in time order). */
export const NEWEST_FIRST = { createdAt: -1, id: -1 } as const;

export const webhooksProjection: Projection = {
  name: 'webhooks',
  version: 1,
  handles: [...webhookEventTypes, ...ingestionEventTypes, 'KinDeleted'],
  collections: [WEBHOOKS, WEBHOOK_LOGS],
  async setup(store) {
    await store.collection(WEBHOOKS).ensureIndex({ fields: { kinId: 1 } });
    await store.collection(WEBHOOK_LOGS).ensureIndex({ fields: { webhookId: 1, createdAt: -1 } });
    await store.collection(WEBHOOK_LOGS).ensureIndex({ fields: { webhookId: 1, filtered: 1 } });
    await store.collection(WEBHOOK_LOGS).ensureIndex({ fields: { kinId: 1 } });
  },
  async apply(recorded, store) {
    const webhooks = store.collection<WebhookDoc>(WEBHOOKS);
    const logs = store.collection<WebhookLogDoc>(WEBHOOK_LOGS);
    if (recorded.type === 'KinDeleted') {
      const { kinId } = parseKinEvent(recorded).data;
      await webhooks.update({ kinId }, { $set: { kinDeleted: true } });
      await logs.delete({ kinId });
      return;
    }
    if (recorded.type === 'WebhookPayloadAccepted' || recorded.type === 'WebhookPayloadFiltered') {
      const event = parseIngestionEvent(recorded);
      const { webhookId, kinId, logId, payload, sourceIp, receivedAt } = event.data;
      const webhook = await webhooks.get(webhookId);
      // Received while the webhook (or its Kin) was being deleted: nothing to log it under.
      if (!webhook || webhook.kinDeleted) return;
      const at = Date.parse(receivedAt);
      await webhooks.update(
        { id: webhookId, lastLogPosition: { $lt: recorded.position } },
        { $inc: { triggerCount: 1 }, $set: { lastTriggeredAt: at, lastLogPosition: recorded.position } },
      );
      const filtered = event.type === 'WebhookPayloadFiltered';
      await logs.replace({ id: logId, webhookId, kinId, payload, sourceIp, filtered, createdAt: at });
      return;
    }
    const event = parseWebhookEvent(recorded);
    switch (event.type) {
      case 'WebhookCreated': {
        const { webhookId, kinId, name, description, tokenHash, filter, createdBy, createdAt } = event.data;
        const at = Date.parse(createdAt);
        await webhooks.replace({
          id: webhookId,
          kinId,
          name,
          description,
          tokenHash,
          isActive: true,
          triggerCount: 0,
          lastTriggeredAt: null,
          ...filter,
          createdBy,
          createdAt: at,
          updatedAt: at,
          kinDeleted: false,
          lastLogPosition: -1,
        });
        return;
      }
      case 'WebhookUpdated':
        await webhooks.update({ id: event.data.webhookId }, { $set: { ...event.data.changes, updatedAt: Date.parse(event.data.updatedAt) } });
        return;
      case 'WebhookTokenRegenerated':
        await webhooks.update(
          { id: event.data.webhookId },
          { $set: { tokenHash: event.data.tokenHash, updatedAt: Date.parse(event.data.regeneratedAt) } },
        );
        return;
      case 'WebhookLogsPruned': {
        const { webhookId, olderThan, keepNewest } = event.data;
        await logs.delete({ webhookId, createdAt: { $lt: olderThan } });
        // Replayed, this sees the logs received before the event, as the live run did.
        const surplus = await logs.find({ webhookId }, { sort: NEWEST_FIRST, skip: keepNewest });
        if (surplus.length) await logs.delete({ id: { $in: surplus.map((log) => log.id) } });
        return;
      }
      case 'WebhookDeleted':
        await webhooks.delete({ id: event.data.webhookId });
        await logs.delete({ webhookId: event.data.webhookId });
        return;
    }
  },
};
