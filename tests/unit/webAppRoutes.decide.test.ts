import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decideNotificationPreferences,
  defaultNotificationPreferences,
  evolveNotificationPreferences,
  type NotificationPreferencesCommand,
} from '../../src/commands/notifications.js';
import { conversationDecider } from '../../src/commands/messages.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { NotificationPreferencesEvent } from '../../src/events/notifications.js';
import { createLogBuffer, redactUrl, toLogEntry } from '../../src/lib/logBuffer.js';
import { MESSAGES, messagesProjection, QUEUE } from '../../src/projections/messages.js';
import { disabledNotificationTypes, notificationsProjection, usersWhoDisabled } from '../../src/projections/notifications.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const now = new Date('2026-12-03T10:00:00.000Z');

describe('notification preferences decider', () => {
  const changed = (changes: NotificationPreferencesEvent['data']['changes']): NotificationPreferencesEvent => ({
    type: 'NotificationPreferencesChanged',
    data: { userId: 'u1', changes, changedAt: now.toISOString() },
  });
  const given = (events: NotificationPreferencesEvent[]) => ({
    when: (updates: NotificationPreferencesCommand['updates']) =>
      decideNotificationPreferences({ type: 'ChangeNotificationPreferences', userId: 'u1', updates, now }, events.reduce(evolveNotificationPreferences, defaultNotificationPreferences())),
  });

  it('starts with every type turned on', () => {
    expect(Object.values(defaultNotificationPreferences())).toEqual([true, true, true, true, true, true, true]);
  });

  it('records only the types whose setting changes', () => {
    expect(given([]).when([{ type: 'kin:alert', enabled: false }, { type: 'mention', enabled: true }])).toEqual([changed([{ type: 'kin:alert', enabled: false }])]);
  });

  it('records nothing when every update matches the current setting, so a repeated PUT appends nothing', () => {
    const off = changed([{ type: 'kin:alert', enabled: false }]);
    expect(given([off]).when([{ type: 'kin:alert', enabled: false }])).toEqual([]);
    expect(given([]).when([])).toEqual([]);
  });

  it('lets the last update of a type win', () => {
    expect(given([]).when([{ type: 'mention', enabled: false }, { type: 'mention', enabled: true }])).toEqual([]);
  });

  it('turns a type back on', () => {
    const off = changed([{ type: 'kin:error', enabled: false }]);
    expect(given([off]).when([{ type: 'kin:error', enabled: true }])).toEqual([changed([{ type: 'kin:error', enabled: true }])]);
  });
});

describe('conversation decider', () => {
  it('clears every time it is asked, stamped with the command time', () => {
    const state = conversationDecider.evolve(conversationDecider.initialState(), { type: 'ConversationCleared', data: { kinId: 'k1', clearedAt: 'earlier' } });
    expect(state).toEqual({ lastClearedAt: 'earlier' });
    expect(conversationDecider.decide({ type: 'ClearConversation', kinId: 'k1', now }, state)).toEqual([
      { type: 'ConversationCleared', data: { kinId: 'k1', clearedAt: now.toISOString() } },
    ]);
  });
});

describe('projections of a cleared conversation and of preferences', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinbot-webapp-projections-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const at = (second: number) => `2026-12-03T10:00:${String(second).padStart(2, '0')}.000Z`;
  const queued = (id: string, second: number, extra: Record<string, unknown> = {}) => ({
    stream: `turn-${id}`,
    type: 'MessageQueued',
    data: { queueItemId: id, kinId: 'k1', sessionId: null, content: id, fileIds: [], sourceType: 'user', sourceId: 'u1', priority: 100, queuedAt: at(second), taskId: null, metadata: {}, ...extra },
  });
  const started = (id: string, second: number) => ({ stream: `turn-${id}`, type: 'TurnStarted', data: { queueItemId: id, kinId: 'k1', userMessageId: `m-${id}`, startedAt: at(second) } });
  const answered = (id: string, second: number) => ({
    stream: `turn-${id}`,
    type: 'AssistantMessageRecorded',
    data: { queueItemId: id, kinId: 'k1', messageId: `a-${id}`, content: `answer ${id}`, toolCalls: [], model: 'm', providerId: null, usage: null, aborted: false, metadata: {}, createdAt: at(second) },
  });
  const history = [
    queued('old', 1),
    started('old', 2),
    answered('old', 3),
    queued('quick', 4, { sessionId: 's1' }),
    started('quick', 5),
    queued('running', 6),
    started('running', 7),
    queued('waiting', 8),
    { stream: 'conversation-k1', type: 'ConversationCleared', data: { kinId: 'k1', clearedAt: at(9) } },
    answered('running', 10),
    started('waiting', 11),
    answered('waiting', 12),
    { stream: 'notificationpreferences-u1', type: 'NotificationPreferencesChanged', data: { userId: 'u1', changes: [{ type: 'kin:alert', enabled: false }, { type: 'mention', enabled: false }], changedAt: at(13) } },
    { stream: 'notificationpreferences-u1', type: 'NotificationPreferencesChanged', data: { userId: 'u1', changes: [{ type: 'mention', enabled: true }], changedAt: at(14) } },
  ];
  const events: RecordedEvent[] = history.map((event, i) => ({
    ...event,
    id: `e${i}`,
    revision: i,
    position: i + 1,
    recordedAt: at(i),
    metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at(i), schemaVersion: 1 },
  }));

  async function project(name: string, times: number) {
    const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
    for (const projection of [messagesProjection, notificationsProjection]) {
      await projection.setup?.(store);
      for (const event of events) {
        if (!projection.handles.includes(event.type)) continue;
        for (let i = 0; i < times; i++) await projection.apply(event, store);
      }
    }
    return store;
  }

  it('drops the main messages before the clear and the answer of the turn it interrupted, keeping quick sessions and later turns', async () => {
    const store = await project('once', 1);
    const messages = await store.collection(MESSAGES).find({}, { sort: { createdAt: 1 } });
    expect(messages.map((message) => message.id)).toEqual(['m-quick', 'm-waiting', 'a-waiting']);
    expect((await store.collection(QUEUE).get('running'))).toMatchObject({ status: 'done', cleared: true });
    expect(await disabledNotificationTypes(store, 'u1')).toEqual(['kin:alert']);
    expect(await disabledNotificationTypes(store, 'u2')).toEqual([]);
    expect([...(await usersWhoDisabled(store, 'kin:alert', ['u1', 'u2']))]).toEqual(['u1']);
  });

  it('gives the same read models when every event is applied twice', async () => {
    const once = await project('twice-a', 1);
    const twice = await project('twice-b', 2);
    for (const name of [MESSAGES, QUEUE, 'notification_preferences']) {
      expect(await twice.collection(name).find({}, { sort: { id: 1 } })).toEqual(await once.collection(name).find({}, { sort: { id: 1 } }));
    }
  });
});

