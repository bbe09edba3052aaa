import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { notFound } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import {
  notificationPreferencesStream,
  notificationsStream,
  notificationTypes,
  parseNotificationEvent,
  parseNotificationPreferencesEvent,
  type NotificationEvent,
  type NotificationPreferenceChange,
  type NotificationPreferencesEvent,
  type NotificationType,
  type RelatedType,
} from '../events/notifications.js';
import { USERS, type UserDoc } from '../projections/users.js';
import { usersWhoDisabled } from '../projections/notifications.js';

/** platform.md §6: notifications older than this are neither listed nor addressable, then purged. */
export const NOTIFICATION_RETENTION_DAYS = 30;
export const NOTIFICATION_RETENTION_MS = NOTIFICATION_RETENTION_DAYS * 24 * 60 * 60 * 1000;

// ── One user's notifications ──────────────────────────────────────────────────────────────────

type Held = { isRead: boolean; createdAt: number };

/** The notifications a user still has (neither deleted nor expired), by id. */
export type NotificationsState = { notifications: Map<string, Held> };

export type NewNotification = {
  type: NotificationType;
  title: string;
  body: string | null;
  kinId: string | null;
  relatedId: string | null;
  relatedType: RelatedType | null;
};

export type NotificationCommand =
  | { type: 'CreateNotification'; userId: string; notificationId: string; notification: NewNotification; now: Date }
  | { type: 'MarkNotificationRead'; userId: string; notificationId: string; now: Date }
  | { type: 'MarkAllNotificationsRead'; userId: string; now: Date }
  | { type: 'DeleteNotification'; userId: string; notificationId: string; now: Date }
  | { type: 'ExpireNotifications'; userId: string; now: Date };

export const notificationNotFound = () => notFound('NOTIFICATION_NOT_FOUND', 'Notification not found');

export const initialNotificationsState = (): NotificationsState => ({ notifications: new Map() });

