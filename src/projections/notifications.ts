import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import {
  notificationEventTypes,
  parseNotificationEvent,
  type NotificationType,
  type RelatedType,
} from '../events/notifications.js';
import { avatarUrlOf, KINS, type KinDoc } from './kins.js';

export const NOTIFICATIONS = 'notifications';

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

export const notificationsProjection: Projection = {
  name: 'notifications',
  version: 1,
  handles: notificationEventTypes,
  collections: [NOTIFICATIONS],
  async setup(store) {
    const notifications = store.collection(NOTIFICATIONS);
    await notifications.ensureIndex({ fields: { userId: 1, createdAt: -1 } });
    await notifications.ensureIndex({ fields: { userId: 1, isRead: 1, createdAt: -1 } });
  },
  async apply(recorded, store) {
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
