import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { Projection } from '../../src/es/projections.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { NOTIFICATIONS, notificationsProjection } from '../../src/projections/notifications.js';
import { PROMPTS, promptsProjection } from '../../src/projections/prompts.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-notif-projections-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const at = '2026-11-28T10:00:00.000Z';
const notification = { type: 'kin:alert', title: 't', body: null, kinId: 'k1', relatedId: null, relatedType: null, createdAt: at };
const options = [{ label: 'Yes', value: 'yes' }, { label: 'No', value: 'no' }];
const prompt = (promptId: string, kinId: string) => ({
  stream: `prompt-${promptId}`,
  type: 'PromptCreated',
  data: { promptId, kinId, taskId: null, messageId: null, promptType: 'confirm', question: 'Q?', description: null, options, createdAt: at },
});
const history: Omit<RecordedEvent, 'position' | 'revision' | 'id' | 'metadata' | 'recordedAt'>[] = [
  { stream: 'notifications-u1', type: 'NotificationCreated', data: { notificationId: 'n1', userId: 'u1', ...notification } },
  { stream: 'notifications-u1', type: 'NotificationCreated', data: { notificationId: 'n2', userId: 'u1', ...notification } },
  { stream: 'notifications-u1', type: 'NotificationCreated', data: { notificationId: 'n3', userId: 'u1', ...notification } },
  { stream: 'notifications-u1', type: 'NotificationCreated', data: { notificationId: 'n4', userId: 'u1', ...notification } },
  { stream: 'notifications-u2', type: 'NotificationCreated', data: { notificationId: 'm1', userId: 'u2', ...notification } },
  { stream: 'notifications-u1', type: 'NotificationRead', data: { notificationId: 'n1', userId: 'u1', readAt: at } },
  { stream: 'notifications-u1', type: 'NotificationDeleted', data: { notificationId: 'n2', userId: 'u1', deletedAt: at } },
  { stream: 'notifications-u1', type: 'NotificationsExpired', data: { userId: 'u1', notificationIds: ['n4'], expiredAt: at } },
  { stream: 'notifications-u1', type: 'AllNotificationsRead', data: { userId: 'u1', notificationIds: ['n3'], readAt: at } },
  prompt('p1', 'k1'),
  prompt('p2', 'k1'),
  prompt('p3', 'k2'),
  prompt('p4', 'k1'),
  { stream: 'prompt-p1', type: 'PromptAnswered', data: { promptId: 'p1', kinId: 'k1', taskId: null, response: 'yes', responseText: 'x', answeredAt: at } },
  { stream: 'prompt-p2', type: 'PromptCancelled', data: { promptId: 'p2', kinId: 'k1', taskId: null, cancelledAt: at } },
  { stream: 'kin-k2', type: 'KinDeleted', data: { kinId: 'k2', deletedAt: at } },
];
const events: RecordedEvent[] = history.map((event, i) => ({
  ...event,
  id: `e${i}`,
  revision: i,
  position: i + 1,
  recordedAt: at,
  metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
}));

const projections: Projection[] = [notificationsProjection, promptsProjection];

async function project(name: string, times: number): Promise<ReadStore> {
  const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
  for (const projection of projections) await projection.setup?.(store);
  for (const event of events) {
    for (const projection of projections) {
      if (!projection.handles.includes(event.type)) continue;
      for (let i = 0; i < times; i++) await projection.apply(event, store);
    }
  }
  return store;
}

const dump = async (store: ReadStore) => ({
  notifications: await store.collection(NOTIFICATIONS).find({}, { sort: { id: 1 } }),
  prompts: await store.collection(PROMPTS).find({}, { sort: { id: 1 } }),
});

describe('notifications and prompts projections', () => {
  it('are idempotent and give the expected read models', async () => {
    const once = await dump(await project('once', 1));
    expect(await dump(await project('twice', 2))).toEqual(once);
    expect(once.notifications.map((n) => [n.id, n.userId, n.isRead])).toEqual([
      ['m1', 'u2', false],
      ['n1', 'u1', true],
      ['n3', 'u1', true],
    ]);
    expect(once.notifications[0]!.createdAt).toBe(Date.parse(at));
    expect(once.prompts.map((p) => [p.id, p.status, p.response])).toEqual([
      ['p1', 'answered', 'yes'],
      ['p2', 'cancelled', null],
      ['p4', 'pending', null],
    ]);
  });
});
