import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCommandRunner, type RunCommand } from '../../src/es/commandRunner.js';
import type { Decider } from '../../src/es/decider.js';
import type { EventStore, NewEvent, ReadStreamOptions, RecordedEvent } from '../../src/es/eventStore.js';
import { openSqlite, type SqliteHandle } from '../../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../../src/stores/sqlite/eventStore.js';

/**
 * A decider whose every event records the state it was decided on (`seen`), so that a stream can
 * be checked afterwards: each decided event must have seen exactly the values of the events before
 * it, which is what a full fold gives.
 */
type Added = { type: 'Added'; data: { value: string; seen: string[] | null } };
type State = { values: string[] };
type Command = { type: 'Add'; value: string } | { type: 'Nothing' };

const listDecider: Decider<State, Command, Added> = {
  initialState: () => ({ values: [] }),
  evolve: (state, event) => ({ values: [...state.values, event.data.value] }),
  decide: (command, state) =>
    command.type === 'Add' ? [{ type: 'Added', data: { value: command.value, seen: state.values } }] : [],
};

const parseAdded = (recorded: RecordedEvent): Added => ({ type: 'Added', data: recorded.data as Added['data'] });

const metadata = { actor: { kind: 'system' as const, id: 'test' }, correlationId: 'c', now: new Date('2025-01-01T00:00:00Z') };

/** An event appended by a writer that does not decide (another process, a raw append). */
const rawAdded = (value: string): NewEvent => ({
  type: 'Added',
  data: { value, seen: null },
  metadata: { ...metadata, causationId: 'c', occurredAt: metadata.now.toISOString(), schemaVersion: 1 },
});

const add = (run: RunCommand, stream: string, value: string) =>
  run({ stream, decider: listDecider, parse: parseAdded, command: { type: 'Add', value }, metadata });

const nothing = (run: RunCommand, stream: string) =>
  run({ stream, decider: listDecider, parse: parseAdded, command: { type: 'Nothing' }, metadata });

/** Every decided event saw exactly the values before it in the stream (as readStream shows it). */
async function expectDecidedOnFullFolds(store: EventStore, stream: string): Promise<number> {
  const recorded = await store.readStream(stream);
  const data = recorded.map((e) => e.data as Added['data']);
  let decided = 0;
  data.forEach((event, index) => {
    if (event.seen === null) return;
    expect(event.seen).toEqual(data.slice(0, index).map((e) => e.value));
    decided++;
  });
  return decided;
}

/** Records every readStream call made through it. */
function spied(store: EventStore) {
  const reads: Array<ReadStreamOptions | undefined> = [];
  const spy: EventStore = {
    ...store,
    readStream: (stream, options) => {
      reads.push(options);
      return store.readStream(stream, options);
    },
  };
  return { store: spy, reads };
}

