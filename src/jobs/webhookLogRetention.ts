import { v7 as uuidv7 } from 'uuid';
import { scheduleJob } from './schedule.js';
import { pruneWebhookLogs } from '../commands/webhooks.js';
import type { CommandMetadata } from '../es/decider.js';
import { WEBHOOK_LOGS, WEBHOOKS, type WebhookDoc, type WebhookLogDoc } from '../projections/webhooks.js';
import type { Services } from '../services.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const FIRST_RUN_MS = 60_000;
const EVERY_MS = 6 * 60 * 60 * 1000;

type RetentionServices = Pick<Services, 'readStore' | 'runCommand' | 'settle' | 'log'> & {
  config: { webhooks: Pick<Services['config']['webhooks'], 'logRetentionDays' | 'maxLogsPerWebhook'> };
};

/**
 * Keeps each webhook's logs within the retention (tasks-crons-webhooks.md §3): none older than
 * WEBHOOKS_LOG_RETENTION_DAYS, at most WEBHOOKS_MAX_LOGS_PER_WEBHOOK. The pruning is an event on
 * the webhook's stream that the projection applies, recorded only for webhooks that have
 * something to prune. The payloads stay in the ingestion streams of the event log, which is never
 * rewritten; the read model is what the API shows.
 */
export async function pruneOldWebhookLogs(services: RetentionServices, now = new Date()) {
  const { logRetentionDays, maxLogsPerWebhook } = services.config.webhooks;
  const olderThan = now.getTime() - logRetentionDays * DAY_MS;
  const logs = services.readStore.collection<WebhookLogDoc>(WEBHOOK_LOGS);
  const webhooks = await services.readStore.collection<WebhookDoc>(WEBHOOKS).find({ kinDeleted: false });
  const metadata: CommandMetadata = { actor: { kind: 'system', id: 'webhook-log-retention' }, correlationId: uuidv7(), now };
  let last: number | null = null;
  let pruned = 0;
  for (const webhook of webhooks) {
    const tooOld = (await logs.count({ webhookId: webhook.id, createdAt: { $lt: olderThan } })) > 0;
    const tooMany = !tooOld && (await logs.count({ webhookId: webhook.id })) > maxLogsPerWebhook;
    if (!tooOld && !tooMany) continue;
    try {
      const result = await pruneWebhookLogs(services, webhook.id, { olderThan, keepNewest: maxLogsPerWebhook }, metadata);
      if (result.position !== null) last = Math.max(last ?? result.position, result.position);
      pruned++;
    } catch (error) {
      // Deleted meanwhile: its logs went with it.
      services.log.warn({ err: error, webhookId: webhook.id }, 'pruning webhook logs failed');
    }
  }
  await services.settle(last);
  return { webhooks: pruned };
}

/** 60 s after start, then every 6 h; returns the function that stops it. */
export const scheduleWebhookLogRetention = (services: RetentionServices, intervalMs = EVERY_MS, firstDelayMs = FIRST_RUN_MS): (() => void) =>
  scheduleJob('webhook log retention', () => pruneOldWebhookLogs(services), intervalMs, services.log, firstDelayMs);
