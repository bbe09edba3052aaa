import type { EventStore, RecordedEvent } from './eventStore.js';
import type { ReadStore } from './readStore.js';
import { pollingLoop } from './pollingLoop.js';

/**
 * A reactor (process manager) turns events into new commands or side effects. It runs outside any
 * read-store transaction (its commands append to the event store), so it is delivered each event
 * at least once: its reactions must be idempotent, e.g. commands with ids derived from the event.
 * `signal` aborts when the runner stops: a long reaction may give up, and is delivered again at
 * the next start.
 */
export type Reactor = {
  name: string;
  handles: readonly string[];
  react: (event: RecordedEvent, signal: AbortSignal) => Promise<void>;
};

type Checkpoint = { id: string; position: number };
const CHECKPOINTS = 'reactor_checkpoints';

export type ReactorRunner = { start(): Promise<void>; stop(): Promise<void>; notify(): void };

type Lane = { reactor: Reactor; position: number; loop: ReturnType<typeof pollingLoop> };

/**
 * Feeds each reactor the log from its checkpoint, in order; a failing reaction is retried. Each
 * reactor has a lane of its own, so a slow one (a long document being ingested) never holds up
 * the others.
 */
export function createReactorRunner(deps: {
  eventStore: EventStore;
  readStore: ReadStore;
  reactors: readonly Reactor[];
  onError?: (reactor: string, error: unknown) => void;
  pollMs?: number;
  batchSize?: number;
}): ReactorRunner {
  const { eventStore, readStore } = deps;
  const batchSize = deps.batchSize ?? 200;
  const checkpoints = () => readStore.collection<Checkpoint>(CHECKPOINTS);
  const stopping = new AbortController();

  async function drain(lane: Lane) {
    const { reactor } = lane;
    for (;;) {
      const from = lane.position;
      const batch = (await eventStore.readAll({ fromPosition: Math.max(from, 0), limit: batchSize + 1 }))
        .filter((event) => event.position > from)
        .slice(0, batchSize);
      if (batch.length === 0 || lane.loop.isStopped()) return;
      for (const event of batch) {
        if (lane.loop.isStopped()) return;
        if (reactor.handles.includes(event.type)) await reactor.react(event, stopping.signal);
        lane.position = event.position;
      }
      await checkpoints().replace({ id: reactor.name, position: lane.position });
      // A long catch-up must not hold the event loop: requests are served between full batches.
      if (batch.length === batchSize) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async function pass(lane: Lane) {
    try {
      await drain(lane);
      return { failed: false };
    } catch (error) {
      // The position reached so far is kept; the failed event is delivered again.
      await checkpoints().replace({ id: lane.reactor.name, position: lane.position }).catch(() => {});
      // A reaction given up because the runner stops is not a failure to report or wait on.
      if (lane.loop.isStopped()) return { failed: false };
      deps.onError?.(lane.reactor.name, error);
      return { failed: true };
    }
  }

  const lanes: Lane[] = deps.reactors.map((reactor) => {
    const lane: Lane = { reactor, position: -1, loop: pollingLoop(() => pass(lane), { pollMs: deps.pollMs ?? 500 }) };
    return lane;
  });

  return {
    async start() {
      for (const lane of lanes) lane.position = (await checkpoints().get(lane.reactor.name))?.position ?? -1;
      for (const lane of lanes) lane.loop.start();
    },
    async stop() {
      stopping.abort(new Error('The reactors are stopping'));
      await Promise.all(lanes.map((lane) => lane.loop.stop()));
    },
    notify: () => lanes.forEach((lane) => lane.loop.wake()),
  };
}
