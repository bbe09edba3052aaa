import { createHash } from 'node:crypto';
import { parseCookies } from 'better-auth/cookies';

/** Whose a verified credential is: the part of a principal that only Better Auth can tell. */
export type CredentialOwner = { userId: string; via: 'apiKey' | 'session'; apiKeyId?: string };

/** An `X-API-Key` value, or the (signed) value of the session cookie. */
export type Credential = { kind: 'apiKey' | 'session'; value: string };

/** The outcome of one verification: the owner, and until when the credential itself is valid (epoch ms; 0: never cache). */
export type Verified = { owner: CredentialOwner; validUntil: number };

export type PrincipalCache = {
  /** The owner of `credential`, verified by `verify` when it is not cached; null when `verify` refuses it (never cached). */
  owner(credential: Credential, verify: () => Promise<Verified | null>): Promise<CredentialOwner | null>;
  /**
   * Each of these forgets what it names and discards every verification still under way (so that
   * none made before a revocation enters the cache after it): the next use is verified again.
   */
  forget(credential: Credential): void;
  forgetUser(userId: string): void;
  clear(): void;
  readonly size: number;
};

/**
 * Seconds, not minutes: this is how long a revocation made by another instance (which cannot reach
 * this one's memory) may take to be seen here. Revocations through this instance clear it at once.
 */
export const PRINCIPAL_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

/** Only a digest of a credential is kept as a key (never the raw API key or session token). */
const digest = (credential: Credential) => createHash('sha256').update(`${credential.kind}:${credential.value}`).digest('base64url');

/**
 * Every value the session cookie has in a `Cookie` header (a header may repeat a name; each value
 * is decoded as Better Auth decodes it). The last one is the one a request is authenticated with.
 */
export const sessionCookieValues = (header: string | null | undefined, cookieName: string): string[] =>
  (header ?? '').split(';').flatMap((pair) => parseCookies(pair).get(cookieName) ?? []);

/**
 * Verified credentials → their owners, for a few seconds, so that a request does not verify an API
 * key or look up a session each time. A verification that was under way when something was
 * forgotten does not enter it (a key revoked meanwhile must not come back from a read made before),
 * and concurrent requests with the same unverified credential share one verification. Bounded:
 * beyond `maxEntries` the oldest entry goes (only verified credentials ever enter).
 */
export function createPrincipalCache(options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}): PrincipalCache {
  const ttlMs = options.ttlMs ?? PRINCIPAL_TTL_MS;
  const maxEntries = options.maxEntries ?? MAX_ENTRIES;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { owner: CredentialOwner; expiresAt: number }>();
  const verifying = new Map<string, Promise<CredentialOwner | null>>();
  let generation = 0;

  /** Any verification under way may have read what is being revoked: it must not be remembered. */
  function discardVerifications() {
    generation++;
    verifying.clear();
  }

  function remember(key: string, verified: Verified) {
    const expiresAt = Math.min(now() + ttlMs, verified.validUntil);
    if (expiresAt <= now()) return;
    // Oldest first: a Map iterates in insertion order.
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
    entries.set(key, { owner: verified.owner, expiresAt });
  }

  return {
    owner(credential, verify) {
      const key = digest(credential);
      const cached = entries.get(key);
      if (cached && cached.expiresAt > now()) return Promise.resolve(cached.owner);
      if (cached) entries.delete(key);
      const underWay = verifying.get(key);
      if (underWay) return underWay;
      const startedIn = generation;
      const verification = verify()
        .then((verified) => {
          if (verified && generation === startedIn) remember(key, verified);
          return verified?.owner ?? null;
        })
        .finally(() => {
          if (verifying.get(key) === verification) verifying.delete(key);
        });
      verifying.set(key, verification);
      return verification;
    },
    forget(credential) {
      discardVerifications();
      entries.delete(digest(credential));
    },
    forgetUser(userId) {
      discardVerifications();
      for (const [key, entry] of entries) if (entry.owner.userId === userId) entries.delete(key);
    },
    clear() {
      discardVerifications();
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
