import { z } from 'zod';
import {
  changeNotificationPreferences,
  defaultNotificationPreferences,
  deleteNotification,
  markAllNotificationsRead,
  markNotificationRead,
  NOTIFICATION_RETENTION_MS,
  type NotificationPreferences,
} from '../commands/notifications.js';
import type { Filter } from '../es/readStore.js';
import { notificationPreferenceChangeSchema, notificationTypes, notificationTypeSchema, relatedTypeSchema } from '../events/notifications.js';
import { disabledNotificationTypes, notificationSummaries, NOTIFICATIONS, type NotificationDoc } from '../projections/notifications.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

const listQuery = z.object({
  // As the original: only the text `true` asks for unread ones.
  unreadOnly: z.string().optional().describe('`true`: unread notifications only'),
  limit: z.coerce.number().int().optional().describe(`Page size, default ${DEFAULT_LIMIT}, clamped to [1, ${MAX_LIMIT}]`),
  offset: z.coerce.number().int().optional().describe('Notifications to skip, default 0'),
});

const notificationRef = z.object({ id: z.string().min(1) });

const preferencesInput = z
  .object({
    updates: z
      .array(notificationPreferenceChangeSchema, { error: 'updates must be an array of {type, enabled}' })
      .max(notificationTypes.length * 4, 'Too many updates'),
  })
  .meta({ id: 'NotificationPreferencesUpdate' });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const notification = z
  .object({
    id: z.string(),
    type: notificationTypeSchema,
    title: z.string(),
    body: z.string().nullable(),
    kinId: z.string().nullable(),
    kinName: z.string().nullable(),
    kinSlug: z.string().nullable(),
    kinAvatarUrl: z.string().nullable(),
    relatedId: z.string().nullable(),
    relatedType: relatedTypeSchema.nullable(),
    isRead: z.boolean(),
    createdAt: z.number().describe('epoch ms'),
  })
  .meta({ id: 'Notification' });

const success = z.object({ success: z.literal(true) });

const preferencesOutput = z
  .object({ preferences: z.object(Object.fromEntries(notificationTypes.map((type) => [type, z.boolean()]))) })
  .meta({ id: 'NotificationPreferences', description: 'Whether the caller receives each notification type (default: true)' });

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function notificationOperations(services: Services): Operation[] {
  const { readStore } = services;
  const notifications = () => readStore.collection<NotificationDoc>(NOTIFICATIONS);
  const tags = ['Notifications'];

  /** The caller's notifications still within retention (the purge may not have run yet). */
  const ownFilter = (userId: string, extra: Filter = {}): Filter => ({
    userId,
    createdAt: { $gt: Date.now() - NOTIFICATION_RETENTION_MS },
    ...extra,
  });
  const unreadCount = (userId: string) => notifications().count(ownFilter(userId, { isRead: false }));

  async function preferencesOf(userId: string): Promise<{ preferences: NotificationPreferences }> {
    const preferences = defaultNotificationPreferences();
    for (const type of await disabledNotificationTypes(readStore, userId)) preferences[type] = false;
    return { preferences };
  }

  return [
    defineOperation({
      name: 'notifications',
      summary: "List the caller's notifications, newest first",
      method: 'get',
      path: '/api/notifications',
      auth: 'user',
      tags,
      query: listQuery,
      output: z.object({
        notifications: z.array(notification),
        unreadCount: z.number().int(),
        total: z.number().int(),
        hasMore: z.boolean(),
      }),
      async handler({ query }, ctx) {
        const userId = ctx.principal!.userId;
        const limit = Math.min(Math.max(query.limit ?? DEFAULT_LIMIT, 1), MAX_LIMIT);
        const offset = Math.max(query.offset ?? 0, 0);
        const filter = ownFilter(userId, query.unreadOnly === 'true' ? { isRead: false } : {});
        const [page, total, unread] = await Promise.all([
          notifications().find(filter, { sort: { createdAt: -1, id: -1 }, limit, skip: offset }),
          notifications().count(filter),
          unreadCount(userId),
        ]);
        return {
          notifications: await notificationSummaries(readStore, page),
          unreadCount: unread,
          total,
          hasMore: offset + page.length < total,
        };
      },
    }),
    defineOperation({
      name: 'notificationUnreadCount',
      summary: "Count the caller's unread notifications",
      method: 'get',
      path: '/api/notifications/unread-count',
      auth: 'user',
      tags,
      output: z.object({ unreadCount: z.number().int() }),
      handler: async (_input, ctx) => ({ unreadCount: await unreadCount(ctx.principal!.userId) }),
    }),
    defineOperation({
      name: 'notificationPreferences',
      summary: 'Which notification types the caller receives',
      method: 'get',
      path: '/api/notifications/preferences',
      auth: 'user',
      tags,
      output: preferencesOutput,
      handler: (_input, ctx) => preferencesOf(ctx.principal!.userId),
    }),
    defineOperation({
      name: 'updateNotificationPreferences',
      summary: 'Turn notification types on or off for the caller; a type turned off is no longer created for them',
      method: 'put',
      path: '/api/notifications/preferences',
      auth: 'user',
      tags,
      body: preferencesInput,
      output: preferencesOutput,
      async handler({ body }, ctx) {
        const userId = ctx.principal!.userId;
        const result = await changeNotificationPreferences(services, userId, body.updates, ctx.commandMetadata());
        await services.settle(result.position);
        return preferencesOf(userId);
      },
    }),
    defineOperation({
      name: 'markNotificationRead',
      summary: 'Mark one of the caller\'s notifications as read (SSE notification:read)',
      method: 'patch',
      path: '/api/notifications/:id/read',
      auth: 'user',
      tags,
      params: notificationRef,
      output: success,
      async handler({ params }, ctx) {
        const result = await markNotificationRead(services, ctx.principal!.userId, params.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'markAllNotificationsRead',
      summary: "Mark all the caller's notifications as read (SSE notification:read-all)",
      method: 'post',
      path: '/api/notifications/mark-all-read',
      auth: 'user',
      tags,
      output: success,
      async handler(_input, ctx) {
        const result = await markAllNotificationsRead(services, ctx.principal!.userId, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'deleteNotification',
      summary: 'Delete one of the caller\'s notifications',
      method: 'delete',
      path: '/api/notifications/:id',
      auth: 'user',
      tags,
      params: notificationRef,
      output: success,
      async handler({ params }, ctx) {
        const result = await deleteNotification(services, ctx.principal!.userId, params.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];
}
