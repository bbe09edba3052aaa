import type { ReadStore } from '../es/readStore.js';

/**
 * `Idempotency-Key` for POSTs: the first response to a key is stored for 24 h and replayed to any
 * retry with the same key from the same principal, so a retried POST appends nothing. Keys are
 * operational data, not a read model, hence kept apart from the projections' collections.
 */
const TTL_MS = 24 * 60 * 60 * 1000;
const COLLECTION = 'idempotency_keys';
const PURGE_EVERY_MS = 60 * 60 * 1000;

type StoredResponse = { id: string; status: number; body: unknown; storedAt: number };

export type IdempotencyStore = {
  /** Runs `work` once per key; concurrent or later calls with the key get the first result. */
  once(key: string, work: () => Promise<{ status: number; body: unknown }>): Promise<{ status: number; body: unknown; replayed: boolean }>;
};

export function createIdempotencyStore(readStore: ReadStore, now: () => number = Date.now): IdempotencyStore {
  const inFlight = new Map<string, Promise<{ status: number; body: unknown; replayed: boolean }>>();
  const responses = () => readStore.collection<StoredResponse>(COLLECTION);
  let lastPurge = 0;
  /** Forgets expired keys, at most once an hour, without holding up the request. */
  const purgeExpired = () => {
    if (now() - lastPurge < PURGE_EVERY_MS) return;
    lastPurge = now();
    void responses()
      .delete({ storedAt: { $lt: now() - TTL_MS } })
      .catch(() => (lastPurge = 0));
  };

  return {
    once(key, work) {
      purgeExpired();
      const running = inFlight.get(key);
      if (running) return running.then((response) => ({ ...response, replayed: true }));
      // Registered before the first await, so that a concurrent duplicate always finds it.
      const attempt = (async () => {
        const stored = await responses().get(key);
        if (stored && now() - stored.storedAt < TTL_MS) return { status: stored.status, body: stored.body, replayed: true };
        const response = await work();
        // Only successes are remembered: a client error can be corrected and sent again.
        if (response.status < 400) {
          await responses().replace({ id: key, status: response.status, body: response.body, storedAt: now() });
        }
        return { ...response, replayed: false };
      })();
      inFlight.set(key, attempt);
      const forget = () => void inFlight.delete(key);
      attempt.then(forget, forget);
      return attempt;
    },
  };
}
