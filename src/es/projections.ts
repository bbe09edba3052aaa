import type { EventStore, RecordedEvent } from './eventStore.js';
import type { ReadStore } from './readStore.js';
import { pollingLoop } from './pollingLoop.js';

/** A projection is data (STYLE.md): bump `version` to have it rebuilt from position 0. */
export type Projection = {
  name: string;
  version: number;
  /** Event types it reacts to; the checkpoint moves past every other event too. */
  handles: readonly string[];
  /** Collections it owns: dropped when it is rebuilt. */
  collections: readonly string[];
  /** Creates its indexes; runs at start-up and after a rebuild. Must be idempotent. */
  setup?: (store: ReadStore) => Promise<void>;
  /** Idempotent: applying the same event twice changes nothing. */
  apply: (event: RecordedEvent, store: ReadStore) => Promise<void>;
};

export type Checkpoint = { id: string; version: number; position: number; resetting?: boolean };
export const CHECKPOINTS = 'projection_checkpoints';

const checkpoints = (store: ReadStore) => store.collection<Checkpoint>(CHECKPOINTS);

/**
 * Marks the projection as resetting (lanes stop writing), drops what it owns, and starts it over
 * from the beginning of $all with the given version. Safe while a server is running: its lane
 * notices the reset and catches up from the start (see `applyBatch`).
 */
export async function resetProjection(store: ReadStore, projection: Projection): Promise<void> {
  await checkpoints(store).replace({ id: projection.name, version: projection.version, position: -1, resetting: true });
  for (const name of projection.collections) await store.dropCollection(name);
  await projection.setup?.(store);
  await checkpoints(store).replace({ id: projection.name, version: projection.version, position: -1 });
}

type BatchOutcome = { applied: boolean; position: number };

const handledTypes = new WeakMap<Projection, ReadonlySet<string>>();

/** The event types a projection handles, as a set: every lane asks about every event. */
function handledBy(projection: Projection): ReadonlySet<string> {
  let types = handledTypes.get(projection);
  if (!types) handledTypes.set(projection, (types = new Set(projection.handles)));
  return types;
}

/** Moves the checkpoint from `from` to `to` if it is still at `from` (nothing to apply). */
async function moveCheckpoint(store: ReadStore, projection: Projection, from: number, to: number): Promise<void> {
  await store.transaction(async (tx) => {
    const stored = await checkpoints(tx).get(projection.name);
    if (stored && !stored.resetting && stored.version === projection.version && stored.position === from) {
      await checkpoints(tx).replace({ id: projection.name, version: projection.version, position: to });
    }
  });
}

/**
 * Applies a batch in one read-store transaction together with the checkpoint, so that it is
 * applied exactly once (where the store has transactions). `expectedPosition` is where this lane
 * believes the checkpoint is; if another process moved or reset it, nothing is written and the
 * lane resumes from the stored checkpoint instead.
 */
async function applyBatch(
  store: ReadStore,
  projection: Projection,
  expectedPosition: number,
  events: RecordedEvent[],
): Promise<BatchOutcome> {
  return store.transaction(async (tx) => {
    const stored = await checkpoints(tx).get(projection.name);
    if (!stored || stored.resetting || stored.version !== projection.version || stored.position !== expectedPosition) {
      return { applied: false, position: stored && !stored.resetting ? stored.position : -1 };
    }
    const types = handledBy(projection);
    for (const event of events) {
      if (types.has(event.type)) await projection.apply(event, tx);
    }
    const position = events[events.length - 1]!.position;
    await checkpoints(tx).replace({ id: projection.name, version: projection.version, position });
    return { applied: true, position };
  });
}

export type ProjectionStatus = { name: string; version: number; position: number; error: string | null };

export type ProjectionRunner = {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Wakes the lanes now (called after an append in this process). */
  notify(): void;
  /** Resolves once every projection has applied the event at `position` (read-your-writes). */
  waitFor(position: number, timeoutMs?: number): Promise<boolean>;
  status(): ProjectionStatus[];
};

/**
 * `position` is how far the lane has read; `stored` is its checkpoint in the read store. Batches
 * with none of the projection's events only move `position` (no transaction): the checkpoint
 * catches up with the next applied batch, or at a flush. Re-reading unhandled events after a crash
 * changes nothing, so exactly-once still holds for the events the projection applies.
 */
type Lane = { projection: Projection; position: number; stored: number; skipped: number; error: string | null };

/** Skip-only progress is written to the checkpoint after this many events. */
const FLUSH_AFTER_SKIPPED = 2000;

/**
 * Gives a lane the events of a batch it has not had yet, in one transaction with its checkpoint
 * when the batch holds events it handles (or after `flushAfterSkipped` events it does not).
 */
async function advance(
  readStore: ReadStore,
  lane: Lane,
  batch: readonly RecordedEvent[],
  flushAfterSkipped = FLUSH_AFTER_SKIPPED,
): Promise<void> {
  const events = batch.filter((event) => event.position > lane.position);
  if (events.length === 0) return;
  const types = handledBy(lane.projection);
  const handled = events.some((event) => types.has(event.type));
  lane.skipped += events.length;
  if (handled || lane.skipped >= flushAfterSkipped) {
    const outcome = await applyBatch(readStore, lane.projection, lane.stored, events);
    // Not applied: another process moved the checkpoint; carry on from where it is.
    lane.position = lane.stored = outcome.position;
    lane.skipped = 0;
  } else {
    lane.position = events[events.length - 1]!.position;
  }
  lane.error = null;
}

