import { describe, expect, it } from 'vitest';
import {
  decideNotifications,
  evolveNotifications,
  initialNotificationsState,
  lastPosition,
  NOTIFICATION_RETENTION_MS,
  type NotificationCommand,
} from '../../src/commands/notifications.js';
import type { NotificationEvent } from '../../src/events/notifications.js';
import type { DomainError } from '../../src/es/errors.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const later = new Date(now.getTime() + 60_000);
const userId = 'u1';
const n1 = '01936d3c-0000-7000-8000-000000000001';
const n2 = '01936d3c-0000-7000-8000-000000000002';
const notification = { type: 'kin:alert' as const, title: 'Look', body: null, kinId: 'k1', relatedId: null, relatedType: null };

const created = (notificationId: string, at = now): NotificationEvent => ({
  type: 'NotificationCreated',
  data: { notificationId, userId, ...notification, createdAt: at.toISOString() },
});
const read = (notificationId: string): NotificationEvent => ({
  type: 'NotificationRead',
  data: { notificationId, userId, readAt: later.toISOString() },
});

/** Given events, when command, then events (or the error's code). */
function given(events: NotificationEvent[]) {
  const state = events.reduce(evolveNotifications, initialNotificationsState());
  return {
    when: (command: NotificationCommand) => {
      try {
        return decideNotifications(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
    state,
  };
}

describe('Notifications decider', () => {
  it('creates a notification once', () => {
    const command: NotificationCommand = { type: 'CreateNotification', userId, notificationId: n1, notification, now };
    expect(given([]).when(command)).toEqual([created(n1)]);
    expect(given([created(n1)]).when(command)).toEqual([]);
  });

  it('marks a notification read once, and refuses one this user does not have', () => {
    const mark = (notificationId: string): NotificationCommand => ({ type: 'MarkNotificationRead', userId, notificationId, now: later });
    expect(given([created(n1)]).when(mark(n1))).toEqual([read(n1)]);
    expect(given([created(n1), read(n1)]).when(mark(n1))).toEqual([]);
    expect(given([created(n1)]).when(mark(n2))).toBe('NOTIFICATION_NOT_FOUND');
  });

  it('marks all unread ones read, naming them, and does nothing when none is unread', () => {
    const command: NotificationCommand = { type: 'MarkAllNotificationsRead', userId, now: later };
    expect(given([created(n1), created(n2), read(n1)]).when(command)).toEqual([
      { type: 'AllNotificationsRead', data: { userId, notificationIds: [n2], readAt: later.toISOString() } },
    ]);
    expect(given([created(n1), read(n1)]).when(command)).toEqual([]);
    expect(given([]).when(command)).toEqual([]);
  });

  it('deletes a notification, after which it is not found', () => {
    const remove: NotificationCommand = { type: 'DeleteNotification', userId, notificationId: n1, now: later };
    const deleted: NotificationEvent = { type: 'NotificationDeleted', data: { notificationId: n1, userId, deletedAt: later.toISOString() } };
    expect(given([created(n1)]).when(remove)).toEqual([deleted]);
    expect(given([created(n1), deleted]).when(remove)).toBe('NOTIFICATION_NOT_FOUND');
    expect(given([created(n1), deleted]).when({ type: 'MarkNotificationRead', userId, notificationId: n1, now: later })).toBe(
      'NOTIFICATION_NOT_FOUND',
    );
  });

  it('treats a notification past the retention period as gone, and expires exactly those', () => {
    const old = new Date(now.getTime() - NOTIFICATION_RETENTION_MS);
    const history = [created(n1, old), created(n2)];
    expect(given(history).when({ type: 'MarkNotificationRead', userId, notificationId: n1, now })).toBe('NOTIFICATION_NOT_FOUND');
    expect(given(history).when({ type: 'DeleteNotification', userId, notificationId: n1, now })).toBe('NOTIFICATION_NOT_FOUND');
    expect(given(history).when({ type: 'MarkAllNotificationsRead', userId, now })).toEqual([
      { type: 'AllNotificationsRead', data: { userId, notificationIds: [n2], readAt: now.toISOString() } },
    ]);
    const expired: NotificationEvent = { type: 'NotificationsExpired', data: { userId, notificationIds: [n1], expiredAt: now.toISOString() } };
    expect(given(history).when({ type: 'ExpireNotifications', userId, now })).toEqual([expired]);
    expect(given([...history, expired]).when({ type: 'ExpireNotifications', userId, now })).toEqual([]);
    expect([...given([...history, expired]).state.notifications.keys()]).toEqual([n2]);
  });

  it('reports the last position of several appends', () => {
    expect(lastPosition([3, null, 7, 5])).toBe(7);
    expect(lastPosition([null, null])).toBeNull();
  });
});
