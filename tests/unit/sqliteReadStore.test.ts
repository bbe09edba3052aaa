import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Filter, FindOptions, ReadStore } from '../../src/es/readStore.js';
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
