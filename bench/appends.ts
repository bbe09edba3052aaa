import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { createKin, updateKin } from '../src/commands/kins.js';
import { createCommandRunner } from '../src/es/commandRunner.js';
import type { EventStore, ExpectedRevision, NewEvent } from '../src/es/eventStore.js';
import { openSqlite } from '../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../src/stores/sqlite/eventStore.js';
import { createSqliteReadStore } from '../src/stores/sqlite/readStore.js';
import { benchDuration, isMain, note, perSecond, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * Write throughput of the SQLite EventStore adapter (WAL), through the port: every append checks
 * an expected revision, as the command runner does. Each case gets a fresh database and stops at
 * its count or its time budget, whichever comes first.
 *
 * "before" is one transaction per append and a command runner that folds every stream from its
 * start; "after" is group commit and the runner's fold cache. The two run alternately in one
 * process, so that they share the machine's load of the moment.
 */

const STREAMS = 1_000;
const SINGLE_APPENDS = 20_000;
const BATCH_SIZE = 100;
const BATCHES = 1_000;
const CALLERS = 10;
const APPENDS_PER_CALLER = 2_000;
const KINS = 2_000;
/** Updates of one Kin: its stream grows by one event per update, as a busy stream does. */
const UPDATES = 2_000;
/** Before and after alternate this many times per case, first one then the other leading, so
 * that both see the same machine load and neither always follows the other's clean-up. */
const ROUNDS = 4;

type Setup = { label: 'before' | 'after'; groupCommit: boolean; cacheSize: number };
const BEFORE: Setup = { label: 'before', groupCommit: false, cacheSize: 0 };
const AFTER: Setup = { label: 'after', groupCommit: true, cacheSize: 10_000 };

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
type Store = { store: EventStore; dir: string; handle: ReturnType<typeof openSqlite> };

type Work = (store: Store, deadline: number) => Promise<Omit<Outcome, 'seconds'>>;

async function timed(setup: Setup, synchronous: 'NORMAL' | 'FULL', work: Work): Promise<Outcome> {
  return withTempDir('appends', async (dir) => {
    const handle = openSqlite(path.join(dir, 'kinbot.db'));
    handle.db.pragma(`synchronous = ${synchronous}`);
    const store = createSqliteEventStore(handle, { groupCommit: setup.groupCommit });
    try {
      const started = performance.now();
      const counts = await work({ store, dir, handle }, started + (benchDuration() * 1000) / ROUNDS);
      return { ...counts, seconds: (performance.now() - started) / 1000 };
    } finally {
      await store.close();
      handle.db.close();
    }
  });
}

/** `callers` async callers appending one event at a time, each to its own share of the streams. */
const appendsBy = (callers: number, total: number) => async ({ store }: Store, deadline: number) => {
  const perCaller = STREAMS / callers;
  const counts = await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      const revs = revisions();
      let appends = 0;
      while (appends < total / callers && performance.now() < deadline) {
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
};

/** BATCH_SIZE events per append, each batch to the next of 100 streams. */
const batchedAppends = async ({ store }: Store, deadline: number) => {
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
};

const kinInput = (n: number) => ({
  name: `Bench Kin ${n}`,
  role: 'Benchmarks writes',
  model: 'gpt-4o',
  character: '',
  expertise: '',
  providerId: null,
  mcpServerIds: [],
});

const commandMetadata = () => ({ actor: { kind: 'system' as const, id: 'bench' }, correlationId: uuidv7(), now: new Date() });

/**
 * POST /api/kins without HTTP and projections: claim the slug, create the Kin (two commands, two
 * appends), by `callers` callers at once. One "append" here is one Kin.
 */
const createKins = (setup: Setup, callers: number) => async ({ store, dir, handle }: Store, deadline: number) => {
  const deps = { runCommand: createCommandRunner(store, { cacheSize: setup.cacheSize }), eventStore: store, readStore: createSqliteReadStore(handle), dataDir: dir };
  let created = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (created < KINS && performance.now() < deadline) {
        const n = created++;
        await createKin(deps, kinInput(n), commandMetadata());
      }
    }),
  );
  return { appends: created, events: created * 2 };
};

