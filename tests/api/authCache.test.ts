import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrincipalCache, PRINCIPAL_TTL_MS, sessionCookieValues, type CredentialOwner, type PrincipalCache, type Verified } from '../../src/auth/principalCache.js';
import { apiKeyClient, client, signUp, startTestServer, until, type TestServer } from './helpers.js';

/**
 * Verified credentials are remembered for a few seconds (src/auth/principalCache.ts). Each test
 * first uses a credential, so that it is cached, then revokes it and expects the very next request
 * to fail.
 */

let server: TestServer;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  server = await startTestServer();
  admin = await signUp(server.url);
});
afterAll(() => server.cleanup());

let accounts = 0;
/** A member signed up with an invitation (so with a profile at once). */
async function invitedMember() {
  accounts += 1;
  const invitation = (await admin.api.post('/api/invitations', {})).body.invitation as { token: string };
  const user = { name: `Grace Hopper${accounts}`, email: `grace${accounts}@example.com`, password: 'correct horse battery' };
  return { ...(await signUp(server.url, { ...user, invitationToken: invitation.token } as typeof user)), ...user };
}

/** Signs in again: a second session of the same user, as a second browser would have. */
async function signIn(email: string, password: string) {
  const response = await fetch(`${server.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  expect(response.status).toBe(200);
  const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return { cookie, api: client(server.url, { cookie }) };
}

describe('API keys', () => {
  it('refuses a disabled key on the very next request after it was used', async () => {
    const key = await apiKeyClient(server.url, admin.cookie);
    expect((await key.api.get('/api/kins')).status).toBe(200);
    expect((await key.api.get('/api/kins')).status).toBe(200);
    const disabled = await admin.api.post('/api/auth/api-key/update', { keyId: key.id, enabled: false });
    expect(disabled.status).toBe(200);
    const next = await key.api.get('/api/kins');
    expect(next.status).toBe(401);
    expect(next.body.error.code).toBe('INVALID_API_KEY');
  });

  it('refuses a deleted key on the very next request after it was used', async () => {
    const key = await apiKeyClient(server.url, admin.cookie);
    expect((await key.api.get('/api/me')).status).toBe(200);
    expect((await admin.api.post('/api/auth/api-key/delete', { keyId: key.id })).status).toBe(200);
    expect((await key.api.get('/api/me')).status).toBe(401);
  });

  it('still records when a key was last used, off the request path', async () => {
    const key = await apiKeyClient(server.url, admin.cookie);
    expect((await key.api.get('/api/me')).status).toBe(200);
    const listed = await until(
      async () => {
        const { body } = await admin.api.get('/api/auth/api-key/list');
        const keys = (Array.isArray(body) ? body : body.apiKeys) as { id: string; lastRequest: string | null }[];
        return keys.find((k) => k.id === key.id);
      },
      (found) => Boolean(found?.lastRequest),
    );
    expect(listed?.lastRequest).toBeTruthy();
  });

  it('trusts a key removed behind Better Auth’s endpoints (as by another instance) for a few seconds at most', async () => {
    const key = await apiKeyClient(server.url, admin.cookie);
    expect((await key.api.get('/api/me')).status).toBe(200);
    const context = await server.services.auth.$context;
    await context.adapter.delete({ model: 'apikey', where: [{ field: 'id', value: key.id }] });
    // Within the TTL this instance still trusts its verification (that is the cache at work)…
    expect((await key.api.get('/api/me')).status).toBe(200);
    // …and once it has passed, the key is verified again and refused.
    const started = Date.now();
    const refused = await until(() => key.api.get('/api/me'), (response) => response.status === 401, PRINCIPAL_TTL_MS + 3_000);
    expect(refused.status).toBe(401);
    expect(Date.now() - started).toBeLessThanOrEqual(PRINCIPAL_TTL_MS + 1_000);
  });
});

describe('sessions', () => {
  it('refuses a signed-out session cookie on the next request, even with its signed session data', async () => {
    const member = await invitedMember();
    const session = await signIn(member.email, member.password);
    expect(session.cookie).toContain('session_data');
    expect((await session.api.get('/api/me')).status).toBe(200);
    expect((await session.api.post('/api/auth/sign-out')).status).toBe(200);
    // The client replays the cookies it had, as a stolen copy would be replayed.
    const replayed = await session.api.get('/api/me');
    expect(replayed.status).toBe(401);
    expect(replayed.body.error.code).toBe('UNAUTHORIZED');
  });

  it("lets an anonymous sign-out forget no one's credentials", async () => {
    expect((await admin.api.get('/api/me')).status).toBe(200);
    const cached = server.services.auth.principals.size;
    expect(cached).toBeGreaterThan(0);
    const stranger = await client(server.url, { cookie: 'better-auth.session_token=forged.signature' }).post('/api/auth/sign-out');
    expect(stranger.status).toBeLessThan(500);
    expect(server.services.auth.principals.size).toBe(cached);
  });

  it('refuses sessions revoked from another session on their next request', async () => {
    const member = await invitedMember();
    const laptop = await signIn(member.email, member.password);
    const phone = await signIn(member.email, member.password);
    expect((await laptop.api.get('/api/me')).status).toBe(200);
    expect((await phone.api.get('/api/me')).status).toBe(200);
    expect((await phone.api.post('/api/auth/revoke-other-sessions', {})).status).toBe(200);
    expect((await laptop.api.get('/api/me')).status).toBe(401);
    expect((await phone.api.get('/api/me')).status).toBe(200);
    expect((await phone.api.post('/api/auth/revoke-sessions', {})).status).toBe(200);
    expect((await phone.api.get('/api/me')).status).toBe(401);
  });
});

describe('users', () => {
  it("refuses a deleted user's key and cookie on the next request", async () => {
    const member = await invitedMember();
    const key = await apiKeyClient(server.url, member.cookie);
    expect((await key.api.get('/api/kins')).status).toBe(200);
    expect((await member.api.get('/api/kins')).status).toBe(200);
    expect((await admin.api.delete(`/api/users/${member.userId}`)).status).toBe(200);
    expect((await key.api.get('/api/kins')).status).toBe(401);
    expect((await member.api.get('/api/kins')).status).toBe(401);
  });

  it('opens the API on the next request once a cached account completes its profile', async () => {
    accounts += 1;
    const user = { name: `Alan Turing${accounts}`, email: `alan${accounts}@example.com`, password: 'correct horse battery' };
    const account = await signUp(server.url, user);
    expect((await account.api.get('/api/me')).status).toBe(200);
    const refused = await account.api.get('/api/kins');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('PROFILE_REQUIRED');
    const invitation = (await admin.api.post('/api/invitations', {})).body.invitation as { token: string };
    const profile = { firstName: 'Alan', lastName: 'Turing', pseudonym: `alan${accounts}`, invitationToken: invitation.token };
    expect((await account.api.post('/api/onboarding/profile', profile)).status).toBe(201);
    expect((await account.api.get('/api/kins')).status).toBe(200);
  });
});

describe('the principal cache', () => {
  const owner = { userId: 'u1', via: 'apiKey' as const, apiKeyId: 'k1' };
  const key = (value: string) => ({ kind: 'apiKey' as const, value });
  const counting = (outcome: Verified | null) => {
    let calls = 0;
    return { verify: async () => (calls++, outcome), calls: () => calls };
  };
  const forever = (who: CredentialOwner = owner): Verified => ({ owner: who, validUntil: Number.POSITIVE_INFINITY });

  it('verifies a credential once while it is fresh, and again after the TTL', async () => {
    let now = 1_000;
    const cache = createPrincipalCache({ ttlMs: 5_000, now: () => now });
    const verifier = counting(forever());
    expect(await cache.owner(key('kb_1'), verifier.verify)).toEqual(owner);
    now += 4_999;
    expect(await cache.owner(key('kb_1'), verifier.verify)).toEqual(owner);
    expect(verifier.calls()).toBe(1);
    now += 1;
    await cache.owner(key('kb_1'), verifier.verify);
    expect(verifier.calls()).toBe(2);
  });

  it('never keeps a credential past its own expiry, nor one marked not to be cached', async () => {
    let now = 1_000;
    const cache = createPrincipalCache({ ttlMs: 5_000, now: () => now });
    const expiring = counting({ owner, validUntil: 2_000 });
    await cache.owner({ kind: 'session', value: 'a' }, expiring.verify);
    now = 2_000;
    await cache.owner({ kind: 'session', value: 'a' }, expiring.verify);
    expect(expiring.calls()).toBe(2);
    const uncached = counting({ owner, validUntil: 0 });
    await cache.owner(key('quota'), uncached.verify);
    await cache.owner(key('quota'), uncached.verify);
    expect(uncached.calls()).toBe(2);
  });

  it('does not remember refusals', async () => {
    const cache = createPrincipalCache();
    const refusing = counting(null);
    expect(await cache.owner(key('wrong'), refusing.verify)).toBeNull();
    expect(await cache.owner(key('wrong'), refusing.verify)).toBeNull();
    expect(refusing.calls()).toBe(2);
  });

  it('keeps a session token and an API key with the same text apart', async () => {
    const cache = createPrincipalCache();
    await cache.owner({ kind: 'session', value: 'same' }, counting(forever({ userId: 'u1', via: 'session' })).verify);
    const refusing = counting(null);
    expect(await cache.owner(key('same'), refusing.verify)).toBeNull();
    expect(refusing.calls()).toBe(1);
  });

  it('shares one verification among concurrent requests with the same credential', async () => {
    const cache = createPrincipalCache();
    const verifier = counting(forever());
    const owners = await Promise.all(Array.from({ length: 10 }, () => cache.owner(key('kb_1'), verifier.verify)));
    expect(owners.every((found) => found?.userId === 'u1')).toBe(true);
    expect(verifier.calls()).toBe(1);
  });

  it('does not let a verification that was under way during a revocation into the cache', async () => {
    for (const revoke of [(c: PrincipalCache) => c.clear(), (c: PrincipalCache) => c.forgetUser('u1'), (c: PrincipalCache) => c.forget(key('kb_1'))]) {
      const cache = createPrincipalCache();
      let release!: () => void;
      const slow = () => new Promise<Verified>((resolve) => (release = () => resolve(forever())));
      const before = cache.owner(key('kb_1'), slow);
      revoke(cache);
      release();
      await before;
      expect(cache.size).toBe(0);
    }
  });

  it("forgets one credential, or every credential of one user, and keeps the others'", async () => {
    const cache = createPrincipalCache();
    const ada = { userId: 'ada', via: 'apiKey' as const };
    const grace = { userId: 'grace', via: 'apiKey' as const };
    for (const [value, who] of [['a1', ada], ['a2', ada], ['g1', grace]] as const) await cache.owner(key(value), async () => forever(who));
    cache.forget(key('a1'));
    expect(cache.size).toBe(2);
    cache.forgetUser('ada');
    expect(cache.size).toBe(1);
    const verifier = counting(null);
    expect(await cache.owner(key('g1'), verifier.verify)).toEqual(grace);
    expect(verifier.calls()).toBe(0);
  });

  it('keeps at most its maximum number of credentials, forgetting the oldest', async () => {
    const cache = createPrincipalCache({ maxEntries: 2 });
    const verifier = counting(forever());
    for (const value of ['a', 'b', 'c']) await cache.owner(key(value), verifier.verify);
    expect(cache.size).toBe(2);
    await cache.owner(key('c'), verifier.verify);
    expect(verifier.calls()).toBe(3);
    await cache.owner(key('a'), verifier.verify);
    expect(verifier.calls()).toBe(4);
  });

  it('reads every value of a repeated session cookie, decoded', () => {
    expect(sessionCookieValues('a=1; kb.session=x.y%3D; b=2; kb.session=z.w', 'kb.session')).toEqual(['x.y=', 'z.w']);
    expect(sessionCookieValues(undefined, 'kb.session')).toEqual([]);
  });
});
