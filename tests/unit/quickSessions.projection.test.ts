import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { QUICK_SESSIONS, quickSessionsProjection } from '../../src/projections/quickSessions.js';
import { quickSessionLiveMessages } from '../../src/live/quickSessions.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-quick-projection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const at = '2026-11-28T10:00:00.000Z';
const later = '2026-11-29T10:00:00.000Z';
const session = (sessionId: string) => ({
  stream: `quicksession-${sessionId}`,
  type: 'QuickSessionCreated',
  data: { sessionId, kinId: 'k1', createdBy: 'u1', title: null, createdAt: at, expiresAt: later },
});
const history: Omit<RecordedEvent, 'position' | 'revision' | 'id' | 'metadata' | 'recordedAt'>[] = [
  session('s1'),
  session('s2'),
  session('s3'),
  { stream: 'quicksession-s1', type: 'QuickSessionClosed', data: { sessionId: 's1', kinId: 'k1', closedAt: later, reason: 'user', memorySummary: 'tea' } },
  { stream: 'quicksession-s2', type: 'QuickSessionClosed', data: { sessionId: 's2', kinId: 'k1', closedAt: later, reason: 'expired' } },
  { stream: 'quicksession-s2', type: 'QuickSessionPurged', data: { sessionId: 's2', kinId: 'k1', purgedAt: later } },
];
const events: RecordedEvent[] = history.map((event, i) => ({
  ...event,
  id: `e${i}`,
  revision: i,
  position: i + 1,
  recordedAt: at,
  metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
}));

async function project(name: string, times: number): Promise<ReadStore> {
  const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
  await quickSessionsProjection.setup?.(store);
  for (const event of events) for (let i = 0; i < times; i++) await quickSessionsProjection.apply(event, store);
  return store;
}

describe('quick sessions projection', () => {
  it('keeps sessions until they are purged, and is idempotent', async () => {
    const once = await (await project('once', 1)).collection(QUICK_SESSIONS).find({}, { sort: { id: 1 } });
    const twice = await (await project('twice', 2)).collection(QUICK_SESSIONS).find({}, { sort: { id: 1 } });
    expect(twice).toEqual(once);
    expect(once).toEqual([
      { id: 's1', kinId: 'k1', createdBy: 'u1', title: null, status: 'closed', createdAt: Date.parse(at), closedAt: Date.parse(later), expiresAt: Date.parse(later), closeReason: 'user' },
      { id: 's3', kinId: 'k1', createdBy: 'u1', title: null, status: 'active', createdAt: Date.parse(at), closedAt: null, expiresAt: Date.parse(later), closeReason: null },
    ]);
  });

  it('reports every close on the live feed as quick-session:closed, tagged with the Kin', async () => {
    const store = await project('live', 1);
    const mapped = await Promise.all(events.map((event) => quickSessionLiveMessages(event, store)));
    expect(mapped.flat()).toEqual([
      { type: 'quick-session:closed', kinId: 'k1', data: { sessionId: 's1' } },
      { type: 'quick-session:closed', kinId: 'k1', data: { sessionId: 's2' } },
    ]);
  });
});