/** PATCH /api/kins/:id on one Kin, again and again: the fold cache reads one event, not the stream. */
const updateOneKin = (setup: Setup) => async ({ store, dir, handle }: Store, deadline: number) => {
  const deps = { runCommand: createCommandRunner(store, { cacheSize: setup.cacheSize }), eventStore: store, readStore: createSqliteReadStore(handle), dataDir: dir };
  const { kinId } = await createKin(deps, kinInput(0), commandMetadata());
  let updates = 0;
  while (updates < UPDATES && performance.now() < deadline) {
    await updateKin(deps, kinId, 'bench-kin-0', { role: `Role ${updates}` }, commandMetadata());
    updates++;
  }
  return { appends: updates, events: updates };
};

const row = (benchmark: string, setup: Setup, outcome: Outcome, counted: string): Row => ({
  benchmark,
  setup: setup.label,
  [counted]: outcome.appends,
  seconds: round(outcome.seconds, 2),
  'per s': perSecond(outcome.appends, outcome.seconds),
  'events/s': perSecond(outcome.events, outcome.seconds),
});

/** Runs a case before and after, ROUNDS times over, and adds one row per setup with the totals. */
async function compare(rows: Row[], counted: string, benchmark: string, run: (setup: Setup) => Promise<Outcome>): Promise<void> {
  note(`appends: ${benchmark}…`);
  const totals = new Map<Setup, Outcome>([BEFORE, AFTER].map((setup) => [setup, { appends: 0, events: 0, seconds: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const setup of round % 2 === 0 ? [BEFORE, AFTER] : [AFTER, BEFORE]) {
      const outcome = await run(setup);
      const total = totals.get(setup)!;
      total.appends += outcome.appends;
      total.events += outcome.events;
      total.seconds += outcome.seconds;
    }
  }
  for (const [setup, total] of totals) rows.push(row(benchmark, setup, total, counted));
}

export async function benchAppends(): Promise<Section[]> {
  const appends: Row[] = [];
  await compare(appends, 'appends', `1 writer, single event, ${STREAMS} streams`, (s) => timed(s, 'NORMAL', appendsBy(1, SINGLE_APPENDS)));
  await compare(appends, 'appends', `${CALLERS} concurrent writers, single event`, (s) =>
    timed(s, 'NORMAL', appendsBy(CALLERS, CALLERS * APPENDS_PER_CALLER)),
  );
  await compare(appends, 'appends', `batches of ${BATCH_SIZE} events`, (s) => timed(s, 'NORMAL', batchedAppends));
  await compare(appends, 'appends', `1 writer, synchronous=FULL`, (s) => timed(s, 'FULL', appendsBy(1, SINGLE_APPENDS / 4)));
  await compare(appends, 'appends', `${CALLERS} concurrent writers, synchronous=FULL`, (s) =>
    timed(s, 'FULL', appendsBy(CALLERS, SINGLE_APPENDS / 4)),
  );

  const commands: Row[] = [];
  await compare(commands, 'commands', 'create Kin (slug claim + KinCreated), 1 caller', (s) => timed(s, 'NORMAL', createKins(s, 1)));
  await compare(commands, 'commands', `create Kin, ${CALLERS} concurrent callers`, (s) => timed(s, 'NORMAL', createKins(s, CALLERS)));
  await compare(commands, 'commands', `update one Kin ${UPDATES} times (its stream grows)`, (s) => timed(s, 'NORMAL', updateOneKin(s)));

  return [
    {
      title: `SQLite event store appends (expected revision checked; before: a transaction per append; after: group commit; ${ROUNDS} alternating rounds, budget ${benchDuration()} s per case and setup)`,
      rows: appends,
    },
    {
      title: 'Commands in process, no HTTP, no projections (before: no group commit, full folds; after: group commit and fold cache)',
      rows: commands,
    },
  ];
}

if (isMain(import.meta.url)) printSections(await benchAppends());
