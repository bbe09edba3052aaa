import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Filter, FindOptions, ReadStore } from '../../src/es/readStore.js';
import type { IndexEntry, VectorHit } from '../../src/es/searchIndex.js';
import { openSqlite, type SqliteHandle } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

describe('SQLite read store', () => {
  let dir: string;
  let handle: SqliteHandle;
  let store: ReadStore;
  let prepared: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kinbot-sqlite-readstore-'));
    handle = openSqlite(join(dir, 'kinbot.db'));
    // Record the SQL the adapter prepares, to ask SQLite how it would run it.
    prepared = [];
    const prepare = handle.db.prepare.bind(handle.db);
    handle.db.prepare = ((sql: string) => {
      prepared.push(sql);
      return prepare(sql);
    }) as typeof handle.db.prepare;
    store = createSqliteReadStore(handle);
  });

  afterEach(() => {
    handle.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function planOf(filter: Filter, options: FindOptions = {}): Promise<string> {
    const collection = store.collection('messages');
    await collection.find(filter, options);
    const sql = prepared.filter((text) => text.startsWith('SELECT doc FROM')).at(-1) ?? '';
    const placeholders = sql.split('?').length - 1;
    const rows = handle.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array<string>(placeholders).fill('x')) as { detail: string }[];
    return rows.map((row) => row.detail).join('\n');
  }

  async function seed(): Promise<void> {
    const collection = store.collection('messages');
    for (let i = 0; i < 50; i++) await collection.insert({ id: `m${i}`, kinId: `k${i % 5}`, at: i, meta: { channel: `c${i % 3}` } });
    await collection.ensureIndex({ fields: { kinId: 1, at: -1 } });
    await collection.ensureIndex({ fields: { 'meta.channel': 1 } });
    handle.db.exec('ANALYZE');
  }

  it('stores each collection in its own rm_ table', async () => {
    await store.collection('kins').insert({ id: 'a' });
    handle.db.exec('CREATE TABLE unrelated (x)');
    const tables = handle.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[];
    expect(tables.map((t) => t.name)).toEqual(['rm_kins', 'unrelated']);
    expect(await store.listCollections()).toEqual(['kins']);
  });

  it('uses the expression index for an equality on an indexed path', async () => {
    await seed();
    expect(await planOf({ kinId: 'k1' })).toMatch(/USING INDEX "?ix_messages:kinId,-at/);
    expect(await planOf({ 'meta.channel': 'c1' })).toMatch(/USING INDEX "?ix_messages:meta.channel/);
  });

  it('uses the expression index for $in and ranges', async () => {
    await seed();
    expect(await planOf({ 'meta.channel': { $in: ['c1', 'c2'] } })).toMatch(/USING INDEX "?ix_messages:meta.channel/);
    expect(await planOf({ kinId: { $gte: 'k1', $lt: 'k3' } })).toMatch(/USING INDEX "?ix_messages:kinId,-at/);
  });

  it('serves a filter and its sort from one compound index, without sorting', async () => {
    await seed();
    const plan = await planOf({ kinId: 'k1' }, { sort: { at: -1 }, limit: 10 });
    expect(plan).toMatch(/USING INDEX "?ix_messages:kinId,-at/);
    expect(plan).not.toMatch(/TEMP B-TREE/);
  });

  it('looks ids up through the primary key', async () => {
    await seed();
    expect(await planOf({ id: 'm3' })).toMatch(/USING INDEX sqlite_autoindex_rm_messages_1/);
  });

  it('keeps the table usable after a rolled-back transaction created it', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.collection('fresh').insert({ id: 'a' });
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await store.listCollections()).toEqual([]);
    await store.collection('fresh').update({ id: 'b' }, { $set: { v: 1 } }, { upsert: true });
    expect(await store.collection('fresh').find()).toEqual([{ id: 'b', v: 1 }]);
  });

  it('refuses a transaction handle used after its commit', async () => {
    let leaked: ReadStore | undefined;
    await store.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.collection('x').get('a')).rejects.toThrow(/transaction is over/);
  });
});

describe('a table dropped by another process', () => {
  it('is noticed: reads see it empty and writes recreate it, without an error', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kinbot-stale-')), 'shared.db');
    const mine = createSqliteReadStore(openSqlite(path));
    const theirs = createSqliteReadStore(openSqlite(path));
    await mine.collection('things').insert({ id: 'a', n: 1 });
    expect(await mine.collection('things').get('a')).toEqual({ id: 'a', n: 1 });
    await theirs.dropCollection('things');
    expect(await mine.collection('things').get('a')).toBeNull();
    expect(await mine.collection('things').count()).toBe(0);
    await mine.collection('things').replace({ id: 'b', n: 2 });
    expect(await theirs.collection('things').find({})).toEqual([{ id: 'b', n: 2 }]);
  });
});

