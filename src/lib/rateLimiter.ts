/**
 * An in-memory sliding-window limiter: at most `max` hits per key within any `windowMs`. A refused
 * hit is not counted, so a caller that keeps knocking is let in again as soon as the window allows.
 * Keys whose window has emptied are forgotten from time to time, so unknown keys cannot pile up.
 */
export type RateLimiter = {
  /** Counts the hit and returns 0, or refuses it and returns the ms until one would be allowed. */
  hit(key: string, now?: number): number;
};

/** The hits of one key, oldest first; `head` skips the expired ones without shifting the array. */
type Window = { hits: number[]; head: number };

export function createRateLimiter(options: { max: number; windowMs: number }): RateLimiter {
  const { max, windowMs } = options;
  const windows = new Map<string, Window>();
  let nextSweep = 0;

  const expire = (window: Window, now: number) => {
    while (window.head < window.hits.length && window.hits[window.head]! <= now - windowMs) window.head++;
    if (window.head > 1024 && window.head * 2 > window.hits.length) {
      window.hits = window.hits.slice(window.head);
      window.head = 0;
    }
  };

  const sweep = (now: number) => {
    for (const [key, window] of windows) {
      const newest = window.hits[window.hits.length - 1];
      if (newest === undefined || newest <= now - windowMs) windows.delete(key);
    }
  };

  return {
    hit(key, now = Date.now()) {
      if (now >= nextSweep) {
        sweep(now);
        nextSweep = now + windowMs;
      }
      let window = windows.get(key);
      if (!window) windows.set(key, (window = { hits: [], head: 0 }));
      expire(window, now);
      if (window.hits.length - window.head >= max) return Math.max(1, window.hits[window.head]! + windowMs - now);
      window.hits.push(now);
      return 0;
    },
  };
}
