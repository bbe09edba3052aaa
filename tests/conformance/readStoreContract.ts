import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuplicateKeyError, type Collection, type Doc, type Filter, type ReadStore } from '../../src/es/readStore.js';
import type { IndexEntry, SearchIndex, TextSearchOptions } from '../../src/es/searchIndex.js';

type MakeStore = () => Promise<{ store: ReadStore; cleanup: () => Promise<void> }>;

/** The ReadStore port's contract: every adapter runs these tests unchanged. */
export function readStoreContract(name: string, make: MakeStore): void {
  describe(`ReadStore contract: ${name}`, () => {
    let store: ReadStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      ({ store, cleanup } = await make());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    // Unique names keep tests independent on a shared MongoDB.
    const freshName = () => `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const seeded = async (docs: Doc[]): Promise<Collection> => {
      const collection = store.collection(freshName());
      for (const doc of docs) await collection.insert(doc);
      return collection;
    };
    const idsOf = (docs: Doc[]) => docs.map((doc) => doc.id);
    const sortedIds = (docs: Doc[]) => idsOf(docs).sort();

    describe('documents', () => {
      it('returns null for an unknown id, even in a collection never written', async () => {
        expect(await store.collection(freshName()).get('nope')).toBeNull();
        expect(await store.collection(freshName()).find()).toEqual([]);
        expect(await store.collection(freshName()).count()).toBe(0);
      });

      it('reads a document back exactly as it was inserted', async () => {
        const doc = { id: 'k1', name: 'Ann', n: 1.5, big: 2 ** 40, on: true, off: false, none: null, tags: ['a', 'b'], nested: { deep: { x: [1, { y: 2 }] } } };
        const collection = await seeded([doc]);
        expect(await collection.get('k1')).toEqual(doc);
      });

      it('rejects inserting an id that is taken with a DuplicateKeyError', async () => {
        const collection = await seeded([{ id: 'k1', v: 1 }]);
        await expect(collection.insert({ id: 'k1', v: 2 })).rejects.toBeInstanceOf(DuplicateKeyError);
        expect(await collection.get('k1')).toEqual({ id: 'k1', v: 1 });
      });

      it('replaces the whole document, creating it when absent', async () => {
        const collection = store.collection(freshName());
        await collection.replace({ id: 'k1', a: 1, b: 2 });
        await collection.replace({ id: 'k1', c: 3 });
        expect(await collection.get('k1')).toEqual({ id: 'k1', c: 3 });
        expect(await collection.count()).toBe(1);
      });

      it('deletes every matching document and says how many', async () => {
        const collection = await seeded([{ id: 'a', k: 1 }, { id: 'b', k: 1 }, { id: 'c', k: 2 }]);
        expect(await collection.delete({ k: 1 })).toBe(2);
        expect(idsOf(await collection.find())).toEqual(['c']);
        expect(await collection.delete({ k: 9 })).toBe(0);
        expect(await store.collection(freshName()).delete({})).toBe(0);
      });

      it('rejects unsafe collection names and field paths', async () => {
        expect(() => store.collection('bad-name; DROP TABLE x')).toThrow();
        const collection = await seeded([{ id: 'a' }]);
        await expect(collection.find({ "a') OR 1=1 --": 1 })).rejects.toThrow();
        await expect(collection.find({}, { sort: { 'a b': 1 } })).rejects.toThrow();
      });
    });

    describe('filters', () => {
      const people: Doc[] = [
        { id: 'a', name: 'Ann', age: 30, active: true, team: { name: 'red', size: 3 }, joined: '2024-01-15T10:00:00.000Z', nick: null },
        { id: 'b', name: 'Bob', age: 25, active: false, team: { name: 'blue', size: 5 }, joined: '2024-03-01T09:00:00.000Z' },
        { id: 'c', name: 'Cid', age: 35, active: true, team: { name: 'red', size: 8 }, joined: '2023-12-31T23:59:59.999Z', nick: 'cc' },
        { id: 'd', name: 'Dee', age: '30', active: 1 },
      ];
      let collection: Collection;
      beforeAll(async () => {
        collection = await seeded(people);
      });
      const matching = async (filter: Filter) => sortedIds(await collection.find(filter));

      it('matches everything with an empty filter', async () => {
        expect(await matching({})).toEqual(['a', 'b', 'c', 'd']);
      });

      it('compares equality within one type: strings, numbers and booleans', async () => {
        expect(await matching({ name: 'Bob' })).toEqual(['b']);
        expect(await matching({ name: { $eq: 'Ann' } })).toEqual(['a']);
        expect(await matching({ age: 30 })).toEqual(['a']);
        expect(await matching({ age: '30' })).toEqual(['d']);
        expect(await matching({ active: true })).toEqual(['a', 'c']);
        expect(await matching({ active: false })).toEqual(['b']);
        expect(await matching({ active: 1 })).toEqual(['d']);
        expect(await matching({ id: 'c' })).toEqual(['c']);
      });

      it('matches null against null and missing fields', async () => {
        expect(await matching({ nick: null })).toEqual(['a', 'b', 'd']);
        expect(await matching({ nick: { $eq: null } })).toEqual(['a', 'b', 'd']);
      });

      it('tells present fields from missing ones with $exists', async () => {
        expect(await matching({ nick: { $exists: true } })).toEqual(['a', 'c']);
        expect(await matching({ nick: { $exists: false } })).toEqual(['b', 'd']);
        expect(await matching({ 'team.size': { $exists: true } })).toEqual(['a', 'b', 'c']);
      });

      it('lets $ne match missing fields', async () => {
        expect(await matching({ nick: { $ne: 'cc' } })).toEqual(['a', 'b', 'd']);
        expect(await matching({ active: { $ne: true } })).toEqual(['b', 'd']);
        expect(await matching({ nick: { $ne: null } })).toEqual(['c']);
        expect(await matching({ 'team.name': { $ne: 'red' } })).toEqual(['b', 'd']);
      });

      it('matches any of a list with $in, null included', async () => {
        expect(await matching({ name: { $in: ['Ann', 'Cid', 'Zed'] } })).toEqual(['a', 'c']);
        expect(await matching({ age: { $in: [25, '30'] } })).toEqual(['b', 'd']);
        expect(await matching({ nick: { $in: [null, 'cc'] } })).toEqual(['a', 'b', 'c', 'd']);
        expect(await matching({ active: { $in: [false] } })).toEqual(['b']);
        expect(await matching({ name: { $in: [] } })).toEqual([]);
      });

      it('matches none of a list with $nin, missing fields included', async () => {
        expect(await matching({ name: { $nin: ['Ann', 'Bob'] } })).toEqual(['c', 'd']);
        expect(await matching({ nick: { $nin: ['cc'] } })).toEqual(['a', 'b', 'd']);
        expect(await matching({ nick: { $nin: [null] } })).toEqual(['c']);
        expect(await matching({ name: { $nin: [] } })).toEqual(['a', 'b', 'c', 'd']);
      });

      it('compares ranges of numbers with numbers only', async () => {
        expect(await matching({ age: { $gt: 25 } })).toEqual(['a', 'c']);
        expect(await matching({ age: { $gte: 25, $lt: 35 } })).toEqual(['a', 'b']);
        expect(await matching({ age: { $lte: 30 } })).toEqual(['a', 'b']);
      });

      it('compares ranges of strings and ISO dates with strings only', async () => {
        expect(await matching({ name: { $gte: 'B', $lt: 'D' } })).toEqual(['b', 'c']);
        expect(await matching({ age: { $lt: '4' } })).toEqual(['d']);
        expect(await matching({ joined: { $gte: '2024-01-01T00:00:00.000Z' } })).toEqual(['a', 'b']);
        expect(await matching({ joined: { $lt: '2024-02-01T00:00:00.000Z' } })).toEqual(['a', 'c']);
        expect(await matching({ joined: { $gt: '2024-01-15T10:00:00.000Z', $lte: '2024-03-01T09:00:00.000Z' } })).toEqual(['b']);
      });

      it('follows dotted paths into nested objects', async () => {
        expect(await matching({ 'team.name': 'red' })).toEqual(['a', 'c']);
        expect(await matching({ 'team.size': { $gt: 4 } })).toEqual(['b', 'c']);
        expect(await matching({ 'team.name': null })).toEqual(['d']);
      });

      it('nests $and and $or', async () => {
        expect(await matching({ $or: [{ age: { $lt: 30 } }, { 'team.size': { $gte: 8 } }] })).toEqual(['b', 'c']);
        expect(await matching({ $and: [{ active: true }, { $or: [{ nick: null }, { age: { $gt: 32 } }] }] })).toEqual(['a', 'c']);
        expect(await matching({ 'team.name': 'red', $or: [{ age: 30 }, { age: 25 }] })).toEqual(['a']);
        expect(await matching({ $or: [{ $and: [{ name: 'Dee' }, { active: 1 }] }, { nick: 'cc' }] })).toEqual(['c', 'd']);
      });

      it('counts the matching documents', async () => {
        expect(await collection.count()).toBe(4);
        expect(await collection.count({ 'team.name': 'red' })).toBe(2);
        expect(await collection.count({ name: 'Zed' })).toBe(0);
      });

      it('rejects operators outside the subset', async () => {
        await expect(collection.find({ name: { $regex: 'A' } } as unknown as Filter)).rejects.toThrow();
        await expect(collection.find({ $nor: [{ name: 'Ann' }] } as unknown as Filter)).rejects.toThrow();
      });
    });

    describe('sorting and paging', () => {
      // Every sort below orders these without ties; rank and group are missing from some.
      const docs: Doc[] = [
        { id: 'p1', group: 'x', rank: 2 },
        { id: 'p2', group: 'y', rank: 1 },
        { id: 'p3', group: 'y' },
        { id: 'p4', group: 'x', rank: 3 },
        { id: 'p5', rank: 0 },
      ];
      let collection: Collection;
      beforeAll(async () => {
        collection = await seeded(docs);
      });

      it('sorts on one field, missing values first when ascending and last when descending', async () => {
        expect(idsOf(await collection.find({}, { sort: { rank: 1 } }))).toEqual(['p3', 'p5', 'p2', 'p1', 'p4']);
        expect(idsOf(await collection.find({}, { sort: { rank: -1 } }))).toEqual(['p4', 'p1', 'p2', 'p5', 'p3']);
        expect(idsOf(await collection.find({}, { sort: { id: -1 } }))).toEqual(['p5', 'p4', 'p3', 'p2', 'p1']);
      });

      it('sorts on two fields in mixed directions', async () => {
        expect(idsOf(await collection.find({}, { sort: { group: 1, rank: -1 } }))).toEqual(['p5', 'p4', 'p1', 'p2', 'p3']);
        expect(idsOf(await collection.find({}, { sort: { group: -1, rank: 1 } }))).toEqual(['p3', 'p2', 'p1', 'p4', 'p5']);
      });

      it('applies skip and limit after the sort and the filter', async () => {
        expect(idsOf(await collection.find({}, { sort: { rank: 1 }, skip: 1, limit: 2 }))).toEqual(['p5', 'p2']);
        expect(idsOf(await collection.find({}, { sort: { rank: 1 }, skip: 3 }))).toEqual(['p1', 'p4']);
        expect(idsOf(await collection.find({ group: 'x' }, { sort: { rank: -1 }, limit: 1 }))).toEqual(['p4']);
        expect(await collection.find({}, { limit: 0 })).toEqual([]);
      });

      it('finds one document, the first in the sort order', async () => {
        expect((await collection.findOne({ group: 'y' }, { sort: { rank: -1 } }))?.id).toBe('p2');
        expect(await collection.findOne({ group: 'z' })).toBeNull();
      });
    });

    describe('updates', () => {
      it('sets top-level and dotted fields on every match, creating intermediate objects', async () => {
        const collection = await seeded([{ id: 'a', k: 1, keep: true }, { id: 'b', k: 1 }, { id: 'c', k: 2 }]);
        expect(await collection.update({ k: 1 }, { $set: { name: 'n', 'meta.by': 'me', 'meta.at': '2024-01-01' } })).toBe(2);
        expect(await collection.get('a')).toEqual({ id: 'a', k: 1, keep: true, name: 'n', meta: { by: 'me', at: '2024-01-01' } });
        expect(await collection.get('c')).toEqual({ id: 'c', k: 2 });
      });

      it('replaces a value with an object or an array', async () => {
        const collection = await seeded([{ id: 'a', v: 1 }]);
        await collection.update({ id: 'a' }, { $set: { v: { x: [1, 2] }, w: ['$notAnOperator'] } });
        expect(await collection.get('a')).toEqual({ id: 'a', v: { x: [1, 2] }, w: ['$notAnOperator'] });
      });

      it('unsets top-level and dotted fields, ignoring missing ones', async () => {
        const collection = await seeded([{ id: 'a', x: 1, y: 2, meta: { by: 'me', at: 't' } }]);
        await collection.update({ id: 'a' }, { $unset: { x: true, 'meta.by': '', nothing: 1, 'no.where': 1 } });
        expect(await collection.get('a')).toEqual({ id: 'a', y: 2, meta: { at: 't' } });
      });

      it('increments numbers, starting from 0 when the field is missing', async () => {
        const collection = await seeded([{ id: 'a', n: 5, stats: { views: 1 } }]);
        await collection.update({ id: 'a' }, { $inc: { n: 2, 'stats.views': 10, 'stats.likes': 1, fresh: -3 } });
        expect(await collection.get('a')).toEqual({ id: 'a', n: 7, stats: { views: 11, likes: 1 }, fresh: -3 });
      });

      it('pushes onto arrays, creating the array when missing', async () => {
        const collection = await seeded([{ id: 'a', tags: ['x'] }]);
        await collection.update({ id: 'a' }, { $push: { tags: 'y', items: { n: 1 }, 'meta.list': 1 } });
        await collection.update({ id: 'a' }, { $push: { items: { n: 2 } } });
        expect(await collection.get('a')).toEqual({ id: 'a', tags: ['x', 'y'], items: [{ n: 1 }, { n: 2 }], meta: { list: [1] } });
      });

      it('pulls every deep-equal element, and only those', async () => {
        const items = [{ a: 1, b: 2 }, { a: 1 }, { a: 1, b: 2, c: 3 }, { a: 1, b: 2 }, { a: 1, b: { c: 1 } }];
        const collection = await seeded([{ id: 'a', items, tags: ['x', 'y', 'x'], nums: [1, '1', true, 1], nested: { list: [[1, 2], [2, 1]] } }]);
        await collection.update(
          { id: 'a' },
          { $pull: { items: { a: 1, b: 2 }, tags: 'x', nums: 1, 'nested.list': [1, 2], missing: 'x' } },
        );
        expect(await collection.get('a')).toEqual({
          id: 'a',
          items: [{ a: 1 }, { a: 1, b: 2, c: 3 }, { a: 1, b: { c: 1 } }],
          tags: ['y'],
          nums: ['1', true],
          nested: { list: [[2, 1]] },
        });
        await collection.update({ id: 'a' }, { $pull: { items: { a: 1, b: { c: 1 } } } });
        expect((await collection.get('a'))?.items).toEqual([{ a: 1 }, { a: 1, b: 2, c: 3 }]);
      });

      it('applies several operators in one update', async () => {
        const collection = await seeded([{ id: 'a', n: 1, gone: 1, list: [1, 2] }]);
        await collection.update({ id: 'a' }, { $set: { s: 'x' }, $unset: { gone: 1 }, $inc: { n: 1 }, $push: { more: 1 }, $pull: { list: 2 } });
        expect(await collection.get('a')).toEqual({ id: 'a', n: 2, list: [1], s: 'x', more: [1] });
      });

      it('changes nothing and returns 0 when nothing matches', async () => {
        const collection = await seeded([{ id: 'a', k: 1 }]);
        expect(await collection.update({ k: 2 }, { $set: { x: 1 } })).toBe(0);
        expect(await collection.update({ id: 'b' }, { $set: { x: 1 } })).toBe(0);
        expect(await collection.find()).toEqual([{ id: 'a', k: 1 }]);
      });

      it('upserts a document built from the filter equalities and the update', async () => {
        const collection = store.collection(freshName());
        expect(await collection.update({ id: 'u1', kind: 'k' }, { $set: { name: 'first' }, $inc: { n: 1 }, $push: { log: 'a' } }, { upsert: true })).toBe(0);
        expect(await collection.get('u1')).toEqual({ id: 'u1', kind: 'k', name: 'first', n: 1, log: ['a'] });
        expect(await collection.update({ id: 'u1', kind: 'k' }, { $inc: { n: 1 }, $push: { log: 'b' } }, { upsert: true })).toBe(1);
        expect(await collection.get('u1')).toEqual({ id: 'u1', kind: 'k', name: 'first', n: 2, log: ['a', 'b'] });
        expect(await collection.count()).toBe(1);
      });

      it('refuses to change a document id', async () => {
        const collection = await seeded([{ id: 'a' }]);
        await expect(collection.update({ id: 'a' }, { $set: { id: 'b' } })).rejects.toThrow();
        expect(await collection.get('a')).toEqual({ id: 'a' });
      });
    });

    describe('indexes', () => {
      it('ensures an index idempotently, and queries still answer', async () => {
        const collection = await seeded([{ id: 'a', kin: 'k1', at: 2 }, { id: 'b', kin: 'k1', at: 1 }, { id: 'c', kin: 'k2', at: 3 }]);
        await collection.ensureIndex({ fields: { kin: 1, at: -1 } });
        await collection.ensureIndex({ fields: { kin: 1, at: -1 } });
        await collection.ensureIndex({ fields: { 'meta.x': 1 } });
        await collection.ensureIndex({ fields: { id: 1 } });
        expect(idsOf(await collection.find({ kin: 'k1' }, { sort: { at: -1 } }))).toEqual(['a', 'b']);
      });

      it('makes a unique index reject duplicates from insert, replace and update', async () => {
        const collection = await seeded([{ id: 'a', slug: 'one', team: { code: 'x' } }]);
        await collection.ensureIndex({ fields: { slug: 1 }, unique: true });
        await collection.ensureIndex({ fields: { slug: 1 }, unique: true });
        await collection.ensureIndex({ fields: { 'team.code': 1 }, unique: true });
        await expect(collection.insert({ id: 'b', slug: 'one' })).rejects.toBeInstanceOf(DuplicateKeyError);
        await expect(collection.insert({ id: 'b', slug: 'two', team: { code: 'x' } })).rejects.toBeInstanceOf(DuplicateKeyError);
        await collection.insert({ id: 'b', slug: 'two' });
        await expect(collection.replace({ id: 'b', slug: 'one' })).rejects.toBeInstanceOf(DuplicateKeyError);
        await expect(collection.update({ id: 'b' }, { $set: { slug: 'one' } })).rejects.toBeInstanceOf(DuplicateKeyError);
        expect(sortedIds(await collection.find({ slug: { $in: ['one', 'two'] } }))).toEqual(['a', 'b']);
        expect(await collection.get('b')).toEqual({ id: 'b', slug: 'two' });
      });

      it('lets documents missing a uniquely indexed field coexist', async () => {
        const collection = await seeded([{ id: 'a', email: 'a@x' }]);
        await collection.ensureIndex({ fields: { email: 1 }, unique: true });
        await collection.insert({ id: 'b' });
        await collection.insert({ id: 'c' });
        expect(await collection.count()).toBe(3);
      });
    });

    describe('transactions', () => {
      it('commits every write of the work together and returns its result', async () => {
        const [one, two] = [freshName(), freshName()];
        await store.collection(one).insert({ id: 'old', v: 1 });
        const result = await store.transaction(async (tx) => {
          await tx.collection(one).insert({ id: 'a', v: 1 });
          await tx.collection(one).update({ id: 'old' }, { $inc: { v: 1 } });
          await tx.collection(two).replace({ id: 'b', v: 2 });
          expect(await tx.collection(one).count()).toBe(2);
          return 'done';
        });
        expect(result).toBe('done');
        expect(sortedIds(await store.collection(one).find())).toEqual(['a', 'old']);
        expect(await store.collection(one).get('old')).toEqual({ id: 'old', v: 2 });
        expect(await store.collection(two).get('b')).toEqual({ id: 'b', v: 2 });
      });

      it('leaves nothing behind when the work throws', async () => {
        const [one, created] = [freshName(), freshName()];
        await store.collection(one).insert({ id: 'old', v: 1 });
        const failure = new Error('boom');
        await expect(
          store.transaction(async (tx) => {
            await tx.collection(one).insert({ id: 'a' });
            await tx.collection(one).update({ id: 'old' }, { $set: { v: 9 } });
            await tx.collection(created).insert({ id: 'b' });
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.collection(one).find()).toEqual([{ id: 'old', v: 1 }]);
        expect(await store.collection(created).get('b')).toBeNull();
        await store.collection(created).insert({ id: 'c' });
        expect(await store.collection(created).find()).toEqual([{ id: 'c' }]);
      });

      it('hides the writes of an open transaction from readers outside it until commit', async () => {
        const name = freshName();
        await store.collection(name).insert({ id: 'seed' });
        let workDone = false;
        let outside: Promise<{ doc: Doc | null; count: number; beforeCommit: boolean }> | undefined;
        await store.transaction(async (tx) => {
          await tx.collection(name).insert({ id: 'x', v: 1 });
          await new Promise((resolve) => setImmediate(resolve));
          const reader = store.collection(name);
          outside = Promise.all([reader.get('x'), reader.count()]).then(([doc, count]) => ({ doc, count, beforeCommit: !workDone }));
          await new Promise((resolve) => setTimeout(resolve, 50));
          workDone = true;
        });
        const seen = await outside!;
        // A reader either answered while the transaction was open, without its writes, or
        // waited for the commit and saw them all: never a partial or uncommitted state.
        if (seen.beforeCommit) expect(seen).toEqual({ doc: null, count: 1, beforeCommit: true });
        else expect(seen).toEqual({ doc: { id: 'x', v: 1 }, count: 2, beforeCommit: false });
        expect(await store.collection(name).get('x')).toEqual({ id: 'x', v: 1 });
      });

      it('runs a nested transaction as part of the enclosing one', async () => {
        const name = freshName();
        await expect(
          store.transaction(async (tx) => {
            await tx.transaction(async (inner) => inner.collection(name).insert({ id: 'a' }));
            throw new Error('outer fails');
          }),
        ).rejects.toThrow('outer fails');
        expect(await store.collection(name).get('a')).toBeNull();
        await store.transaction((tx) => tx.transaction((inner) => inner.collection(name).insert({ id: 'b' })));
        expect(await store.collection(name).get('b')).toEqual({ id: 'b' });
      });
    });

    describe('search index', () => {
      const freshIndex = (): SearchIndex => store.searchIndex(freshName());
      const entry = (id: string, text: string, vector: number[] | null, fields: IndexEntry['fields'] = {}): IndexEntry => ({
        id,
        text,
        vector,
        fields,
      });
      const hitIds = (hits: { id: string }[]) => hits.map((hit) => hit.id);
      const seededIndex = async (entries: IndexEntry[]): Promise<SearchIndex> => {
        const index = freshIndex();
        for (const one of entries) await index.upsert(one);
        return index;
      };

      describe('entries', () => {
        it('reads an entry back as it was upserted, and an upsert replaces it whole', async () => {
          const index = freshIndex();
          const first = entry('e1', 'First text', [0.5, -0.25, 1, 2], { kinId: 'k1', scope: 'private', n: 3, on: true, none: null });
          await index.upsert(first);
          expect(await index.get('e1')).toEqual(first);
          const second = entry('e1', 'Second text', null, { kinId: 'k2' });
          await index.upsert(second);
          expect(await index.get('e1')).toEqual(second);
          expect(await index.count()).toBe(1);
          expect(await index.get('nope')).toBeNull();
        });

        it('answers empty from an index never written', async () => {
          const index = freshIndex();
          expect(await index.get('a')).toBeNull();
          expect(await index.count()).toBe(0);
          expect(await index.textSearch('anything', { limit: 5 })).toEqual([]);
          expect(await index.vectorSearch([1, 0], { limit: 5 })).toEqual([]);
          expect(await index.deleteWhere({ kinId: 'k' })).toBe(0);
          await index.delete('a');
          await index.setVector('a', [1, 0]);
          expect(await index.count()).toBe(0);
        });

        it('counts with filters over the fields, "this Kin or shared" included', async () => {
          const index = await seededIndex([
            entry('a', 'one', [1, 0], { kinId: 'k1', scope: 'private', n: 1 }),
            entry('b', 'two', [1, 0], { kinId: 'k2', scope: 'shared', n: 2 }),
            entry('c', 'three', null, { kinId: 'k2', scope: 'private', n: 3 }),
            entry('d', 'four', [1, 0], { kinId: 'k3' }),
          ]);
          expect(await index.count({ kinId: 'k2' })).toBe(2);
          expect(await index.count({ $or: [{ kinId: 'k1' }, { scope: 'shared' }] })).toBe(2);
          expect(await index.count({ n: { $gte: 2 } })).toBe(2);
          expect(await index.count({ scope: null })).toBe(1);
          expect(await index.count({ scope: { $ne: 'shared' } })).toBe(3);
          expect(await index.count({ kinId: { $in: ['k1', 'k3'] } })).toBe(2);
          expect(await index.count({ id: 'c' })).toBe(1);
        });

        it('deletes one entry, or every entry whose fields match, and searches forget them', async () => {
          const index = await seededIndex([
            entry('a', 'apple', [1, 0], { kinId: 'k1' }),
            entry('b', 'apple', [1, 0], { kinId: 'k2' }),
            entry('c', 'apple', [1, 0], { kinId: 'k2' }),
            entry('d', 'apple', [1, 0], { kinId: 'k3' }),
          ]);
          await index.delete('a');
          await index.delete('zzz');
          expect(await index.get('a')).toBeNull();
          expect(await index.deleteWhere({ kinId: 'k2' })).toBe(2);
          expect(await index.deleteWhere({ kinId: 'nobody' })).toBe(0);
          expect(await index.count()).toBe(1);
          expect(hitIds(await index.textSearch('apple', { limit: 10 }))).toEqual(['d']);
          expect(hitIds(await index.vectorSearch([1, 0], { limit: 10 }))).toEqual(['d']);
        });

        it('rejects unsafe names, fields that are not flat scalars, bad vectors and filters outside the subset', async () => {
          expect(() => store.searchIndex('bad-name; DROP TABLE x')).toThrow();
          const index = freshIndex();
          const invalid = [
            entry('a', 't', null, { nested: { a: 1 } } as unknown as IndexEntry['fields']),
            entry('a', 't', null, { 'a.b': 1 }),
            entry('a', 't', [1, Number.NaN]),
            entry('a', 't', []),
            entry('', 't', null),
          ];
          for (const bad of invalid) await expect(index.upsert(bad)).rejects.toThrow();
          await expect(index.setVector('a', ['x'] as unknown as number[])).rejects.toThrow();
          await expect(index.textSearch('apple', { limit: 5, filter: { $nor: [{ a: 1 }] } as unknown as Filter })).rejects.toThrow();
          await expect(index.vectorSearch([1], { limit: 5, filter: { kinId: { $regex: 'k' } } as unknown as Filter })).rejects.toThrow();
          await expect(index.textSearch('apple', { limit: -1 })).rejects.toThrow();
          expect(await index.count()).toBe(0);
        });
      });

      describe('text search', () => {
        let index: SearchIndex;
        beforeAll(async () => {
          index = await seededIndex([
            entry('t1', 'apple banana cherry date', null, { kinId: 'k1', scope: 'private' }),
            entry('t2', 'apple apple cherry date', null, { kinId: 'k2', scope: 'private' }),
            entry('t3', 'banana cherry elder fig', null, { kinId: 'k2', scope: 'shared' }),
            entry('t4', 'grape honeydew kiwi lemon', null, { kinId: 'k1', scope: 'private' }),
            entry('t5', 'mango nectarine orange papaya', null, { kinId: 'k1', scope: 'private' }),
            entry('t6', 'quince raspberry strawberry tangerine', null, { kinId: 'k3', scope: 'private' }),
            entry('t7', 'Le café crème est délicieux', null, { kinId: 'k3', scope: 'private' }),
            entry('t8', 'memorable memories of Memphis', null, { kinId: 'k3', scope: 'private' }),
          ]);
        });
        const search = async (query: string, options: Partial<TextSearchOptions> = {}) =>
          hitIds(await index.textSearch(query, { limit: 10, ...options }));

        it('ranks an entry with the term twice above one with it once, with positive scores', async () => {
          const hits = await index.textSearch('apple', { limit: 10 });
          expect(hitIds(hits)).toEqual(['t2', 't1']);
          expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
          expect(hits[1]!.score).toBeGreaterThan(0);
        });

        it('needs every term by default, and any term with match any, more terms ranking first', async () => {
          expect(await search('apple banana')).toEqual(['t1']);
          expect(await search('apple banana', { match: 'all' })).toEqual(['t1']);
          expect(await search('apple banana', { match: 'any' })).toEqual(['t1', 't2', 't3']);
          expect(await search('apple kiwi')).toEqual([]);
        });

        it('matches every term as a prefix of a word', async () => {
          expect(await search('memo')).toEqual(['t8']);
          expect(await search('memph')).toEqual(['t8']);
          expect((await search('ban')).sort()).toEqual(['t1', 't3']);
          expect(await search('pple')).toEqual([]);
        });

        it('ignores punctuation and query syntax', async () => {
          expect(await search('"apple" (banana)!')).toEqual(['t1']);
          expect(await search('apple:banana')).toEqual(['t1']);
          expect(await search('apple* ^banana~ {cherry}')).toEqual(['t1']);
          expect(await search('"unbalanced (quote')).toEqual([]);
        });

        it('folds case and diacritics, in the text and in the query', async () => {
          expect(await search('cafe')).toEqual(['t7']);
          expect(await search('CAFÉ')).toEqual(['t7']);
          expect(await search('delicieux creme')).toEqual(['t7']);
          expect(await search('MEMPHIS')).toEqual(['t8']);
        });

        it('drops terms shorter than three characters, and finds nothing without a term', async () => {
          expect(await search('le apple')).toEqual(['t2', 't1']);
          expect(await search('of le')).toEqual([]);
          expect(await search('')).toEqual([]);
          expect(await search('!! ()')).toEqual([]);
        });

        it('filters on fields, and returns at most limit hits', async () => {
          const thisKinOrShared = { $or: [{ kinId: 'k1' }, { scope: 'shared' }] };
          expect(await search('apple banana', { match: 'any', filter: thisKinOrShared })).toEqual(['t1', 't3']);
          expect(await search('cherry', { filter: { kinId: 'k2' } })).toHaveLength(2);
          expect(await search('cherry', { limit: 2 })).toHaveLength(2);
          expect(await search('cherry', { limit: 0 })).toEqual([]);
        });

        it('finds an entry by its new text only once the text is replaced', async () => {
          const own = await seededIndex([entry('a', 'original wording', null), entry('b', 'unrelated', null)]);
          await own.upsert(entry('a', 'replacement phrasing', null));
          expect(hitIds(await own.textSearch('original', { limit: 5 }))).toEqual([]);
          expect(hitIds(await own.textSearch('replacement', { limit: 5 }))).toEqual(['a']);
        });
      });

      describe('vector search', () => {
        const corpus = () => [
          entry('v1', 'one', [1, 0, 0], { kinId: 'k1', scope: 'private' }),
          entry('v2', 'two', [1, 1, 0], { kinId: 'k2', scope: 'private' }),
          entry('v3', 'three', [0, 1, 0], { kinId: 'k2', scope: 'shared' }),
          entry('v4', 'four', [-1, 0, 0], { kinId: 'k1', scope: 'private' }),
          entry('v5', 'five', [2, 0.2, 0], { kinId: 'k3', scope: 'shared' }),
          entry('n1', 'no vector', null, { kinId: 'k1', scope: 'private' }),
          entry('w1', 'other dimension', [1, 0], { kinId: 'k1', scope: 'private' }),
        ];
        let index: SearchIndex;
        beforeAll(async () => {
          index = await seededIndex(corpus());
        });

        it('orders by cosine similarity, best first, never returning an entry without a vector', async () => {
          const hits = await index.vectorSearch([3, 0, 0], { limit: 10 });
          expect(hitIds(hits)).toEqual(['v1', 'v5', 'v2', 'v3', 'v4']);
          const expected = [1, 2 / Math.sqrt(4.04), Math.SQRT1_2, 0, -1];
          hits.forEach((hit, i) => expect(hit.similarity).toBeCloseTo(expected[i]!, 5));
        });

        it('keeps only hits at or above minSimilarity, and at most limit', async () => {
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 10, minSimilarity: 0.7 }))).toEqual(['v1', 'v5', 'v2']);
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 2 }))).toEqual(['v1', 'v5']);
          expect(await index.vectorSearch([1, 0, 0], { limit: 0 })).toEqual([]);
          expect(await index.vectorSearch([1, 0, 0], { limit: 10, minSimilarity: 1.5 })).toEqual([]);
        });

        it('filters on fields, "this Kin or shared" included', async () => {
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 10, filter: { kinId: 'k2' } }))).toEqual(['v2', 'v3']);
          const thisKinOrShared = { $or: [{ kinId: 'k1' }, { scope: 'shared' }] };
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 10, filter: thisKinOrShared }))).toEqual(['v1', 'v5', 'v3', 'v4']);
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 1, filter: { scope: { $ne: 'shared' } } }))).toEqual(['v1']);
          expect(await index.vectorSearch([1, 0, 0], { limit: 10, filter: { kinId: 'nobody' } })).toEqual([]);
        });

        it('compares only vectors of the query dimension', async () => {
          expect(hitIds(await index.vectorSearch([0, 5], { limit: 10 }))).toEqual(['w1']);
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 10 }))).not.toContain('w1');
        });

        it('adds, changes and removes a vector with setVector, leaving text and fields alone', async () => {
          const own = await seededIndex(corpus());
          await own.vectorSearch([0, 0, 1], { limit: 1 });
          await own.setVector('n1', [0, 0, 1]);
          expect(hitIds(await own.vectorSearch([0, 0, 1], { limit: 1 }))).toEqual(['n1']);
          await own.setVector('n1', [0, -1, 0]);
          expect(hitIds(await own.vectorSearch([0, -1, 0], { limit: 1 }))).toEqual(['n1']);
          await own.setVector('v1', null);
          expect(hitIds(await own.vectorSearch([1, 0, 0], { limit: 10 }))).not.toContain('v1');
          expect(await own.get('v1')).toEqual(entry('v1', 'one', null, { kinId: 'k1', scope: 'private' }));
          expect(hitIds(await own.textSearch('one', { limit: 5 }))).toEqual(['v1']);
          await own.setVector('missing', [1, 0, 0]);
          expect(await own.get('missing')).toBeNull();
        });

        it('sees upserts and deletes made after a search', async () => {
          const own = await seededIndex(corpus());
          expect(hitIds(await own.vectorSearch([0, 0, 1], { limit: 1 }))).toEqual(['v1']);
          await own.upsert(entry('z', 'zed', [0, 0, 1], { kinId: 'k9' }));
          expect(hitIds(await own.vectorSearch([0, 0, 1], { limit: 1 }))).toEqual(['z']);
          await own.upsert(entry('z', 'zed', [0, 0, 1], { kinId: 'k8' }));
          expect(hitIds(await own.vectorSearch([0, 0, 1], { limit: 1, filter: { kinId: 'k9' } }))).toEqual([]);
          await own.delete('z');
          await own.deleteWhere({ kinId: 'k2' });
          expect(hitIds(await own.vectorSearch([0, 1, 0], { limit: 10 }))).toEqual(['v5', 'v1', 'v4']);
        });
      });

      describe('in transactions', () => {
        it('commits index writes with the transaction, and a rolled-back transaction leaves none', async () => {
          const name = freshName();
          const index = store.searchIndex(name);
          await index.upsert(entry('a', 'apple', [1, 0, 0], { kinId: 'k1' }));
          await index.upsert(entry('c', 'cherry', [0, 0, 1], { kinId: 'k1' }));
          // Searched first, so that an adapter holding vectors in memory has them loaded.
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 1 }))).toEqual(['a']);
          await expect(
            store.transaction(async (tx) => {
              const inside = tx.searchIndex(name);
              await tx.collection(name).insert({ id: 'doc' });
              await inside.upsert(entry('b', 'apple banana', [0.9, 0.1, 0], { kinId: 'k1' }));
              await inside.delete('a');
              await inside.setVector('c', [1, 0, 0]);
              await inside.deleteWhere({ kinId: 'nobody' });
              expect(hitIds(await inside.vectorSearch([1, 0, 0], { limit: 3 }))).toEqual(['c', 'b']);
              expect(hitIds(await inside.textSearch('apple', { limit: 3 }))).toEqual(['b']);
              throw new Error('boom');
            }),
          ).rejects.toThrow('boom');
          expect(await store.collection(name).get('doc')).toBeNull();
          expect(await index.get('b')).toBeNull();
          expect(await index.get('a')).toEqual(entry('a', 'apple', [1, 0, 0], { kinId: 'k1' }));
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 3 }))).toEqual(['a', 'c']);
          expect(hitIds(await index.textSearch('apple', { limit: 3 }))).toEqual(['a']);
          expect(await index.textSearch('banana', { limit: 3 })).toEqual([]);

          await store.transaction(async (tx) => {
            await tx.searchIndex(name).upsert(entry('b', 'apple banana', [0.9, 0.1, 0], { kinId: 'k1' }));
            await tx.searchIndex(name).delete('a');
          });
          expect(hitIds(await index.vectorSearch([1, 0, 0], { limit: 3 }))).toEqual(['b', 'c']);
          expect(hitIds(await index.textSearch('apple', { limit: 3 }))).toEqual(['b']);
        });

        it('hides the index writes of an open transaction from readers outside it until commit', async () => {
          const name = freshName();
          const index = store.searchIndex(name);
          await index.upsert(entry('seed', 'seed words', [0, 1], {}));
          expect(await index.vectorSearch([1, 0], { limit: 5 })).toHaveLength(1);
          let workDone = false;
          let outside: Promise<{ ids: string[]; texts: string[]; count: number; beforeCommit: boolean }> | undefined;
          await store.transaction(async (tx) => {
            await tx.searchIndex(name).upsert(entry('x', 'fresh words', [1, 0], {}));
            await new Promise((resolve) => setImmediate(resolve));
            outside = Promise.all([
              index.vectorSearch([1, 0], { limit: 5 }),
              index.textSearch('fresh', { limit: 5 }),
              index.count(),
            ]).then(([vectors, texts, count]) => ({ ids: hitIds(vectors), texts: hitIds(texts), count, beforeCommit: !workDone }));
            await new Promise((resolve) => setTimeout(resolve, 50));
            workDone = true;
          });
          const seen = await outside!;
          // Either answered before the commit, without the write, or after it, with it: never between.
          if (seen.beforeCommit) expect(seen).toEqual({ ids: ['seed'], texts: [], count: 1, beforeCommit: true });
          else expect(seen).toEqual({ ids: ['x', 'seed'], texts: ['x'], count: 2, beforeCommit: false });
        });
      });

      describe('rebuilds', () => {
        it('drops the search index with the collection of the same name, and starts over from nothing', async () => {
          const name = freshName();
          await store.collection(name).insert({ id: 'doc' });
          const index = store.searchIndex(name);
          await index.upsert(entry('old', 'old words', [1, 0], { kinId: 'k1' }));
          expect(hitIds(await index.vectorSearch([1, 0], { limit: 5 }))).toEqual(['old']);
          await store.dropCollection(name);
          expect(await index.count()).toBe(0);
          expect(await index.get('old')).toBeNull();
          expect(await index.vectorSearch([1, 0], { limit: 5 })).toEqual([]);
          expect(await index.textSearch('old', { limit: 5 })).toEqual([]);
          await index.upsert(entry('new', 'new words', [1, 0], { kinId: 'k1' }));
          expect(hitIds(await index.vectorSearch([1, 0], { limit: 5 }))).toEqual(['new']);
          expect(hitIds(await index.textSearch('words', { limit: 5 }))).toEqual(['new']);
          expect(await index.count({ kinId: 'k1' })).toBe(1);
        });

        it('is not listed among the collections', async () => {
          const name = freshName();
          await store.searchIndex(name).upsert(entry('a', 'text', null));
          const listed = await store.listCollections();
          expect(listed.filter((collection) => collection.includes(name))).toEqual([]);
          await store.dropCollection(name);
        });
      });
    });

    describe('collections', () => {
      it('lists collections and drops one with its documents and indexes', async () => {
        const name = freshName();
        await store.collection(name).insert({ id: 'a', slug: 's' });
        await store.collection(name).ensureIndex({ fields: { slug: 1 }, unique: true });
        expect(await store.listCollections()).toContain(name);
        await store.dropCollection(name);
        expect(await store.listCollections()).not.toContain(name);
        expect(await store.collection(name).count()).toBe(0);
        await store.collection(name).insert({ id: 'b', slug: 's' });
        await store.collection(name).insert({ id: 'c', slug: 's' });
        expect(await store.collection(name).count()).toBe(2);
      });

      it('drops a collection that does not exist without complaint', async () => {
        await store.dropCollection(freshName());
      });

      it('answers a ping', async () => {
        await store.ping();
      });
    });
  });
}