describe('SQLite search index', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kinbot-sqlite-search-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A deterministic pseudo-random unit-ish vector. */
  const vectorOf = (seed: number, dimensions: number): number[] => {
    let x = seed * 2654435761 + 1;
    return Array.from({ length: dimensions }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x / 2147483648 - 0.5;
    });
  };
  const exactOrder = (entries: IndexEntry[], query: number[], limit: number): string[] => {
    const norm = (v: number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
    return entries
      .filter((e) => e.vector !== null)
      .map((e) => ({ id: e.id, s: e.vector!.reduce((sum, x, i) => sum + x * query[i]!, 0) / norm(e.vector!) / norm(query) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, limit)
      .map((e) => e.id);
  };
  const isOrdered = (hits: VectorHit[]) => hits.every((hit, i) => i === 0 || hits[i - 1]!.similarity >= hit.similarity);

  it('looks up "kinId" and "kinId or shared" through expression indexes on the fields', async () => {
    const handle = openSqlite(join(dir, 'kinbot.db'));
    const store = createSqliteReadStore(handle);
    const index = store.searchIndex('memories');
    for (let i = 0; i < 50; i++) await index.upsert({ id: `m${i}`, text: `memory ${i}`, vector: null, fields: { kinId: `k${i % 5}`, scope: i % 7 ? 'private' : 'shared' } });
    handle.db.exec('ANALYZE');
    const plan = (where: string) =>
      (handle.db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM "si_memories" WHERE ${where}`).all() as { detail: string }[]).map((r) => r.detail).join('\n');
    expect(plan(`json_extract(fields, '$.kinId') = 'k1'`)).toMatch(/USING INDEX "?si_memories:field:kinId/);
    expect(plan(`json_extract(fields, '$.kinId') = 'k1' OR json_extract(fields, '$.scope') = 'shared'`)).toMatch(/MULTI-INDEX OR/);
    handle.db.close();
  });

  it('lets FTS5 hand text hits over best first, without sorting every match', async () => {
    const handle = openSqlite(join(dir, 'kinbot.db'));
    const prepared: string[] = [];
    const prepare = handle.db.prepare.bind(handle.db);
    handle.db.prepare = ((sql: string) => {
      prepared.push(sql);
      return prepare(sql);
    }) as typeof handle.db.prepare;
    const index = createSqliteReadStore(handle).searchIndex('memories');
    await index.upsert({ id: 'a', text: 'apple pie', vector: null, fields: { kinId: 'k1', scope: 'private' } });
    await index.textSearch('apple', { limit: 5, filter: { $or: [{ kinId: 'k1' }, { scope: 'shared' }] } });
    const sql = prepared.find((text) => text.includes('MATCH'))!;
    const placeholders = sql.split('?').length - 1;
    const plan = (handle.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array<string>(placeholders).fill('x')) as { detail: string }[])
      .map((row) => row.detail)
      .join('\n');
    expect(plan).toMatch(/VIRTUAL TABLE/);
    expect(plan).not.toMatch(/TEMP B-TREE/);
    handle.db.close();
  });

  it('sees what another process wrote (npm run replay) on its next search', async () => {
    const path = join(dir, 'shared.db');
    const [mineHandle, theirsHandle] = [openSqlite(path), openSqlite(path)];
    const mine = createSqliteReadStore(mineHandle).searchIndex('memories');
    const theirStore = createSqliteReadStore(theirsHandle);
    const theirs = theirStore.searchIndex('memories');
    await mine.upsert({ id: 'a', text: 'alpha', vector: [1, 0], fields: {} });
    expect((await mine.vectorSearch([1, 0], { limit: 5 })).map((h) => h.id)).toEqual(['a']);
    await theirs.upsert({ id: 'b', text: 'beta', vector: [1, 0.1], fields: {} });
    await theirs.delete('a');
    expect((await mine.vectorSearch([1, 0], { limit: 5 })).map((h) => h.id)).toEqual(['b']);
    // A write of mine after theirs must not resurrect the cache from before theirs.
    await theirs.upsert({ id: 'c', text: 'gamma', vector: [1, 0.2], fields: {} });
    await mine.upsert({ id: 'd', text: 'delta', vector: [0, 1], fields: {} });
    expect((await mine.vectorSearch([1, 0], { limit: 5 })).map((h) => h.id)).toEqual(['b', 'c', 'd']);
    await theirStore.dropCollection('memories');
    expect(await mine.vectorSearch([1, 0], { limit: 5 })).toEqual([]);
    await mine.upsert({ id: 'e', text: 'epsilon', vector: [1, 0], fields: {} });
    expect((await theirs.textSearch('epsilon', { limit: 5 })).map((h) => h.id)).toEqual(['e']);
    mineHandle.db.close();
    theirsHandle.db.close();
  });

  it('answers from the ANN index in exact order, with the writes made after it was built', async () => {
    const handle = openSqlite(join(dir, 'kinbot.db'));
    // A tiny budget, so that 1500 vectors of 16 dimensions need the ANN index (a filtered scan
    // costs three times as much per vector, so that 200 filtered vectors would too).
    const store = createSqliteReadStore(handle, { vectors: { exactScanBudget: 16 * 200 * 3 } });
    const index = store.searchIndex('chunks');
    const entries: IndexEntry[] = Array.from({ length: 1500 }, (_, i) => ({
      id: `c${String(i).padStart(4, '0')}`,
      text: `chunk ${i}`,
      vector: vectorOf(i, 16),
      fields: { kinId: `k${i % 10}`, scope: i % 4 === 0 ? 'shared' : 'private' },
    }));
    await store.transaction(async (tx) => {
      for (const one of entries) await tx.searchIndex('chunks').upsert(one);
    });
    await store.warmSearchIndex('chunks');

    let topOneAgrees = 0;
    for (let q = 0; q < 20; q++) {
      const query = vectorOf(10_000 + q, 16);
      const hits = await index.vectorSearch(query, { limit: 10 });
      expect(hits).toHaveLength(10);
      expect(isOrdered(hits)).toBe(true);
      if (hits[0]!.id === exactOrder(entries, query, 1)[0]) topOneAgrees++;
      // "This Kin or shared" (about 33% of the vectors, 500: through the ANN index).
      const filter = { $or: [{ kinId: 'k3' }, { scope: 'shared' }] };
      const filtered = await index.vectorSearch(query, { limit: 10, filter });
      expect(isOrdered(filtered)).toBe(true);
      const allowed = new Set(entries.filter((e) => e.fields.kinId === 'k3' || e.fields.scope === 'shared').map((e) => e.id));
      expect(filtered.every((hit) => allowed.has(hit.id))).toBe(true);
      // One Kin's private vectors (about 110: under the budget, so scanned exactly) are always exact.
      const one = await index.vectorSearch(query, { limit: 5, filter: { kinId: 'k7', scope: 'private' } });
      expect(one.map((h) => h.id)).toEqual(exactOrder(entries.filter((e) => e.fields.kinId === 'k7' && e.fields.scope === 'private'), query, 5));
    }
    expect(topOneAgrees).toBeGreaterThanOrEqual(18);

    const query = vectorOf(99_999, 16);
    await index.upsert({ id: 'new', text: 'new', vector: query, fields: { kinId: 'k1' } });
    expect((await index.vectorSearch(query, { limit: 1 }))[0]).toMatchObject({ id: 'new' });
    await index.setVector('new', query.map((x) => -x));
    expect((await index.vectorSearch(query, { limit: 3 })).map((h) => h.id)).not.toContain('new');
    await index.delete('new');
    await expect(
      store.transaction(async (tx) => {
        await tx.searchIndex('chunks').upsert({ id: 'ghost', text: 'ghost', vector: query, fields: {} });
        expect((await tx.searchIndex('chunks').vectorSearch(query, { limit: 1 }))[0]).toMatchObject({ id: 'ghost' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await index.vectorSearch(query, { limit: 10 })).map((h) => h.id)).not.toContain('ghost');
    await store.close();
    handle.db.close();
  });
});