/** Writes skip-only progress that the checkpoint does not have yet (at a stop, at the end of a rebuild). */
async function keepPlace(readStore: ReadStore, lanes: readonly Lane[]): Promise<void> {
  for (const lane of lanes.filter((lane) => lane.position > lane.stored)) {
    await moveCheckpoint(readStore, lane.projection, lane.stored, lane.position);
    lane.stored = lane.position;
  }
}

const newLane = (projection: Projection): Lane => ({ projection, position: -1, stored: -1, skipped: 0, error: null });

export function createProjectionRunner(deps: {
  eventStore: EventStore;
  readStore: ReadStore;
  projections: readonly Projection[];
  batchSize?: number;
  /** Fallback poll for events appended by other processes. */
  pollMs?: number;
  onError?: (projection: string, error: unknown) => void;
}): ProjectionRunner {
  const { eventStore, readStore, projections } = deps;
  const batchSize = deps.batchSize ?? 500;
  const lanes: Lane[] = projections.map((projection) => newLane(projection));
  const waiters = new Set<{ position: number; resolve: (ok: boolean) => void }>();

  const lowest = () => Math.min(...lanes.map((lane) => lane.position));
  const settleWaiters = () => {
    const reached = lanes.length ? lowest() : Infinity;
    for (const waiter of waiters) {
      if (waiter.position <= reached) {
        waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  };

  /**
   * Reads the log once per batch for every lane, from the lane furthest behind. A failing lane sits
   * out the rest of the pass (it is retried after a pause), so it cannot hold the others back.
   */
  async function pass() {
    let failed = false;
    const active = new Set(lanes);
    while (!loop.isStopped() && active.size > 0) {
      const from = Math.min(...[...active].map((lane) => lane.position));
      const batch = (await eventStore.readAll({ fromPosition: Math.max(from, 0), limit: batchSize + 1 }))
        .filter((event) => event.position > from)
        .slice(0, batchSize);
      if (batch.length === 0) break;
      for (const lane of active) {
        try {
          await advance(readStore, lane, batch);
        } catch (error) {
          failed = true;
          active.delete(lane);
          lane.error = error instanceof Error ? error.message : String(error);
          deps.onError?.(lane.projection.name, error);
        }
      }
      settleWaiters();
      // Every await above may resolve at once (SQLite is synchronous): a long catch-up would keep
      // the event loop from requests and timers until its end without this pause between batches.
      if (batch.length === batchSize) await new Promise((resolve) => setImmediate(resolve));
    }
    settleWaiters();
    return { failed };
  }
  const loop = pollingLoop(pass, { pollMs: deps.pollMs ?? 500 });

  return {
    async start() {
      for (const lane of lanes) {
        const { projection } = lane;
        const stored = await checkpoints(readStore).get(projection.name);
        if (!stored || stored.version !== projection.version) await resetProjection(readStore, projection);
        else await projection.setup?.(readStore);
        lane.position = lane.stored = (await checkpoints(readStore).get(projection.name))?.position ?? -1;
      }
      loop.start();
    },
    async stop() {
      await loop.stop();
      // Keep the read so far, so that a restart does not read the skipped events again.
      await keepPlace(readStore, lanes).catch(() => undefined);
      for (const waiter of waiters) waiter.resolve(false);
      waiters.clear();
    },
    notify: () => loop.wake(),
    waitFor(position, timeoutMs = 5000) {
      if (lanes.length === 0 || lowest() >= position) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const waiter = { position, resolve };
        waiters.add(waiter);
        loop.wake();
        setTimeout(() => {
          if (waiters.delete(waiter)) resolve(false);
        }, timeoutMs).unref();
      });
    },
    status: () =>
      lanes.map((lane) => ({
        name: lane.projection.name,
        version: lane.projection.version,
        position: lane.position,
        error: lane.error,
      })),
  };
}

/**
 * Rebuilds projections from position 0 in this process (the `npm run replay` command), reading the
 * log once for all of them and reporting progress after each batch. Works with the server stopped
 * or running.
 */
export async function rebuildProjections(deps: {
  eventStore: EventStore;
  readStore: ReadStore;
  projections: readonly Projection[];
  batchSize?: number;
  onProgress?: (progress: { projection: string; position: number; head: number; events: number }) => void;
}): Promise<{ events: number; seconds: number }> {
  const { eventStore, readStore, projections } = deps;
  const batchSize = deps.batchSize ?? 1000;
  const started = performance.now();
  const label = projections.map((projection) => projection.name).join(', ');
  for (const projection of projections) await resetProjection(readStore, projection);
  const head = await eventStore.headPosition();
  const lanes = projections.map((projection) => newLane(projection));
  let read = -1;
  let events = 0;
  for (;;) {
    const batch = (await eventStore.readAll({ fromPosition: Math.max(read, 0), limit: batchSize + 1 }))
      .filter((event) => event.position > read)
      .slice(0, batchSize);
    if (batch.length === 0) break;
    for (const lane of lanes) {
      const before = lane.position;
      // A running server's lane may have moved this checkpoint ahead; it owns those events then.
      // Skip-only progress is written once, at the end: cut short, a rebuild leaves an older
      // checkpoint, from which reading again applies nothing.
      await advance(readStore, lane, batch, Infinity);
      if (lane.position < before) {
        throw new Error(`Projection ${lane.projection.name} was reset by another process during the rebuild; run it again`);
      }
    }
    read = batch[batch.length - 1]!.position;
    events += batch.length;
    deps.onProgress?.({ projection: label, position: read, head, events });
  }
  await keepPlace(readStore, lanes);
  return { events, seconds: (performance.now() - started) / 1000 };
}
