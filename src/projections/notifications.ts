import type { RecordedEvent } from '../es/eventStore.js';
import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import {
  NOTIFICATION_PREFERENCES_CHANGED,
  notificationEventTypes,
  parseNotificationEvent,
  parseNotificationPreferencesEvent,
  type NotificationType,
  type RelatedType,
} from '../events/notifications.js';
import { avatarUrlOf, KINS, type KinDoc } from './kins.js';

export const NOTIFICATIONS = 'notifications';
export const NOTIFICATION_PREFERENCES = 'notification_preferences';

export type NotificationDoc = Doc & {
  id: string;
  userId: string;
  type: NotificationType;
  title: string;
  body: string | null;
  kinId: string | null;
  relatedId: string | null;
  relatedType: RelatedType | null;
  isRead: boolean;
  /** Epoch ms, as the API gives it and as the retention filter compares it. */
  createdAt: number;
};

/** A user's turned-off notification types (no document: every type is on). */
export type NotificationPreferencesDoc = Doc & { id: string; disabled: NotificationType[] };

async function applyPreferences(recorded: RecordedEvent, store: ReadStore) {
  const { userId, changes } = parseNotificationPreferencesEvent(recorded).data;
  const preferences = store.collection<NotificationPreferencesDoc>(NOTIFICATION_PREFERENCES);
  const disabled = new Set((await preferences.get(userId))?.disabled ?? []);
  for (const change of changes) {
    if (change.enabled) disabled.delete(change.type);
    else disabled.add(change.type);
  }
  await preferences.replace({ id: userId, disabled: [...disabled].sort() });
}

export const notificationsProjection: Projection = {
  name: 'notifications',
  version: 1,
  handles: [...notificationEventTypes, NOTIFICATION_PREFERENCES_CHANGED],
  collections: [NOTIFICATIONS, NOTIFICATION_PREFERENCES],
  async setup(store) {
    const notifications = store.collection(NOTIFICATIONS);
    await notifications.ensureIndex({ fields: { userId: 1, createdAt: -1 } });
    await notifications.ensureIndex({ fields: { userId: 1, isRead: 1, createdAt: -1 } });
  },
  async apply(recorded, store) {
    if (recorded.type === NOTIFICATION_PREFERENCES_CHANGED) return applyPreferences(recorded, store);
    const notifications = store.collection<NotificationDoc>(NOTIFICATIONS);
    const event = parseNotificationEvent(recorded);
    switch (event.type) {
      case 'NotificationCreated': {
        const { notificationId, createdAt, ...fields } = event.data;
        await notifications.replace({ id: notificationId, ...fields, isRead: false, createdAt: Date.parse(createdAt) });
        return;
      }
      case 'NotificationRead':
        await notifications.update({ id: event.data.notificationId, userId: event.data.userId }, { $set: { isRead: true } });
        return;
      case 'AllNotificationsRead':
        if (event.data.notificationIds.length === 0) return;
        await notifications.update({ userId: event.data.userId, id: { $in: event.data.notificationIds } }, { $set: { isRead: true } });
        return;
      case 'NotificationDeleted':
        await notifications.delete({ id: event.data.notificationId, userId: event.data.userId });
        return;
      case 'NotificationsExpired':
        if (event.data.notificationIds.length === 0) return;
        await notifications.delete({ userId: event.data.userId, id: { $in: event.data.notificationIds } });
        return;
    }
  },
};

/** A notification as the API and `notification:new` show it (platform.md §6). */
export type NotificationSummary = {
  id: string;
  type: NotificationType;
  title: string;
  body: string | null;
  kinId: string | null;
  kinName: string | null;
  kinSlug: string | null;
  kinAvatarUrl: string | null;
  relatedId: string | null;
  relatedType: RelatedType | null;
  isRead: boolean;
  createdAt: number;
};

/** Adds the Kin's name, slug and avatar (null once the Kin is gone), reading all Kins at once. */
export async function notificationSummaries(readStore: ReadStore, docs: NotificationDoc[]): Promise<NotificationSummary[]> {
  const kinIds = [...new Set(docs.map((doc) => doc.kinId).filter((id): id is string => id !== null))];
  const kins = kinIds.length ? await readStore.collection<KinDoc>(KINS).find({ id: { $in: kinIds } }) : [];
  const byId = new Map(kins.map((kin) => [kin.id, kin]));
  return docs.map((doc) => {
    const kin = doc.kinId ? byId.get(doc.kinId) : undefined;
    return {
      id: doc.id,
      type: doc.type,
      title: doc.title,
      body: doc.body,
      kinId: doc.kinId,
      kinName: kin?.name ?? null,
      kinSlug: kin?.slug ?? null,
      kinAvatarUrl: kin ? avatarUrlOf(kin) : null,
      relatedId: doc.relatedId,
      relatedType: doc.relatedType,
      isRead: doc.isRead,
      createdAt: doc.createdAt,
    };
  });
}

/** The notification types this user turned off. */
export async function disabledNotificationTypes(readStore: ReadStore, userId: string): Promise<NotificationType[]> {
  return (await readStore.collection<NotificationPreferencesDoc>(NOTIFICATION_PREFERENCES).get(userId))?.disabled ?? [];
}

/** Those of `userIds` who turned `type` off. */
export async function usersWhoDisabled(readStore: ReadStore, type: NotificationType, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const docs = await readStore.collection<NotificationPreferencesDoc>(NOTIFICATION_PREFERENCES).find({ id: { $in: userIds } });
  return new Set(docs.filter((doc) => doc.disabled.includes(type)).map((doc) => doc.id));
}
