import { v7 as uuidv7 } from 'uuid';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventHandler,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamMetadata,
  type StreamVersion,
  type SubscribeOptions,
  type Subscription,
} from '../../es/eventStore.js';
import type { SqliteHandle } from './database.js';

/**
 * The embedded EventStore adapter: an append-only `events` table whose INTEGER PRIMARY KEY is the
 * global position, and a `streams` table holding each stream's last revision, metadata and soft
 * delete flag, so an expected-revision check is one primary-key lookup.
 *
 * Group commit: appends made in the same event-loop turn, or while the write lock is held by
 * someone else, share one transaction (one WAL commit). Each keeps its own expected-revision check
 * and its own result: it runs in a savepoint of that transaction, so a refused or failing append
 * leaves the others of its group untouched. An append resolves only after its group committed.
 *
 * `close()` commits the appends still queued and stops this adapter's subscriptions; the
 * connection belongs to whoever opened it (openSqlite), since the read store shares it.
 */

export type SqliteEventStoreOptions = {
  /** false: one transaction per append, as before group commit (the benchmarks' baseline). */
  groupCommit?: boolean;
};

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS events_stream_revision ON events (stream, revision);
  CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY,
    last_revision INTEGER NOT NULL DEFAULT -1,
    truncate_before INTEGER,
    max_age INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0
  );
