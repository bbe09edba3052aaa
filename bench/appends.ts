import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import type { EventStore, ExpectedRevision, NewEvent } from '../src/es/eventStore.js';
import { openSqlite } from '../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../src/stores/sqlite/eventStore.js';
import { benchDuration, isMain, note, perSecond, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * Raw append throughput of the SQLite EventStore adapter (WAL, synchronous=NORMAL), through the
 * port: every append checks an expected revision, as the command runner does. Each case gets a
 * fresh database and stops at its event count or its time budget, whichever comes first.
 */

const STREAMS = 1_000;
const SINGLE_APPENDS = 20_000;
const BATCH_SIZE = 100;
const BATCHES = 1_000;
const CALLERS = 10;
const APPENDS_PER_CALLER = 2_000;

const metadata = { actor: { kind: 'system' as const, id: 'bench' }, correlationId: uuidv7(), causationId: uuidv7(), schemaVersion: 1 };

/** A small, realistic payload (roughly the size of a KinUpdated event). */
const newEvent = (n: number): NewEvent => ({
  type: 'BenchHappened',
  data: { n, kinId: uuidv7(), changes: { name: `Kin ${n}`, role: 'benchmark' }, updatedAt: new Date().toISOString() },
  metadata: { ...metadata, occurredAt: new Date().toISOString() },
});

/** Tracks each stream's last revision, so every append states exactly what it expects. */
function revisions() {
  const last = new Map<string, number>();
  return {
    expected: (stream: string): ExpectedRevision => last.get(stream) ?? 'no_stream',
    record: (stream: string, revision: number) => last.set(stream, revision),
  };
}

type Outcome = { appends: number; events: number; seconds: number };

async function withStore(work: (store: EventStore, deadline: number) => Promise<Omit<Outcome, 'seconds'>>): Promise<Outcome> {
  return withTempDir('appends', async (dir) => {
    const handle = openSqlite(path.join(dir, 'kinbot.db'));
    const store = createSqliteEventStore(handle);
    try {
      const started = performance.now();
      const counts = await work(store, started + benchDuration() * 1000);
      return { ...counts, seconds: (performance.now() - started) / 1000 };
    } finally {
      await store.close();
      handle.db.close();
    }
  });
}

/** One event per append, round-robin over the streams. */
const singleAppends = () =>
  withStore(async (store, deadline) => {
    const revs = revisions();
    let appends = 0;
    while (appends < SINGLE_APPENDS && performance.now() < deadline) {
      const stream = `bench-${appends % STREAMS}`;
      const result = await store.append(stream, [newEvent(appends)], revs.expected(stream));
      revs.record(stream, result.nextRevision);
      appends++;
    }
    return { appends, events: appends };
  });

/** BATCH_SIZE events per append, each batch to the next of 100 streams. */
const batchedAppends = () =>
  withStore(async (store, deadline) => {
    const revs = revisions();
    let appends = 0;
    while (appends < BATCHES && performance.now() < deadline) {
      const stream = `bench-${appends % 100}`;
      const batch = Array.from({ length: BATCH_SIZE }, (_, i) => newEvent(appends * BATCH_SIZE + i));
      const result = await store.append(stream, batch, revs.expected(stream));
      revs.record(stream, result.nextRevision);
      appends++;
    }
    return { appends, events: appends * BATCH_SIZE };
  });

/** CALLERS async callers appending at once, each to its own share of the streams. */
const concurrentAppends = () =>
  withStore(async (store, deadline) => {
    const perCaller = STREAMS / CALLERS;
    const counts = await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        const revs = revisions();
        let appends = 0;
        while (appends < APPENDS_PER_CALLER && performance.now() < deadline) {
          const stream = `bench-${caller * perCaller + (appends % perCaller)}`;
          const result = await store.append(stream, [newEvent(appends)], revs.expected(stream));
          revs.record(stream, result.nextRevision);
          appends++;
        }
        return appends;
      }),
    );
    const appends = counts.reduce((sum, n) => sum + n, 0);
    return { appends, events: appends };
  });

const row = (benchmark: string, outcome: Outcome): Row => ({
  benchmark,
  appends: outcome.appends,
  events: outcome.events,
  seconds: round(outcome.seconds, 2),
  'appends/s': perSecond(outcome.appends, outcome.seconds),
  'events/s': perSecond(outcome.events, outcome.seconds),
});

export async function benchAppends(): Promise<Section> {
  note(`appends: ${SINGLE_APPENDS} single-event appends over ${STREAMS} streams…`);
  const single = row(`single event, ${STREAMS} streams`, await singleAppends());
  note(`appends: ${BATCHES} batches of ${BATCH_SIZE}…`);
  const batched = row(`batches of ${BATCH_SIZE} events`, await batchedAppends());
  note(`appends: ${CALLERS} concurrent callers…`);
  const concurrent = row(`${CALLERS} concurrent callers, single event`, await concurrentAppends());
  return {
    title: `SQLite event store appends (expected revision checked; budget ${benchDuration()} s per case)`,
    rows: [single, batched, concurrent],
  };
}

if (isMain(import.meta.url)) printSections([await benchAppends()]);
