import { hash, verify } from '@node-rs/argon2';
import { createRateLimiter } from './rateLimiter.js';

/**
 * Share passwords (platform.md §5): argon2id with the library's defaults (19 MiB, 2 passes, one
 * lane: OWASP's recommendation), a fresh salt each time. The PHC string carries the parameters,
 * so verifying reads them from the stored hash. Both run on libuv's thread pool.
 */
export const hashPassword = (password: string): Promise<string> => hash(password);

/** The library's verification (a constant-time comparison); a malformed hash is a mismatch. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

export type AttemptGuard = {
  /** Milliseconds until `key` may try again; 0 when it is not locked out. */
  lockedFor(key: string, now?: number): number;
  /** Counts a wrong password for `key`; returns how long it is now locked out (0: not yet). */
  fail(key: string, now?: number): number;
};

/**
 * Counts wrong passwords per key (a share, a client address). The first failure beyond `max`
 * within `windowMs` locks the key out until the window lets one more in, and while it is locked
 * no password is even checked. Right passwords do not count, so a share opened by many people
 * with the right password is never locked by them.
 */
export function createAttemptGuard(options: { max: number; windowMs: number }): AttemptGuard {
  const failures = createRateLimiter(options);
  const lockedUntil = new Map<string, number>();

  const forgetExpired = (now: number) => {
    for (const [key, until] of lockedUntil) if (until <= now) lockedUntil.delete(key);
  };

  return {
    lockedFor(key, now = Date.now()) {
      const until = lockedUntil.get(key);
      if (until === undefined) return 0;
      if (until > now) return until - now;
      lockedUntil.delete(key);
      return 0;
    },
    fail(key, now = Date.now()) {
      const wait = failures.hit(key, now);
      if (wait > 0) {
        if (lockedUntil.size >= 10_000) forgetExpired(now);
        lockedUntil.set(key, now + wait);
      }
      return wait;
    },
  };
}