describe('command runner with a fold cache', () => {
  const dirs: string[] = [];
  const handles: SqliteHandle[] = [];
  const stores: EventStore[] = [];

  function open(file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kinbot-runner-')), 'kinbot.db')) {
    dirs.push(path.dirname(file));
    const handle = openSqlite(file);
    const store = createSqliteEventStore(handle);
    handles.push(handle);
    stores.push(store);
    return { store, file };
  }

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const handle of handles.splice(0)) handle.db.close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('appends the same events as a runner without cache, with other writers appending between commands', async () => {
    const script = async (store: EventStore, run: RunCommand, otherRunner: RunCommand) => {
      const statesSeen: string[][] = [];
      for (let step = 0; step < 60; step++) {
        const stream = `list-${step % 3}`;
        if (step % 7 === 3) await store.append(stream, [rawAdded(`raw ${step}`)], 'any');
        else if (step % 5 === 1) await add(otherRunner, stream, `other ${step}`);
        else if (step % 11 === 0) statesSeen.push((await nothing(run, stream)).state.values);
        else await add(run, stream, `mine ${step}`);
      }
      const streams = await Promise.all([0, 1, 2].map(async (n) => (await store.readStream(`list-${n}`)).map((e) => [e.type, e.data])));
      return { streams, statesSeen };
    };
    const plain = open();
    const cached = open();
    const withoutCache = await script(
      plain.store,
      createCommandRunner(plain.store, { cacheSize: 0 }),
      createCommandRunner(plain.store, { cacheSize: 0 }),
    );
    // The other runner has its own cache, as another process would.
    const withCache = await script(cached.store, createCommandRunner(cached.store), createCommandRunner(cached.store));
    expect(withCache).toEqual(withoutCache);
    expect(withCache.streams.flat()).toHaveLength(60 - 5);
  });

  it('decides on exactly the state a full fold gives while runners and another connection write at once', async () => {
    const { store, file } = open();
    const { store: otherConnection } = open(file);
    // Enough attempts that no command gives up with a 409 while nine race for two streams.
    const runners = [store, store, otherConnection].map((eventStore) => createCommandRunner(eventStore, { maxAttempts: 50 }));
    const streams = ['busy-a', 'busy-b'];
    for (let round = 0; round < 15; round++) {
      await Promise.all([
        ...runners.flatMap((run, r) => streams.map((stream) => add(run, stream, `r${r} round ${round}`))),
        otherConnection.append(streams[round % 2]!, [rawAdded(`raw ${round}`)], 'any'),
      ]);
    }
    for (const stream of streams) {
      expect(await expectDecidedOnFullFolds(store, stream)).toBe(3 * 15);
    }
  });

  it('reads only the events after the cached revision, and nothing when the stream has not moved', async () => {
    const { store } = open();
    const { store: spy, reads } = spied(store);
    const run = createCommandRunner(spy);
    for (let i = 0; i < 5; i++) await add(run, 'list-1', `value ${i}`);
    await store.append('list-1', [rawAdded('from another writer')], 4);
    reads.length = 0;

    const result = await add(run, 'list-1', 'last');
    expect(reads).toEqual([{ fromRevision: 4 }]);
    expect(result.events[0]!.data.seen).toEqual(['value 0', 'value 1', 'value 2', 'value 3', 'value 4', 'from another writer']);

    await nothing(run, 'list-1');
    reads.length = 0;
    const unchanged = await nothing(run, 'list-1');
    expect(reads).toEqual([]);
    expect(unchanged.state.values).toHaveLength(7);
    expect(unchanged.revision).toBe(6);
  });

  it('folds a truncated or deleted stream from its first readable event, as a full fold does', async () => {
    const { store } = open();
    const run = createCommandRunner(store);
    for (let i = 0; i < 4; i++) await add(run, 'list-1', `value ${i}`);
    await nothing(run, 'list-1');

    await store.setStreamMetadata('list-1', { truncateBefore: 2 });
    expect((await add(run, 'list-1', 'after truncation')).events[0]!.data.seen).toEqual(['value 2', 'value 3']);
    await store.setStreamMetadata('list-1', {});
    expect((await nothing(run, 'list-1')).state.values).toEqual(['value 0', 'value 1', 'value 2', 'value 3', 'after truncation']);

    await store.deleteStream('list-1');
    const recreated = await add(run, 'list-1', 'after delete');
    expect(recreated.events[0]!.data.seen).toEqual([]);
    expect(recreated.revision).toBe(5);
  });

  it('folds the whole stream again when it was truncated between the version check and the read', async () => {
    const { store } = open();
    let truncateAfterCheck = false;
    const racing: EventStore = {
      ...store,
      streamVersion: async (stream) => {
        const version = await store.streamVersion(stream);
        if (truncateAfterCheck) await store.setStreamMetadata(stream, { truncateBefore: 3 });
        return version;
      },
    };
    const run = createCommandRunner(racing);
    for (let i = 0; i < 3; i++) await add(run, 'list-1', `value ${i}`);
    await store.append('list-1', [rawAdded('value 3'), rawAdded('value 4')], 2);
    truncateAfterCheck = true;
    expect((await add(run, 'list-1', 'last')).events[0]!.data.seen).toEqual(['value 3', 'value 4']);
  });

  it('drops the cached state of a stream when an append conflicts, and decides again on a full fold', async () => {
    const { store } = open();
    const { store: spy, reads } = spied(store);
    let interfere = false;
    const racing: EventStore = {
      ...spy,
      // Another writer wins the race between this runner's read and its append.
      append: async (stream, events, expected) => {
        if (interfere) {
          interfere = false;
          await store.append(stream, [rawAdded('won the race')], 'any');
        }
        return store.append(stream, events, expected);
      },
    };
    const run = createCommandRunner(racing);
    await add(run, 'list-1', 'first');
    await add(run, 'list-1', 'second');
    interfere = true;
    reads.length = 0;

    const result = await add(run, 'list-1', 'third');
    expect(reads).toEqual([{ fromRevision: 1 }, undefined]);
    expect(result.events[0]!.data.seen).toEqual(['first', 'second', 'won the race']);
    expect(await expectDecidedOnFullFolds(store, 'list-1')).toBe(3);
  });

  it('keeps at most cacheSize streams, dropping the least recently used', async () => {
    const { store } = open();
    const { store: spy, reads } = spied(store);
    const run = createCommandRunner(spy, { cacheSize: 2 });
    await nothing(run, 'list-a');
    await nothing(run, 'list-b');
    await nothing(run, 'list-a');
    await nothing(run, 'list-c');
    reads.length = 0;

    await add(run, 'list-a', 'kept');
    await add(run, 'list-b', 'dropped');
    // list-a was cached at -1 and had not moved; list-b had been evicted and is read in full.
    expect(reads).toEqual([undefined]);
  });

  it('keeps one cached state per decider for the same stream', async () => {
    const { store } = open();
    const counter: Decider<{ count: number }, Command, Added> = {
      initialState: () => ({ count: 0 }),
      evolve: (state) => ({ count: state.count + 1 }),
      decide: () => [],
    };
    const run = createCommandRunner(store);
    await add(run, 'list-1', 'one');
    await add(run, 'list-1', 'two');
    const counted = await run({ stream: 'list-1', decider: counter, parse: parseAdded, command: { type: 'Nothing' }, metadata });
    const listed = await nothing(run, 'list-1');
    expect(counted.state).toEqual({ count: 2 });
    expect(listed.state).toEqual({ values: ['one', 'two'] });
  });
});
