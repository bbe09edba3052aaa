import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createIdempotencyStore } from '../../src/rest/idempotency.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-idem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('idempotency store', () => {
  const readStore = createSqliteReadStore(openSqlite(join(dir, 'idem.db')));
  let clock = Date.parse('2026-11-28T10:00:00Z');
  const store = createIdempotencyStore(readStore, () => clock);

  it('runs the work once for concurrent and later calls, for 24 hours', async () => {
    let runs = 0;
    const work = async () => ({ status: 201, body: { n: ++runs } });
    const [a, b] = await Promise.all([store.once('k1', work), store.once('k1', work)]);
    const c = await store.once('k1', work);
    expect(runs).toBe(1);
    expect([a.body, b.body, c.body]).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    expect([a.replayed, b.replayed, c.replayed]).toEqual([false, true, true]);
    clock += 24 * 60 * 60 * 1000 + 1;
    expect((await store.once('k1', work)).body).toEqual({ n: 2 });
  });

  it('does not remember failures, so a corrected request can go through', async () => {
    let runs = 0;
    await store.once('k2', async () => ({ status: 400, body: { n: ++runs } }));
    expect((await store.once('k2', async () => ({ status: 201, body: { n: ++runs } }))).body).toEqual({ n: 2 });
  });

  it('purges expired keys', async () => {
    clock += 2 * 24 * 60 * 60 * 1000;
    await store.once('k3', async () => ({ status: 200, body: {} }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const ids = (await readStore.collection('idempotency_keys').find({})).map((d) => d.id);
    expect(ids).toEqual(['k3']);
  });
});
