import type { EventStore, RecordedEvent, Subscription } from '../es/eventStore.js';
import type { ProjectionRunner } from '../es/projections.js';
import type { ReadStore } from '../es/readStore.js';

/**
 * A message of the live feed in the documented nested form `{ type, kinId?, data }`, as the GraphQL
 * `live` subscription sends it; /api/sse also flattens `data` (src/live/envelope.ts). `userId`
 * restricts delivery to that user's connections.
 */
export type LiveMessage = { type: string; kinId?: string; data: Record<string, unknown>; userId?: string };

/** Turns one stored event into live messages; may read the read models, which are up to date. */
export type LiveMapper = (event: RecordedEvent, readStore: ReadStore) => Promise<LiveMessage[]> | LiveMessage[];

export type LiveFeed = {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(listener: (message: LiveMessage) => void): () => void;
  /** Sends a message that is not an event (a streamed token, progress) to the listeners now. */
  publish(message: LiveMessage): void;
  /** Connected listeners: /api/sse clients and GraphQL subscriptions. */
  listenerCount(): number;
};

/**
 * Fed by a subscription to $all from the head at start-up (the feed is live only: no history).
 * Each event is mapped once the projections have applied it, so a client that reacts to
 * `kin:updated` with a GET sees the new state.
 */
export function createLiveFeed(deps: {
  eventStore: EventStore;
  readStore: ReadStore;
  projections: ProjectionRunner;
  mappers: readonly LiveMapper[];
  onError?: (error: unknown) => void;
}): LiveFeed {
  const listeners = new Set<(message: LiveMessage) => void>();
  let subscription: Subscription | null = null;

  /**
   * Every listener gets the same message object, so a transport can serialize it once for all its
   * clients. A listener that throws must not keep the message from the others, nor fail the
   * publisher (a turn streaming its tokens).
   */
  function broadcast(message: LiveMessage) {
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        deps.onError?.(error);
      }
    }
  }

  async function deliver(event: RecordedEvent) {
    await deps.projections.waitFor(event.position);
    for (const mapper of deps.mappers) {
      for (const message of await mapper(event, deps.readStore)) broadcast(message);
    }
  }

  return {
    async start() {
      const head = await deps.eventStore.headPosition();
      const handle = async (event: RecordedEvent) => {
        // One bad mapping must not end the feed for everyone.
        await deliver(event).catch((error: unknown) => deps.onError?.(error));
      };
      subscription = deps.eventStore.subscribeToAll({ afterPosition: head }, handle, deps.onError);
    },
    async stop() {
      await subscription?.stop();
      listeners.clear();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    publish: broadcast,
    listenerCount: () => listeners.size,
  };
}
