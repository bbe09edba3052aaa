import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** One stream per user: every decision about a user's notifications needs only that user's. */
export const notificationsStream = (userId: string) => `notifications-${userId}`;

/** The types of platform.md §6; `notify` refuses anything else. */
export const notificationTypes = [
  'prompt:pending',
  'channel:user-pending',
  'cron:pending-approval',
  'mcp:pending-approval',
  'kin:error',
  'kin:alert',
  'mention',
] as const;
export const notificationTypeSchema = z.enum(notificationTypes);
export type NotificationType = z.infer<typeof notificationTypeSchema>;

export const relatedTypes = ['prompt', 'channel', 'cron', 'mcp', 'kin', 'message'] as const;
export const relatedTypeSchema = z.enum(relatedTypes);
export type RelatedType = z.infer<typeof relatedTypeSchema>;

export const notificationEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('NotificationCreated'),
    data: z.object({
      notificationId: z.string(),
      userId: z.string(),
      type: notificationTypeSchema,
      title: z.string(),
      body: z.string().nullable(),
      kinId: z.string().nullable(),
      relatedId: z.string().nullable(),
      relatedType: relatedTypeSchema.nullable(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('NotificationRead'),
    data: z.object({ notificationId: z.string(), userId: z.string(), readAt: z.string() }),
  }),
  z.object({
    type: z.literal('AllNotificationsRead'),
    // The ids that were unread when the user asked: a notification created after that stays unread.
    data: z.object({ userId: z.string(), notificationIds: z.array(z.string()), readAt: z.string() }),
  }),
  z.object({
    type: z.literal('NotificationDeleted'),
    data: z.object({ notificationId: z.string(), userId: z.string(), deletedAt: z.string() }),
  }),
  z.object({
    type: z.literal('NotificationsExpired'),
    data: z.object({ userId: z.string(), notificationIds: z.array(z.string()), expiredAt: z.string() }),
  }),
]);

export type NotificationEvent = z.infer<typeof notificationEventSchema>;
export const notificationEventTypes = [
  'NotificationCreated',
  'NotificationRead',
  'AllNotificationsRead',
  'NotificationDeleted',
  'NotificationsExpired',
] as const;

export const parseNotificationEvent = (recorded: RecordedEvent): NotificationEvent =>
  notificationEventSchema.parse({ type: recorded.type, data: recorded.data });

/**
 * A user's choice of the notification types they receive (every type is on until turned off). A
 * stream of its own per user, `notificationpreferences-<userId>`, apart from the notifications.
 */
export const notificationPreferencesStream = (userId: string) => `notificationpreferences-${userId}`;

export const notificationPreferenceChangeSchema = z.object({ type: notificationTypeSchema, enabled: z.boolean() });
export type NotificationPreferenceChange = z.infer<typeof notificationPreferenceChangeSchema>;

export const notificationPreferencesEventSchema = z.object({
  type: z.literal('NotificationPreferencesChanged'),
  /** Only the types whose setting changed. */
  data: z.object({ userId: z.string(), changes: z.array(notificationPreferenceChangeSchema), changedAt: z.string() }),
});
export type NotificationPreferencesEvent = z.infer<typeof notificationPreferencesEventSchema>;
export const NOTIFICATION_PREFERENCES_CHANGED = 'NotificationPreferencesChanged';

export const parseNotificationPreferencesEvent = (recorded: RecordedEvent): NotificationPreferencesEvent =>
  notificationPreferencesEventSchema.parse({ type: recorded.type, data: recorded.data });
