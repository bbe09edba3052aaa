import type { LiveMapper } from './feed.js';
import { notificationEventTypes, parseNotificationEvent } from '../events/notifications.js';
import { notificationSummaries, type NotificationDoc } from '../projections/notifications.js';

const handled: ReadonlySet<string> = new Set(notificationEventTypes);

/**
 * notification:new / notification:read / notification:read-all (platform.md §10), each delivered
 * to the notified user's connections only.
 */
export const notificationLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (!handled.has(recorded.type)) return [];
  const event = parseNotificationEvent(recorded);
  const userId = event.data.userId;
  switch (event.type) {
    case 'NotificationCreated': {
      // Built from the event, not the read model, which may already show a later read or deletion.
      const { notificationId, createdAt, ...fields } = event.data;
      const doc: NotificationDoc = { id: notificationId, ...fields, isRead: false, createdAt: Date.parse(createdAt) };
      const [notification] = await notificationSummaries(readStore, [doc]);
      return [{ type: 'notification:new', userId, data: { notification } }];
    }
    case 'NotificationRead':
      return [{ type: 'notification:read', userId, data: { notificationId: event.data.notificationId } }];
    case 'AllNotificationsRead':
      return [{ type: 'notification:read-all', userId, data: {} }];
    case 'NotificationDeleted':
    case 'NotificationsExpired':
      return [];
  }
};
