import type { EventStore, RecordedEvent } from './eventStore.js';
import type { ReadStore } from './readStore.js';
import { pollingLoop } from './pollingLoop.js';

/**
 * A reactor (process manager) turns events into new commands or side effects. It runs outside any
 * read-store transaction (its commands append to the event store), so it is delivered each event
 * at least once: its reactions must be idempotent, e.g. commands with ids derived from the event.
 */
export type Reactor = {
  name: string;
  handles: readonly string[];
  react: (event: RecordedEvent) => Promise<void>;
};

type Checkpoint = { id: string; position: number };
const CHECKPOINTS = 'reactor_checkpoints';

export type ReactorRunner = { start(): Promise<void>; stop(): Promise<void>; notify(): void };

/** Feeds each reactor the log from its checkpoint, in order; a failing reaction is retried. */
export function createReactorRunner(deps: {
  eventStore: EventStore;
  readStore: ReadStore;
  reactors: readonly Reactor[];
  onError?: (reactor: string, error: unknown) => void;
  pollMs?: number;
  batchSize?: number;
}): ReactorRunner {
  const { eventStore, readStore, reactors } = deps;
  const batchSize = deps.batchSize ?? 200;
  const positions = new Map<string, number>();
  const checkpoints = () => readStore.collection<Checkpoint>(CHECKPOINTS);

  async function drain(reactor: Reactor) {
    for (;;) {
      const from = positions.get(reactor.name)!;
      const batch = (await eventStore.readAll({ fromPosition: Math.max(from, 0), limit: batchSize + 1 }))
        .filter((event) => event.position > from)
        .slice(0, batchSize);
      if (batch.length === 0 || loop.isStopped()) return;
      for (const event of batch) {
        if (loop.isStopped()) return;
        if (reactor.handles.includes(event.type)) await reactor.react(event);
        positions.set(reactor.name, event.position);
      }
      await checkpoints().replace({ id: reactor.name, position: positions.get(reactor.name)! });
    }
  }

  async function pass() {
    let failed = false;
    for (const reactor of reactors) {
      try {
        await drain(reactor);
      } catch (error) {
        failed = true;
        // The position reached so far is kept; the failed event is delivered again.
        await checkpoints().replace({ id: reactor.name, position: positions.get(reactor.name)! }).catch(() => {});
        deps.onError?.(reactor.name, error);
      }
    }
    return { failed };
  }
  const loop = pollingLoop(pass, { pollMs: deps.pollMs ?? 500 });

  return {
    async start() {
      for (const reactor of reactors) positions.set(reactor.name, (await checkpoints().get(reactor.name))?.position ?? -1);
      loop.start();
    },
    stop: () => loop.stop(),
    notify: () => loop.wake(),
  };
}
