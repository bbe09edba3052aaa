import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { notify, NOTIFICATION_RETENTION_MS, type NotifyInput } from '../../src/commands/notifications.js';
import type { CommandMetadata } from '../../src/es/decider.js';
import { purgeOldNotifications } from '../../src/jobs/notificationRetention.js';
import { NOTIFICATIONS } from '../../src/projections/notifications.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let api: Client;
let anonymous: Client;
let userId: string;
let cookie: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ api, userId, cookie } = await signUp(server.url));
  anonymous = client(server.url);
});
afterAll(() => server.cleanup());

const OTHER_USER = '01936d3c-0000-7000-8000-0000000000aa';

const metadata = (now = new Date()): CommandMetadata => ({ actor: { kind: 'system', id: 'tests' }, correlationId: 'tests', now });

/** What another capability does: notify, then (for the test) wait until the read models have it. */
async function send(input: Partial<NotifyInput> = {}, now?: Date) {
  const result = await notify(server.services, { type: 'kin:alert', title: 'Heads up', ...input }, metadata(now));
  await server.services.settle(result.position);
  return result.notifications;
}

/** Every test starts with an empty inbox. */
async function clearInbox() {
  for (;;) {
    const { body } = await api.get('/api/notifications?limit=100');
    if (body.notifications.length === 0) return;
    for (const n of body.notifications) await api.delete(`/api/notifications/${n.id}`);
  }
}
beforeEach(clearInbox);

describe('GET /api/notifications', () => {
  it('lists a notification with the documented shape, the Kin fields read from the Kin', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Herald' }))).body.kin;
    const before = Date.now();
    const [created] = await send({ title: 'Done', body: 'The report is ready', kinId: kin.id, relatedId: kin.id, relatedType: 'kin' });
    expect(created!.userId).toBe(userId);
    const { status, body } = await api.get('/api/notifications');
    expect(status).toBe(200);
    expect(body).toEqual({
      notifications: [
        {
          id: created!.notificationId,
          type: 'kin:alert',
          title: 'Done',
          body: 'The report is ready',
          kinId: kin.id,
          kinName: 'Herald',
          kinSlug: 'herald',
          kinAvatarUrl: null,
          relatedId: kin.id,
          relatedType: 'kin',
          isRead: false,
          createdAt: expect.any(Number),
        },
      ],
      unreadCount: 1,
      total: 1,
      hasMore: false,
    });
    expect(body.notifications[0].createdAt).toBeGreaterThanOrEqual(before - 5);
  });

  it('gives null Kin fields without a Kin or once the Kin is deleted', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Fleeting' }))).body.kin;
    await send({ kinId: kin.id });
    await send({ title: 'No Kin' });
    await api.delete(`/api/kins/${kin.id}`);
    const { body } = await api.get('/api/notifications');
    for (const n of body.notifications) expect(n).toMatchObject({ kinName: null, kinSlug: null, kinAvatarUrl: null, body: null, relatedId: null, relatedType: null });
    expect(body.notifications.map((n: { kinId: string | null }) => n.kinId)).toEqual([null, kin.id]);
  });

  it('pages newest first with limit (default 20, clamped to [1, 100]) and offset', async () => {
    for (let i = 0; i < 25; i++) await send({ title: `n${i}` });
    const first = (await api.get('/api/notifications')).body;
    expect(first.notifications).toHaveLength(20);
    expect(first).toMatchObject({ total: 25, unreadCount: 25, hasMore: true });
    expect(first.notifications[0].title).toBe('n24');
    const rest = (await api.get('/api/notifications?offset=20&limit=10')).body;
    expect(rest.notifications.map((n: { title: string }) => n.title)).toEqual(['n4', 'n3', 'n2', 'n1', 'n0']);
    expect(rest.hasMore).toBe(false);
    expect((await api.get('/api/notifications?limit=0')).body.notifications).toHaveLength(1);
    expect((await api.get('/api/notifications?limit=-3')).body.notifications).toHaveLength(1);
    expect((await api.get('/api/notifications?limit=500')).body.notifications).toHaveLength(25);
    const bad = await api.get('/api/notifications?limit=lots');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
  });

  it('lists only unread ones with unreadOnly=true', async () => {
    const [a] = await send({ title: 'a' });
    await send({ title: 'b' });
    await api.patch(`/api/notifications/${a!.notificationId}/read`);
    const { body } = await api.get('/api/notifications?unreadOnly=true');
    expect(body.notifications.map((n: { title: string }) => n.title)).toEqual(['b']);
    expect(body).toMatchObject({ total: 1, unreadCount: 1, hasMore: false });
    expect((await api.get('/api/notifications?unreadOnly=false')).body.total).toBe(2);
  });
});

