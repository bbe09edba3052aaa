import type { ReadStore } from '../es/readStore.js';

/**
 * `Idempotency-Key` for POSTs: the first response to a key is stored for 24 h and replayed to any
 * retry with the same key from the same principal, so a retried POST appends nothing. Keys are
 * operational data, not a read model, hence kept apart from the projections' collections.
 */
const TTL_MS = 24 * 60 * 60 * 1000;
const COLLECTION = 'idempotency_keys';

type StoredResponse = { id: string; status: number; body: unknown; storedAt: number };

export type IdempotencyStore = {
  /** Runs `work` once per key; concurrent or later calls with the key get the first result. */
  once(key: string, work: () => Promise<{ status: number; body: unknown }>): Promise<{ status: number; body: unknown; replayed: boolean }>;
};

export function createIdempotencyStore(readStore: ReadStore, now: () => number = Date.now): IdempotencyStore {
  const inFlight = new Map<string, Promise<{ status: number; body: unknown }>>();
  const responses = () => readStore.collection<StoredResponse>(COLLECTION);

  return {
    async once(key, work) {
      const running = inFlight.get(key);
      if (running) return { ...(await running), replayed: true };
      const stored = await responses().get(key);
      if (stored && now() - stored.storedAt < TTL_MS) return { status: stored.status, body: stored.body, replayed: true };
      const pending = work();
      inFlight.set(key, pending);
      try {
        const response = await pending;
        // Only successes are remembered: a client error can be corrected and sent again.
        if (response.status < 400) {
          await responses().replace({ id: key, status: response.status, body: response.body, storedAt: now() });
        }
        return { ...response, replayed: false };
      } finally {
        inFlight.delete(key);
      }
    },
  };
}
