import { scheduleJob } from './schedule.js';
import { v7 as uuidv7 } from 'uuid';
import { expireNotifications, lastPosition, NOTIFICATION_RETENTION_MS } from '../commands/notifications.js';
import { NOTIFICATIONS, type NotificationDoc } from '../projections/notifications.js';
import type { Services } from '../services.js';

const DAY_MS = 24 * 60 * 60 * 1000;

type RetentionServices = Pick<Services, 'readStore' | 'runCommand' | 'settle' | 'log'>;

/**
 * Records the expiry of every notification past the retention period (platform.md §6), one
 * command per user who has some; the read model then drops them. Listing already hides them, so
 * a late or missed run changes nothing a client can see.
 */
export async function purgeOldNotifications(services: RetentionServices, now = new Date()) {
  const old = await services.readStore
    .collection<NotificationDoc>(NOTIFICATIONS)
    .find({ createdAt: { $lte: now.getTime() - NOTIFICATION_RETENTION_MS } });
  const userIds = [...new Set(old.map((doc) => doc.userId))];
  const metadata = { actor: { kind: 'system', id: 'notification-retention' } as const, correlationId: uuidv7(), now };
  const positions: (number | null)[] = [];
  for (const userId of userIds) positions.push((await expireNotifications(services, userId, metadata)).position);
  await services.settle(lastPosition(positions));
  return { users: userIds.length, notifications: old.length };
}

/** Runs it now and then every `intervalMs`; returns the function that stops it. */
export const scheduleNotificationPurge = (services: RetentionServices, intervalMs = DAY_MS): (() => void) =>
  scheduleJob('notification purge', () => purgeOldNotifications(services), intervalMs, services.log);
