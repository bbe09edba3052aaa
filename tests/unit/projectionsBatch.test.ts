import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/es/eventStore.js';
import { CHECKPOINTS, createProjectionRunner, rebuildProjections, type Projection } from '../../src/es/projections.js';
import type { Doc, ReadStore } from '../../src/es/readStore.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../../src/stores/sqlite/eventStore.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-batches-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const meta = { actor: { kind: 'system' as const, id: 't' }, correlationId: 'c', causationId: 'c', occurredAt: '2026-12-01T10:00:00.000Z', schemaVersion: 1 };

let databases = 0;
function openStores() {
  const handle = openSqlite(join(dir, `${++databases}.db`));
  return { eventStore: createSqliteEventStore(handle), readStore: createSqliteReadStore(handle), close: () => handle.db.close() };
}

type Data = { item: string; n: number; tag: string };
type ItemDoc = Doc & { n: number; total: number; tags: string[]; tagRank?: number; version: number };

/**
 * Exercises what a batch keeps in memory: a document created, then changed many times by id
 * ($set, $inc, $push, $pull), read back by id, counted and found by other fields in the same
 * batch (which must see the changes not yet written), deleted and created again.
 */
function itemsProjection(failAt?: { seen: number; at: number }): Projection {
  return {
    name: 'items',
    version: 1,
    handles: ['ItemAdded', 'ItemBumped', 'ItemTagged', 'ItemUntagged', 'ItemRemoved'],
    collections: ['items', 'item_totals'],
    async apply(event, store) {
      if (failAt && ++failAt.seen === failAt.at) throw new Error('the disk is full, once');
      const items = store.collection<ItemDoc>('items');
      const totals = store.collection<Doc & { events: number }>('item_totals');
      const { item, n, tag } = event.data as Data;
      await totals.update({ id: 'all' }, { $inc: { events: 1 } }, { upsert: true });
      switch (event.type) {
        case 'ItemAdded':
          await items.replace({ id: item, n, total: n, tags: [], version: 0 });
          return;
        case 'ItemBumped': {
          const current = await items.get(item);
          if (!current) return;
          const sameN = await items.count({ n });
          await items.update({ id: item }, { $set: { n, sameN }, $inc: { total: n, version: 1 } });
          return;
        }
        case 'ItemTagged': {
          await items.update({ id: item }, { $push: { tags: tag } });
          const alreadyTagged = await items.count({ tagged: tag });
          await items.update({ id: item }, { $set: { tagged: tag, tagRank: alreadyTagged } });
          return;
        }
        case 'ItemUntagged':
          await items.update({ id: item }, { $pull: { tags: tag }, $unset: { tagged: 1 } });
          return;
        case 'ItemRemoved': {
          const same = await items.find({ n }, { sort: { id: 1 } });
          await items.delete({ id: item });
          await totals.update({ id: 'removed' }, { $push: { lastSameN: same.map((doc) => doc.id) } }, { upsert: true });
          return;
        }
      }
    },
  };
}

/** A deterministic, shuffled history of about 430 events over 12 items. */
function history(): NewEvent[] {
  let seed = 42;
  const random = (below: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % below);
  const types = ['ItemBumped', 'ItemBumped', 'ItemBumped', 'ItemBumped', 'ItemBumped', 'ItemTagged', 'ItemTagged', 'ItemUntagged', 'ItemAdded', 'ItemRemoved'];
  const events: NewEvent[] = [];
  for (let i = 0; i < 12; i++) events.push({ type: 'ItemAdded', data: { item: `item-${i}`, n: i % 5, tag: 't0' }, metadata: meta });
  for (let step = 0; step < 390; step++) {
    const data = { item: `item-${random(12)}`, n: random(5), tag: `t${random(4)}` };
    events.push({ type: types[random(types.length)]!, data, metadata: meta });
    if (step % 10 === 0) events.push({ type: 'Unrelated', data, metadata: meta });
  }
  return events;
}

async function append(eventStore: EventStore, events: NewEvent[]): Promise<number> {
  let position = -1;
  // Several streams, as a real log has.
  for (let from = 0; from < events.length; from += 37) {
    position = (await eventStore.append(`items-${from}`, events.slice(from, from + 37), 'no_stream')).position;
  }
  return position;
}

const readModel = async (store: ReadStore) => ({
  items: await store.collection('items').find({}, { sort: { id: 1 } }),
  totals: await store.collection('item_totals').find({}, { sort: { id: 1 } }),
});

/** The reference: every event applied alone, straight to the store, with no transaction at all. */
async function oneByOne(): Promise<Awaited<ReturnType<typeof readModel>>> {
  const { eventStore, readStore, close } = openStores();
  const projection = itemsProjection();
  await append(eventStore, history());
  const events: RecordedEvent[] = await eventStore.readAll();
  for (const event of events) if (projection.handles.includes(event.type)) await projection.apply(event, readStore);
  const model = await readModel(readStore);
  close();
  return model;
}

