import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { NO_FILTER } from '../../src/commands/webhooks.js';
import { WEBHOOK_LOGS, WEBHOOKS, webhooksProjection } from '../../src/projections/webhooks.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-webhook-projection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const t0 = Date.parse('2026-11-01T10:00:00.000Z');
const iso = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
const webhook = (webhookId: string, kinId: string) => ({
  stream: `webhook-${webhookId}`,
  type: 'WebhookCreated',
  data: { webhookId, kinId, name: webhookId, description: null, tokenHash: 'h', filter: NO_FILTER, createdBy: 'user', createdAt: iso(0) },
});
const payload = (webhookId: string, kinId: string, n: number, filtered = false) => ({
  stream: `webhooklog-${webhookId}`,
  type: filtered ? 'WebhookPayloadFiltered' : 'WebhookPayloadAccepted',
  data: {
    webhookId,
    kinId,
    logId: `${webhookId}-log${n}`,
    payload: `p${n}`,
    sourceIp: 'unknown',
    receivedAt: iso(n),
    ...(filtered ? { extractedValue: null } : { queueItemId: `q${n}` }),
  },
});

const history = [
  webhook('w1', 'k1'),
  webhook('w2', 'k1'),
  webhook('w3', 'k2'),
  payload('w1', 'k1', 1),
  payload('w1', 'k1', 2, true),
  payload('w1', 'k1', 3),
  payload('w1', 'k1', 4),
  payload('w1', 'k1', 5, true),
  payload('w2', 'k1', 6),
  payload('w3', 'k2', 7),
  { stream: 'webhook-w1', type: 'WebhookUpdated', data: { webhookId: 'w1', kinId: 'k1', changes: { isActive: false, filterMode: 'simple', filterField: 'a' }, updatedAt: iso(8) } },
  { stream: 'webhook-w1', type: 'WebhookTokenRegenerated', data: { webhookId: 'w1', kinId: 'k1', tokenHash: 'h2', regeneratedAt: iso(9) } },
  // Older than minute 2 goes, then all but the newest two.
  { stream: 'webhook-w1', type: 'WebhookLogsPruned', data: { webhookId: 'w1', kinId: 'k1', olderThan: t0 + 2 * 60_000, keepNewest: 2, prunedAt: iso(10) } },
  payload('w1', 'k1', 11),
  { stream: 'webhook-w2', type: 'WebhookDeleted', data: { webhookId: 'w2', kinId: 'k1', deletedAt: iso(12) } },
  payload('w2', 'k1', 13),
  { stream: 'kin-k2', type: 'KinDeleted', data: { kinId: 'k2', deletedAt: iso(14) } },
];
const events: RecordedEvent[] = history.map((event, i) => ({
  ...event,
  id: `e${i}`,
  revision: i,
  position: i + 1,
  recordedAt: iso(i),
  metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: iso(i), schemaVersion: 1 },
}));

async function project(name: string, times: number): Promise<ReadStore> {
  const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
  await webhooksProjection.setup?.(store);
  for (const event of events) {
    if (!webhooksProjection.handles.includes(event.type)) continue;
    for (let i = 0; i < times; i++) await webhooksProjection.apply(event, store);
  }
  return store;
}

const dump = async (store: ReadStore) => ({
  webhooks: await store.collection(WEBHOOKS).find({}, { sort: { id: 1 } }),
  logs: await store.collection(WEBHOOK_LOGS).find({}, { sort: { id: 1 } }),
});

describe('webhooks projection', () => {
  it('is idempotent and gives the expected read models', async () => {
    const once = await dump(await project('once', 1));
    expect(await dump(await project('twice', 2))).toEqual(once);
    expect(once.webhooks.map((w) => [w.id, w.triggerCount, w.lastTriggeredAt, w.isActive, w.kinDeleted, w.tokenHash, w.filterMode])).toEqual([
      ['w1', 6, t0 + 11 * 60_000, false, false, 'h2', 'simple'],
      ['w3', 1, t0 + 7 * 60_000, true, true, 'h', null],
    ]);
    // w1 kept its two newest logs at the pruning, then received one more; w2 and w3 have none left.
    expect(once.logs.map((log) => [log.id, log.filtered, log.createdAt])).toEqual([
      ['w1-log11', false, t0 + 11 * 60_000],
      ['w1-log4', false, t0 + 4 * 60_000],
      ['w1-log5', true, t0 + 5 * 60_000],
    ]);
  });
});