describe('log buffer', () => {
  it('turns pino lines into entries with module, message, data and time', () => {
    const logs = createLogBuffer();
    const log = pino({ level: 'info' }, logs.stream);
    log.child({ module: 'crons' }).warn({ cronId: 'c1' }, 'cron fired late');
    log.info('no module');
    log.debug('below the level');
    const [first, second] = logs.query({ limit: 10 });
    expect(first).toEqual({ level: 'warn', module: 'crons', message: 'cron fired late', data: { cronId: 'c1' }, timestamp: expect.any(Number) });
    expect(second).toEqual({ level: 'info', module: 'server', message: 'no module', timestamp: expect.any(Number) });
    expect(logs.query({ limit: 10 })).toHaveLength(2);
    expect(logs.modules()).toEqual(['crons', 'server']);
  });

  it('keeps only the newest entries, and gives the newest `limit` oldest first', () => {
    const logs = createLogBuffer(3);
    const log = pino({ level: 'info' }, logs.stream);
    for (const n of [1, 2, 3, 4, 5]) log.info(`line ${n}`);
    expect(logs.query({ limit: 10 }).map((entry) => entry.message)).toEqual(['line 3', 'line 4', 'line 5']);
    expect(logs.query({ limit: 2 }).map((entry) => entry.message)).toEqual(['line 4', 'line 5']);
  });

  it('redacts credentials in fields and in request URLs, and keeps counts like token usage', () => {
    const entry = toLogEntry(
      JSON.stringify({ level: 30, time: 1, msg: 'x', apiKey: 'sk-1', config: { botToken: 't', baseUrl: 'u' }, usage: { inputTokens: 5 }, headers: { authorization: 'Bearer a', cookie: 'c' } }),
    );
    expect(entry!.data).toEqual({ apiKey: '[redacted]', config: { botToken: '[redacted]', baseUrl: 'u' }, usage: { inputTokens: 5 }, headers: { authorization: '[redacted]', cookie: '[redacted]' } });
    expect(redactUrl('/s/abc?download=1')).toBe('/s/[redacted]?download=1');
    expect(redactUrl('/api/invitations/abc/validate')).toBe('/api/invitations/[redacted]/validate');
    expect(redactUrl('/api/invitations/01936d3c')).toBe('/api/invitations/01936d3c');
    expect(redactUrl('/api/webhooks/incoming/w1?token=abc&x=1')).toBe('/api/webhooks/incoming/w1?token=[redacted]&x=1');
    expect(toLogEntry('not json')).toBeNull();
  });

  it('reads several lines handed over at once and tells each subscriber', () => {
    const logs = createLogBuffer();
    const seen: string[] = [];
    const unsubscribe = logs.subscribe((entry) => seen.push(entry.message));
    logs.stream.write(`${JSON.stringify({ level: 30, time: 1, msg: 'a' })}\n${JSON.stringify({ level: 50, time: 2, msg: 'b' })}\n`);
    unsubscribe();
    logs.stream.write(`${JSON.stringify({ level: 30, time: 3, msg: 'c' })}\n`);
    expect(seen).toEqual(['a', 'b']);
    expect(logs.query({ limit: 10, level: 'error' }).map((entry) => entry.message)).toEqual(['b']);
  });
});
