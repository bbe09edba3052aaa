import type { LiveMapper, LiveMessage } from './feed.js';
import { parseKinEvent } from '../events/kins.js';
import { parseMessageEvent } from '../events/messages.js';
import { parseWebhookEvent } from '../events/webhooks.js';
import { WEBHOOKS, type WebhookDoc } from '../projections/webhooks.js';

const message = (type: string, kinId: string, data: Record<string, unknown>): LiveMessage => ({ type, kinId, data: { ...data, kinId } });

/**
 * webhook:created / updated / deleted from the webhook streams; webhook:triggered once the
 * accepted payload is on the Kin's queue (its MessageQueued), so the queue item exists when a
 * client hears of it; webhook:deleted for each webhook of a deleted Kin.
 */
export const webhookLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (recorded.type === 'MessageQueued') {
    const event = parseMessageEvent(recorded);
    if (event.type !== 'MessageQueued' || event.data.sourceType !== 'webhook' || !event.data.sourceId) return [];
    const { kinId, sourceId, queueItemId } = event.data;
    return [message('webhook:triggered', kinId, { webhookId: sourceId, queueItemId })];
  }
  if (recorded.type === 'KinDeleted') {
    const { kinId } = parseKinEvent(recorded).data;
    const gone = await readStore.collection<WebhookDoc>(WEBHOOKS).find({ kinId, kinDeleted: true });
    return gone.map((webhook) => message('webhook:deleted', kinId, { webhookId: webhook.id }));
  }
  if (!recorded.stream.startsWith('webhook-')) return [];
  const event = parseWebhookEvent(recorded);
  const { webhookId, kinId } = event.data;
  switch (event.type) {
    case 'WebhookCreated':
      return [message('webhook:created', kinId, { webhookId })];
    case 'WebhookUpdated':
    case 'WebhookTokenRegenerated':
      return [message('webhook:updated', kinId, { webhookId })];
    case 'WebhookDeleted':
      return [message('webhook:deleted', kinId, { webhookId })];
    case 'WebhookLogsPruned':
      return [];
  }
};