describe('projections applied in batches', () => {
  it('give the same read models as events applied one by one', async () => {
    const expected = await oneByOne();
    expect(expected.items.length).toBeGreaterThan(5);
    for (const batchSize of [1, 7, 100, 1000]) {
      const { eventStore, readStore, close } = openStores();
      const runner = createProjectionRunner({ eventStore, readStore, projections: [itemsProjection()], batchSize });
      await runner.start();
      const head = await append(eventStore, history());
      runner.notify();
      expect(await runner.waitFor(head, 10_000)).toBe(true);
      await runner.stop();
      expect(await readModel(readStore), `batches of ${batchSize}`).toEqual(expected);
      close();
    }
  });

  it('give the same read models when rebuilt by npm run replay', async () => {
    const expected = await oneByOne();
    const { eventStore, readStore, close } = openStores();
    const head = await append(eventStore, history());
    const { events } = await rebuildProjections({ eventStore, readStore, projections: [itemsProjection()], batchSize: 50 });
    expect(events).toBe(head);
    expect(await readModel(readStore)).toEqual(expected);
    expect((await readStore.collection(CHECKPOINTS).get('items'))?.position).toBe(head);
    close();
  });

  it('apply every event exactly once when a batch fails midway and is retried', async () => {
    const expected = await oneByOne();
    const { eventStore, readStore, close } = openStores();
    // The 150th application throws, in the middle of a batch of 100 that has already changed documents.
    const failAt = { seen: 0, at: 150 };
    const errors: unknown[] = [];
    const runner = createProjectionRunner({
      eventStore,
      readStore,
      projections: [itemsProjection(failAt)],
      batchSize: 100,
      onError: (_name, error) => errors.push(error),
    });
    await runner.start();
    const head = await append(eventStore, history());
    runner.notify();
    expect(await runner.waitFor(head, 10_000)).toBe(true);
    await runner.stop();
    expect(errors).toHaveLength(1);
    expect(failAt.seen).toBeGreaterThan(150);
    expect(await readModel(readStore)).toEqual(expected);
    close();
  });
});

describe('a read-store transaction', () => {
  it('sees its own writes by id in get, find and count, and a rollback forgets them', async () => {
    const { readStore, close } = openStores();
    const things = readStore.collection<Doc & { colour: string; size?: number }>('things');
    await things.replace({ id: 'a', colour: 'red' });
    await readStore.transaction(async (tx) => {
      const inside = tx.collection<Doc & { colour: string; size?: number }>('things');
      await inside.replace({ id: 'b', colour: 'red' });
      await inside.update({ id: 'a' }, { $set: { colour: 'blue' }, $inc: { size: 2 } });
      expect(await inside.get('a')).toEqual({ id: 'a', colour: 'blue', size: 2 });
      expect(await inside.count({ colour: 'blue' })).toBe(1);
      expect(await inside.count({ colour: 'red' })).toBe(1);
      expect((await inside.find({ colour: 'blue' })).map((doc) => doc.id)).toEqual(['a']);
      await inside.update({ id: 'b' }, { $set: { colour: 'green' } });
    });
    expect(await things.find({}, { sort: { id: 1 } })).toEqual([
      { id: 'a', colour: 'blue', size: 2 },
      { id: 'b', colour: 'green' },
    ]);
    await expect(
      readStore.transaction(async (tx) => {
        await tx.collection('things').update({ id: 'a' }, { $set: { colour: 'black' } });
        await tx.collection('things').replace({ id: 'c', colour: 'white' });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await things.get('a')).toEqual({ id: 'a', colour: 'blue', size: 2 });
    expect(await things.get('c')).toBeNull();
    close();
  });

  it('leaves a document untouched by an update that fails, and does not share objects with its caller', async () => {
    const { readStore, close } = openStores();
    await readStore.transaction(async (tx) => {
      const things = tx.collection<Doc & { count: number | string; label?: string; meta?: { tags: string[] } }>('things');
      await things.replace({ id: 'a', count: 'many' });
      await expect(things.update({ id: 'a' }, { $set: { label: 'x' }, $inc: { count: 1 } })).rejects.toThrow('$inc');
      expect(await things.get('a')).toEqual({ id: 'a', count: 'many' });
      const meta = { tags: ['one'] };
      await things.update({ id: 'a' }, { $set: { meta } });
      meta.tags.push('changed later by the caller');
      expect((await things.get('a'))?.meta).toEqual({ tags: ['one'] });
    });
    expect(await readStore.collection('things').get('a')).toEqual({ id: 'a', count: 'many', meta: { tags: ['one'] } });
    close();
  });

  it('still reports a duplicate on a unique index from the call that caused it', async () => {
    const { readStore, close } = openStores();
    await readStore.collection('tokens').ensureIndex({ fields: { hash: 1 }, unique: true });
    await readStore.collection('tokens').replace({ id: 'a', hash: 'h1' });
    await readStore.transaction(async (tx) => {
      await expect(tx.collection('tokens').replace({ id: 'b', hash: 'h1' })).rejects.toMatchObject({ code: 'DUPLICATE_KEY' });
      await tx.collection('tokens').replace({ id: 'b', hash: 'h2' });
    });
    expect(await readStore.collection('tokens').count()).toBe(2);
    close();
  });
});