`;

/** Events per read while a subscription catches up. */
const SUBSCRIPTION_BATCH = 500;
/** How often a caught-up subscription looks for appends made by another process (a CLI). */
const POLL_MS = 250;
const NO_LIMIT = -1;

type EventRow = {
  global_position: number;
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  recorded_at: string;
};

type StreamRow = {
  last_revision: number;
  truncate_before: number | null;
  max_age: number | null;
  deleted: number;
};

type StreamState = { row: StreamRow | undefined; actual: number | 'no_stream' };

type QueuedAppend = {
  stream: string;
  events: NewEvent[];
  expected: ExpectedRevision;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
};

type AppendOutcome = { ok: true; result: AppendResult } | { ok: false; error: unknown };

const toRecorded = (row: EventRow): RecordedEvent => ({
  id: row.id,
  stream: row.stream,
  type: row.type,
  revision: row.revision,
  position: row.global_position,
  data: JSON.parse(row.data) as unknown,
  metadata: JSON.parse(row.metadata) as EventMetadata,
  recordedAt: row.recorded_at,
});

const streamState = (row: StreamRow | undefined): StreamState => ({
  row,
  actual: row && row.deleted === 0 && row.last_revision >= 0 ? row.last_revision : 'no_stream',
});

function satisfiesExpected(expected: ExpectedRevision, actual: number | 'no_stream'): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === 'no_stream';
    case 'stream_exists':
      return actual !== 'no_stream';
    default:
      return actual === expected;
  }
}

const streamVersion = (row: StreamRow | undefined): StreamVersion => ({
  revision: row && row.deleted === 0 ? row.last_revision : -1,
  truncated: row !== undefined && (row.deleted === 1 || (row.truncate_before ?? 0) > 0 || row.max_age !== null),
});

const maxAgeCutoff = (maxAge: number | null, now: number): string =>
  maxAge === null ? '' : new Date(now - maxAge * 1000).toISOString();

/** A wake-up call for caught-up subscriptions, registered before they read so no append slips by. */
type Wait = { promise: Promise<void>; done: () => void };

function createChangeSignal() {
  const waiters = new Set<() => void>();
  return {
    notify(): void {
      for (const wake of [...waiters]) wake();
    },
    /** Resolves on the next notify, after `timeoutMs`, or when `done` is called. */
    next(timeoutMs: number): Wait {
      let done!: () => void;
      const promise = new Promise<void>((resolve) => {
        const timer = setTimeout(() => done(), timeoutMs);
        timer.unref();
        done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
      });
      waiters.add(done);
      return { promise, done };
    },
  };
}

export function createSqliteEventStore(handle: SqliteHandle, options: SqliteEventStoreOptions = {}): EventStore {
  const { db, writeLock } = handle;
  const groupCommit = options.groupCommit ?? true;
  db.exec(SCHEMA);

  const statements = {
    stream: db.prepare<[string], StreamRow>(
      'SELECT last_revision, truncate_before, max_age, deleted FROM streams WHERE stream = ?',
    ),
    insertEvent: db.prepare<[string, string, number, string, string, string, string]>(
      `INSERT INTO events (id, stream, revision, type, data, metadata, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    upsertRevision: db.prepare<[string, number]>(
      `INSERT INTO streams (stream, last_revision, deleted) VALUES (?, ?, 0)
       ON CONFLICT (stream) DO UPDATE SET last_revision = excluded.last_revision, deleted = 0`,
    ),
    upsertMetadata: db.prepare<[string, number | null, number | null]>(
      `INSERT INTO streams (stream, truncate_before, max_age) VALUES (?, ?, ?)
       ON CONFLICT (stream) DO UPDATE SET truncate_before = excluded.truncate_before, max_age = excluded.max_age`,
    ),
    markDeleted: db.prepare<[string]>(
      'UPDATE streams SET deleted = 1, truncate_before = last_revision + 1 WHERE stream = ?',
    ),
    streamForwards: db.prepare<[string, number, string, number], EventRow>(
      `SELECT * FROM events WHERE stream = ? AND revision >= ? AND recorded_at >= ?
       ORDER BY revision ASC LIMIT ?`,
    ),
    streamBackwards: db.prepare<[string, number, number, string, number], EventRow>(
      `SELECT * FROM events WHERE stream = ? AND revision <= ? AND revision >= ? AND recorded_at >= ?
       ORDER BY revision DESC LIMIT ?`,
    ),
    allForwards: db.prepare<[number, number], EventRow>(
      'SELECT * FROM events WHERE global_position >= ? ORDER BY global_position ASC LIMIT ?',
    ),
    allBackwards: db.prepare<[number, number], EventRow>(
      'SELECT * FROM events WHERE global_position <= ? ORDER BY global_position DESC LIMIT ?',
    ),
    after: db.prepare<[number, number], EventRow>(
      'SELECT * FROM events WHERE global_position > ? ORDER BY global_position ASC LIMIT ?',
    ),
    head: db.prepare<[], { head: number | null }>('SELECT MAX(global_position) AS head FROM events'),
    ping: db.prepare<[], { ok: number }>('SELECT 1 AS ok'),
  };

  const changes = createChangeSignal();
  const subscriptions = new Set<Subscription>();

  // A read issued while a read-store transaction awaits would join that transaction: wait for it.
  const read = async <T>(work: () => T): Promise<T> => (writeLock.locked ? writeLock.run(work) : work());

  const checkedState = (stream: string, expected: ExpectedRevision): StreamState => {
    const state = streamState(statements.stream.get(stream));
    if (!satisfiesExpected(expected, state.actual)) {
      throw new WrongExpectedRevisionError(stream, expected, state.actual);
    }
    return state;
  };

  // IMMEDIATE takes SQLite's write lock before the revision check, so another process cannot
  // slip an append between the check and the insert.
  const appendTransaction = db.transaction(
    (stream: string, events: NewEvent[], expected: ExpectedRevision): AppendResult => {
      const { row } = checkedState(stream, expected);
      // Revisions continue after a soft delete, as on EventStoreDB.
      let revision = row?.last_revision ?? -1;
      if (events.length === 0) return { nextRevision: revision, position: -1 };
      const recordedAt = new Date().toISOString();
      let position = -1;
      for (const event of events) {
        revision++;
        const result = statements.insertEvent.run(
          event.id ?? uuidv7(),
          stream,
          revision,
          event.type,
          JSON.stringify(event.data ?? null),
          JSON.stringify(event.metadata),
          recordedAt,
        );
        position = Number(result.lastInsertRowid);
      }
      statements.upsertRevision.run(stream, revision);
      return { nextRevision: revision, position };
    },
  );

  const deleteTransaction = db.transaction((stream: string, expected: ExpectedRevision): void => {
    const { actual } = checkedState(stream, expected);
    if (actual !== 'no_stream') statements.markDeleted.run(stream);
  });

  // Called inside a transaction, appendTransaction runs in a savepoint of its own.
  const groupTransaction = db.transaction((group: QueuedAppend[]): AppendOutcome[] =>
    group.map(({ stream, events, expected }) => {
      try {
        return { ok: true, result: appendTransaction(stream, events, expected) };
      } catch (error) {
        // An I/O or disk-full error ends the whole transaction in SQLite: no append of the group
        // is stored, so the whole group fails rather than going on outside any transaction.
        if (!db.inTransaction) throw error;
        return { ok: false, error };
      }
    }),
  );

  const queue: QueuedAppend[] = [];
  let commitScheduled = false;

  /** Commits every queued append; runs under the write lock. A metadata change or a delete calls it
   * first, so that writes keep the order they were made in. */
  function commitQueued(): void {
    commitScheduled = false;
    const group = queue.splice(0);
    if (group.length === 0) return;
    let outcomes: AppendOutcome[];
    try {
      // A group of one needs no savepoint: its failure is the transaction's.
      const [only] = group;
      outcomes =
        group.length === 1 && only
          ? [{ ok: true, result: appendTransaction.immediate(only.stream, only.events, only.expected) }]
          : groupTransaction.immediate(group);
    } catch (error) {
      for (const queued of group) queued.reject(error);
      return;
    }
    let appended = false;
    outcomes.forEach((outcome, index) => {
      const queued = group[index]!;
      if (!outcome.ok) return queued.reject(outcome.error);
      appended ||= queued.events.length > 0;
      queued.resolve(outcome.result);
    });
    if (appended) changes.notify();
  }

  function append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (!groupCommit) {
      return writeLock.run(() => appendTransaction.immediate(stream, events, expected)).then((result) => {
        if (events.length > 0) changes.notify();
        return result;
      });
    }
    return new Promise((resolve, reject) => {
      queue.push({ stream, events, expected, resolve, reject });
      if (commitScheduled) return;
      commitScheduled = true;
      // setImmediate runs after the I/O callbacks of this turn: the appends that the requests
      // handled in it make meanwhile join the group.
      setImmediate(() => void writeLock.run(commitQueued));
    });
  }

  function readStreamNow(stream: string, options: ReadStreamOptions): RecordedEvent[] {
    const row = statements.stream.get(stream);
    if (!row || row.deleted === 1) return [];
    const from = Math.max(row.truncate_before ?? 0, 0);
    const cutoff = maxAgeCutoff(row.max_age, Date.now());
    const limit = options.limit ?? NO_LIMIT;
    const rows =
      options.direction === 'backwards'
        ? statements.streamBackwards.all(stream, options.fromRevision ?? Number.MAX_SAFE_INTEGER, from, cutoff, limit)
        : statements.streamForwards.all(stream, Math.max(options.fromRevision ?? 0, from), cutoff, limit);
    return rows.map(toRecorded);
  }

  function readAllNow(options: ReadAllOptions): RecordedEvent[] {
    const limit = options.limit ?? NO_LIMIT;
    const rows =
      options.direction === 'backwards'
        ? statements.allBackwards.all(options.fromPosition ?? Number.MAX_SAFE_INTEGER, limit)
        : statements.allForwards.all(options.fromPosition ?? 0, limit);
    return rows.map(toRecorded);
  }

  function subscribeToAll(
    options: SubscribeOptions,
    handler: EventHandler,
    onError?: (error: unknown) => void,
  ): Subscription {
    let after = options.afterPosition ?? 0;
    let stopped = false;
    let waiting: Wait | undefined;

    const fail = (error: unknown) => {
      stopped = true;
      onError?.(error);
    };

    const loop = async (): Promise<void> => {
      while (!stopped) {
        // Registered before the read: an append landing between an empty read and the wait
        // still wakes this loop.
        waiting = changes.next(POLL_MS);
        let batch: RecordedEvent[];
        try {
          batch = await read(() => statements.after.all(after, SUBSCRIPTION_BATCH).map(toRecorded));
        } catch (error) {
          return fail(error);
        }
        for (const event of batch) {
          if (stopped) return;
          try {
            await handler(event);
          } catch (error) {
            return fail(error);
          }
          after = event.position;
        }
        if (batch.length < SUBSCRIPTION_BATCH) await waiting.promise;
        waiting.done();
      }
    };

    const running = loop().finally(() => {
      waiting?.done();
      subscriptions.delete(subscription);
    });
    const subscription: Subscription = {
      async stop() {
        stopped = true;
        waiting?.done();
        await running;
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  return {
    append,
    readStream: (stream, options = {}) => read(() => readStreamNow(stream, options)),
    readAll: (options = {}) => read(() => readAllNow(options)),
    streamVersion: (stream) => read(() => streamVersion(statements.stream.get(stream))),
    headPosition: () => read(() => statements.head.get()?.head ?? -1),
    subscribeToAll,
    async setStreamMetadata(stream: string, metadata: StreamMetadata) {
      await writeLock.run(() => {
        commitQueued();
        statements.upsertMetadata.run(stream, metadata.truncateBefore ?? null, metadata.maxAge ?? null);
      });
    },
    getStreamMetadata: (stream) =>
      read(() => {
        const row = statements.stream.get(stream);
        const metadata: StreamMetadata = {};
        if (row?.truncate_before != null) metadata.truncateBefore = row.truncate_before;
        if (row?.max_age != null) metadata.maxAge = row.max_age;
        return metadata;
      }),
    async deleteStream(stream, expected = 'any') {
      await writeLock.run(() => {
        commitQueued();
        deleteTransaction.immediate(stream, expected);
      });
    },
    async ping() {
      await read(() => statements.ping.get());
    },
    async close() {
      await writeLock.run(commitQueued);
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()));
    },
  };
}