describe('reading and deleting', () => {
  it('marks one read, then all, and the unread count follows', async () => {
    const [a] = await send({ title: 'a' });
    await send({ title: 'b' });
    await send({ title: 'c' });
    expect((await api.get('/api/notifications/unread-count')).body).toEqual({ unreadCount: 3 });
    const marked = await api.patch(`/api/notifications/${a!.notificationId}/read`);
    expect(marked).toMatchObject({ status: 200, body: { success: true } });
    expect((await api.patch(`/api/notifications/${a!.notificationId}/read`)).status).toBe(200);
    expect((await api.get('/api/notifications/unread-count')).body).toEqual({ unreadCount: 2 });
    const listed = (await api.get('/api/notifications')).body.notifications;
    expect(listed.find((n: { id: string }) => n.id === a!.notificationId).isRead).toBe(true);
    expect(await api.post('/api/notifications/mark-all-read')).toMatchObject({ status: 200, body: { success: true } });
    expect((await api.get('/api/notifications/unread-count')).body).toEqual({ unreadCount: 0 });
    expect((await api.post('/api/notifications/mark-all-read')).status).toBe(200);
  });

  it('deletes one, after which it is gone and a second delete is 404', async () => {
    const [a] = await send({ title: 'a' });
    await send({ title: 'b' });
    expect(await api.delete(`/api/notifications/${a!.notificationId}`)).toMatchObject({ status: 200, body: { success: true } });
    expect((await api.get('/api/notifications')).body.notifications.map((n: { title: string }) => n.title)).toEqual(['b']);
    const again = await api.delete(`/api/notifications/${a!.notificationId}`);
    expect(again).toMatchObject({ status: 404, body: { error: { code: 'NOTIFICATION_NOT_FOUND', message: 'Notification not found' } } });
  });

  it('answers 404 NOTIFICATION_NOT_FOUND for unknown ids', async () => {
    for (const response of [
      await api.patch('/api/notifications/01936d3c-0000-7000-8000-000000000000/read'),
      await api.delete('/api/notifications/01936d3c-0000-7000-8000-000000000000'),
      await api.patch('/api/notifications/not-even-a-uuid/read'),
    ]) {
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: { code: 'NOTIFICATION_NOT_FOUND', message: 'Notification not found' } });
    }
  });
});

describe('per-user isolation', () => {
  it("neither shows nor lets the caller touch another user's notification", async () => {
    const [theirs] = await send({ title: 'For someone else', userIds: [OTHER_USER] });
    expect(theirs!.userId).toBe(OTHER_USER);
    const { body } = await api.get('/api/notifications');
    expect(body).toMatchObject({ notifications: [], total: 0, unreadCount: 0 });
    expect((await api.get('/api/notifications/unread-count')).body.unreadCount).toBe(0);
    expect((await api.patch(`/api/notifications/${theirs!.notificationId}/read`)).status).toBe(404);
    expect((await api.delete(`/api/notifications/${theirs!.notificationId}`)).status).toBe(404);
    await api.post('/api/notifications/mark-all-read');
    const stored = await server.services.readStore.collection(NOTIFICATIONS).get(theirs!.notificationId);
    expect(stored).toMatchObject({ userId: OTHER_USER, isRead: false });
  });

  it('notifies every user when no userIds are given, and each named user once', async () => {
    expect((await send()).map((n) => n.userId)).toEqual([userId]);
    expect((await send({ userIds: [userId, OTHER_USER, userId] })).map((n) => n.userId).sort()).toEqual([userId, OTHER_USER].sort());
  });
});

describe('retention', () => {
  it('hides notifications older than 30 days, refuses them, and the purge removes them', async () => {
    const old = new Date(Date.now() - NOTIFICATION_RETENTION_MS - 60_000);
    const [stale] = await send({ title: 'stale' }, old);
    await send({ title: 'fresh' });
    const { body } = await api.get('/api/notifications');
    expect(body.notifications.map((n: { title: string }) => n.title)).toEqual(['fresh']);
    expect(body).toMatchObject({ total: 1, unreadCount: 1 });
    expect((await api.patch(`/api/notifications/${stale!.notificationId}/read`)).status).toBe(404);

    const purged = await purgeOldNotifications(server.services);
    expect(purged.notifications).toBeGreaterThanOrEqual(1);
    expect(await server.services.readStore.collection(NOTIFICATIONS).get(stale!.notificationId)).toBeNull();
    const events = await server.services.eventStore.readStream(`notifications-${userId}`);
    expect(events.at(-1)).toMatchObject({ type: 'NotificationsExpired', data: { notificationIds: [stale!.notificationId] } });
    expect((await api.get('/api/notifications')).body.total).toBe(1);
    expect((await purgeOldNotifications(server.services)).notifications).toBe(0);
  });
});

describe('GET /api/sse notification events', () => {
  it("sends notification:new, :read and :read-all to the user only, never another user's", async () => {
    const sse = await openSse(server.url, { cookie });
    const kin = (await api.post('/api/kins', kinInput({ name: 'Bell' }))).body.kin;
    const [mine] = await send({ title: 'Ring', kinId: kin.id });
    await send({ title: 'Not yours', userIds: [OTHER_USER] });
    await api.patch(`/api/notifications/${mine!.notificationId}/read`);
    await send({ title: 'Another' });
    await api.post('/api/notifications/mark-all-read');
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'notification:read-all'));
    await sse.close();
    const notes = sse.messages().filter((m) => m.type.startsWith('notification:'));
    expect(notes).toEqual([
      {
        type: 'notification:new',
        data: {
          notification: {
            id: mine!.notificationId,
            type: 'kin:alert',
            title: 'Ring',
            body: null,
            kinId: kin.id,
            kinName: 'Bell',
            kinSlug: 'bell',
            kinAvatarUrl: null,
            relatedId: null,
            relatedType: null,
            isRead: false,
            createdAt: expect.any(Number),
          },
        },
      },
      { type: 'notification:read', data: { notificationId: mine!.notificationId } },
      { type: 'notification:new', data: { notification: expect.objectContaining({ title: 'Another' }) } },
      { type: 'notification:read-all', data: {} },
    ]);
    expect(JSON.stringify(sse.received)).not.toContain('Not yours');
    expect(JSON.stringify(sse.received)).not.toContain('userId');
  });
});

describe('credentials', () => {
  it.each([
    ['GET', '/api/notifications'],
    ['GET', '/api/notifications/unread-count'],
    ['PATCH', '/api/notifications/any/read'],
    ['POST', '/api/notifications/mark-all-read'],
    ['DELETE', '/api/notifications/any'],
  ])('%s %s answers 401 without credentials', async (method, path) => {
    const { status, body } = await anonymous.request(method, path, method === 'GET' ? undefined : {});
    expect(status).toBe(401);
    expect(body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
  });
});