export function evolveNotifications(state: NotificationsState, event: NotificationEvent): NotificationsState {
  const notifications = new Map(state.notifications);
  const markRead = (id: string) => {
    const held = notifications.get(id);
    if (held) notifications.set(id, { ...held, isRead: true });
  };
  switch (event.type) {
    case 'NotificationCreated':
      notifications.set(event.data.notificationId, { isRead: false, createdAt: Date.parse(event.data.createdAt) });
      return { notifications };
    case 'NotificationRead':
      markRead(event.data.notificationId);
      return { notifications };
    case 'AllNotificationsRead':
      event.data.notificationIds.forEach(markRead);
      return { notifications };
    case 'NotificationDeleted':
      notifications.delete(event.data.notificationId);
      return { notifications };
    case 'NotificationsExpired':
      for (const id of event.data.notificationIds) notifications.delete(id);
      return { notifications };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

const isExpired = (held: Held, now: Date) => now.getTime() - held.createdAt >= NOTIFICATION_RETENTION_MS;

/** A notification the user can still see: another user's, a deleted or an expired one is not found. */
function visible(state: NotificationsState, notificationId: string, now: Date): Held {
  const held = state.notifications.get(notificationId);
  if (!held || isExpired(held, now)) throw notificationNotFound();
  return held;
}

export function decideNotifications(command: NotificationCommand, state: NotificationsState): NotificationEvent[] {
  const { userId, now } = command;
  const at = now.toISOString();
  switch (command.type) {
    case 'CreateNotification': {
      if (state.notifications.has(command.notificationId)) return [];
      const data = { notificationId: command.notificationId, userId, ...command.notification, createdAt: at };
      return [{ type: 'NotificationCreated', data }];
    }
    case 'MarkNotificationRead': {
      const held = visible(state, command.notificationId, now);
      if (held.isRead) return [];
      return [{ type: 'NotificationRead', data: { notificationId: command.notificationId, userId, readAt: at } }];
    }
    case 'MarkAllNotificationsRead': {
      const unread = [...state.notifications].filter(([, held]) => !held.isRead && !isExpired(held, now)).map(([id]) => id);
      if (unread.length === 0) return [];
      return [{ type: 'AllNotificationsRead', data: { userId, notificationIds: unread, readAt: at } }];
    }
    case 'DeleteNotification':
      visible(state, command.notificationId, now);
      return [{ type: 'NotificationDeleted', data: { notificationId: command.notificationId, userId, deletedAt: at } }];
    case 'ExpireNotifications': {
      const expired = [...state.notifications].filter(([, held]) => isExpired(held, now)).map(([id]) => id);
      if (expired.length === 0) return [];
      return [{ type: 'NotificationsExpired', data: { userId, notificationIds: expired, expiredAt: at } }];
    }
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const notificationsDecider: Decider<NotificationsState, NotificationCommand, NotificationEvent> = {
  initialState: initialNotificationsState,
  evolve: evolveNotifications,
  decide: decideNotifications,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

export type NotificationDeps = { runCommand: RunCommand; readStore: ReadStore };

const runNotifications = (deps: Pick<NotificationDeps, 'runCommand'>, command: NotificationCommand, metadata: CommandMetadata) =>
  deps.runCommand({
    stream: notificationsStream(command.userId),
    decider: notificationsDecider,
    parse: parseNotificationEvent,
    command,
    metadata,
  });

export type NotifyInput = {
  type: NotificationType;
  title: string;
  body?: string | null;
  kinId?: string | null;
  relatedId?: string | null;
  relatedType?: RelatedType | null;
  /** The users to notify; absent: every user (a system notification, platform.md §6). */
  userIds?: string[];
};

/** Highest of the positions (null: nothing was appended), for `services.settle`. */
export const lastPosition = (positions: (number | null)[]): number | null =>
  positions.reduce<number | null>((last, position) => (position === null ? last : Math.max(last ?? position, position)), null);

/**
 * Creates one notification per target user, for other capabilities (prompts, channels, crons,
 * the Kin `notify` tool…). Each user's notification goes to that user's stream.
 */
export async function notify(deps: NotificationDeps, input: NotifyInput, metadata: CommandMetadata) {
  const targets = input.userIds ?? (await deps.readStore.collection<UserDoc>(USERS).find({}, { sort: { createdAt: 1 } })).map((user) => user.id);
  // A user who turned this type off does not get it (platform.md §6), whoever the notification is for.
  const refused = await usersWhoDisabled(deps.readStore, input.type, targets);
  const userIds = targets.filter((userId) => !refused.has(userId));
  const notification: NewNotification = {
    type: input.type,
    title: input.title,
    body: input.body ?? null,
    kinId: input.kinId ?? null,
    relatedId: input.relatedId ?? null,
    relatedType: input.relatedType ?? null,
  };
  const created = await Promise.all(
    [...new Set(userIds)].map(async (userId) => {
      const notificationId = uuidv7();
      const command = { type: 'CreateNotification', userId, notificationId, notification, now: metadata.now } as const;
      const result = await runNotifications(deps, command, metadata);
      return { userId, notificationId, position: result.position };
    }),
  );
  return {
    notifications: created.map(({ userId, notificationId }) => ({ userId, notificationId })),
    position: lastPosition(created.map((entry) => entry.position)),
  };
}

export const markNotificationRead = (deps: NotificationDeps, userId: string, notificationId: string, metadata: CommandMetadata) =>
  runNotifications(deps, { type: 'MarkNotificationRead', userId, notificationId, now: metadata.now }, metadata);

export const markAllNotificationsRead = (deps: NotificationDeps, userId: string, metadata: CommandMetadata) =>
  runNotifications(deps, { type: 'MarkAllNotificationsRead', userId, now: metadata.now }, metadata);

export const deleteNotification = (deps: NotificationDeps, userId: string, notificationId: string, metadata: CommandMetadata) =>
  runNotifications(deps, { type: 'DeleteNotification', userId, notificationId, now: metadata.now }, metadata);

/** Records the expiry of this user's notifications past the retention period. */
export const expireNotifications = (deps: NotificationDeps, userId: string, metadata: CommandMetadata) =>
  runNotifications(deps, { type: 'ExpireNotifications', userId, now: metadata.now }, metadata);

// ── One user's preferences ────────────────────────────────────────────────────────────────────

/** Whether the user receives each notification type; every type is on until turned off. */
export type NotificationPreferences = Record<NotificationType, boolean>;

export const defaultNotificationPreferences = (): NotificationPreferences =>
  Object.fromEntries(notificationTypes.map((type) => [type, true])) as NotificationPreferences;

export type NotificationPreferencesCommand = {
  type: 'ChangeNotificationPreferences';
  userId: string;
  updates: NotificationPreferenceChange[];
  now: Date;
};

export function evolveNotificationPreferences(state: NotificationPreferences, event: NotificationPreferencesEvent): NotificationPreferences {
  const next = { ...state };
  for (const change of event.data.changes) next[change.type] = change.enabled;
  return next;
}

/** Records the settings that differ from the current ones (the last update of a type wins); [] when none does. */
export function decideNotificationPreferences(command: NotificationPreferencesCommand, state: NotificationPreferences): NotificationPreferencesEvent[] {
  const wanted = new Map(command.updates.map((update) => [update.type, update.enabled]));
  const changes = [...wanted].filter(([type, enabled]) => state[type] !== enabled).map(([type, enabled]) => ({ type, enabled }));
  if (changes.length === 0) return [];
  return [{ type: 'NotificationPreferencesChanged', data: { userId: command.userId, changes, changedAt: command.now.toISOString() } }];
}

export const notificationPreferencesDecider: Decider<NotificationPreferences, NotificationPreferencesCommand, NotificationPreferencesEvent> = {
  initialState: defaultNotificationPreferences,
  evolve: evolveNotificationPreferences,
  decide: decideNotificationPreferences,
};

export const changeNotificationPreferences = (
  deps: Pick<NotificationDeps, 'runCommand'>,
  userId: string,
  updates: NotificationPreferenceChange[],
  metadata: CommandMetadata,
) =>
  deps.runCommand({
    stream: notificationPreferencesStream(userId),
    decider: notificationPreferencesDecider,
    parse: parseNotificationPreferencesEvent,
    command: { type: 'ChangeNotificationPreferences', userId, updates, now: metadata.now },
    metadata,
  });
