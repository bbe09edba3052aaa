import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINTS, type Checkpoint, type Projection } from '../../src/es/projections.js';
import { listCache, serializedFormOf } from '../../src/rest/listCache.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-list-cache-'));
const readStore = createSqliteReadStore(openSqlite(join(dir, 'read.db')));
afterAll(async () => {
  await readStore.close();
  rmSync(dir, { recursive: true, force: true });
});

const projection = (name: string): Projection => ({ name, version: 1, handles: [], collections: [], apply: async () => undefined });
const things = projection('things');
const owners = projection('owners');

const checkpoint = (name: string, position: number, resetting?: boolean) =>
  readStore.collection<Checkpoint>(CHECKPOINTS).replace({ id: name, version: 1, position, ...(resetting ? { resetting } : {}) });

/** A list whose computations are counted. */
function countedList() {
  const cached = listCache(readStore, { dependsOn: [things, owners] });
  let computed = 0;
  const list = (key = '') =>
    cached(key, async () => {
      computed++;
      return { items: [key, computed] };
    });
  return { list, computed: () => computed };
}

beforeEach(async () => {
  await checkpoint('things', 10);
  await checkpoint('owners', 20);
});

describe('a list cache', () => {
  it('computes an answer once while the projections it depends on stay where they are', async () => {
    const { list, computed } = countedList();
    const first = await list();
    expect(await list()).toBe(first);
    expect(computed()).toBe(1);
  });

  it('computes again as soon as any of those projections moves', async () => {
    const { list, computed } = countedList();
    await list();
    await checkpoint('owners', 21);
    expect(await list()).toEqual({ items: ['', 2] });
    await checkpoint('things', 11);
    await list();
    expect(computed()).toBe(3);
  });

  it('keeps nothing while a projection is being rebuilt, nor when it has no checkpoint yet', async () => {
    const { list, computed } = countedList();
    await checkpoint('things', -1, true);
    await list();
    await list();
    expect(computed()).toBe(2);
    await readStore.collection(CHECKPOINTS).delete({ id: 'owners' });
    await list();
    expect(computed()).toBe(3);
  });

  it('keeps one answer per key, so that a key never gets the answer computed for another', async () => {
    const { list, computed } = countedList();
    expect((await list('ada')).items[0]).toBe('ada');
    expect((await list('bob')).items[0]).toBe('bob');
    expect((await list('ada')).items[0]).toBe('ada');
    expect(computed()).toBe(2);
  });

  it('does not keep an answer computed while a projection moved, as it may mix two states', async () => {
    const cached = listCache(readStore, { dependsOn: [things] });
    let computed = 0;
    const moving = () =>
      cached('', async () => {
        computed++;
        if (computed === 1) await checkpoint('things', 12);
        return { computed };
      });
    await moving();
    await moving();
    await moving();
    expect(computed).toBe(2);
  });

  it('serializes the answer once, with a strong ETag that follows the bytes', async () => {
    const { list } = countedList();
    const body = await list();
    const serialized = serializedFormOf(body)!;
    expect(serialized.bytes.toString()).toBe(JSON.stringify(body));
    expect(serialized.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    await checkpoint('owners', 30);
    expect(serializedFormOf(await list())!.etag).not.toBe(serialized.etag);
    expect(serializedFormOf({ items: [] })).toBeUndefined();
  });
});
