import type { IncomingHttpHeaders } from 'node:http';
import { API_KEY_TABLE_NAME, defaultKeyHasher } from '@better-auth/api-key';
import { fromNodeHeaders } from 'better-auth/node';
import { DomainError } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { Principal } from '../rest/operation.js';
import type { Auth } from './auth.js';
import { sessionCookieValues, type CredentialOwner, type Verified } from './principalCache.js';

export const profileRequired = () => new DomainError(403, 'PROFILE_REQUIRED', 'Account setup incomplete. Please complete onboarding.');

type ApiKeyRow = { id: string; referenceId: string; enabled: boolean | null; expiresAt: Date | string | null; remaining: number | null };

/**
 * A key with a usage quota (`remaining`: server-side only, which KinBot never sets) is verified by
 * the plugin, which consumes the quota on each use; such a key is never cached.
 */
async function verifiedByPlugin(auth: Auth, key: string): Promise<Verified | null> {
  const result = await auth.api.verifyApiKey({ body: { key } }).catch(() => null);
  if (!result?.valid || !result.key) return null;
  return { owner: { userId: result.key.referenceId, via: 'apiKey', apiKeyId: result.key.id }, validUntil: 0 };
}

/**
 * Reads the key's row and checks it as the plugin does (exists, enabled, not expired). The
 * plugin's own verification writes the key's last use before it answers, even with
 * `deferUpdates`; that write is bookkeeping, so here it runs in the background.
 */
async function verifyApiKey(auth: Auth, key: string): Promise<Verified | null> {
  const context = await auth.$context;
  const where = [{ field: 'key', value: await defaultKeyHasher(key) }];
  const row = await context.adapter.findOne<ApiKeyRow>({ model: API_KEY_TABLE_NAME, where });
  if (!row) return null;
  if (row.remaining !== null) return verifiedByPlugin(auth, key);
  const validUntil = row.expiresAt ? new Date(row.expiresAt).getTime() : Number.POSITIVE_INFINITY;
  if (row.enabled === false || !(validUntil > Date.now())) return null;
  const lastUse = { model: API_KEY_TABLE_NAME, where: [{ field: 'id', value: row.id }], update: { lastRequest: new Date() } };
  context.runInBackground(context.adapter.update(lastUse));
  return { owner: { userId: row.referenceId, via: 'apiKey', apiKeyId: row.id }, validUntil };
}

/**
 * Asks the session table, not the signed `session_data` cookie (Better Auth's cookie cache), which
 * would vouch for a signed-out session for minutes. The cookie's value is the cache key only if
 * it is the one Better Auth read (its parser settles a duplicated cookie name).
 */
async function verifySession(auth: Auth, headers: IncomingHttpHeaders, signedToken: string): Promise<Verified | null> {
  const session = await auth.api.getSession({ headers: fromNodeHeaders(headers), query: { disableCookieCache: true } }).catch(() => null);
  if (!session) return null;
  const sameCookie = signedToken.slice(0, signedToken.lastIndexOf('.')) === session.session.token;
  return { owner: { userId: session.user.id, via: 'session' }, validUntil: sameCookie ? new Date(session.session.expiresAt).getTime() : 0 };
}

/** Whose the request's credential is: verified by Better Auth, or remembered from a verification seconds ago. */
async function credentialOwner(auth: Auth, headers: IncomingHttpHeaders): Promise<CredentialOwner | null> {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.length > 0) {
    const owner = await auth.principals.owner({ kind: 'apiKey', value: apiKey }, () => verifyApiKey(auth, apiKey));
    if (!owner) throw new DomainError(401, 'INVALID_API_KEY', 'Invalid or revoked API key');
    return owner;
  }
  const signedToken = sessionCookieValues(headers.cookie, auth.sessionCookie).at(-1);
  if (!signedToken) return null;
  return auth.principals.owner({ kind: 'session', value: signedToken }, () => verifySession(auth, headers, signedToken));
}

/**
 * Who is calling: an `X-API-Key` (a key of Better Auth's API key plugin; acts as its owner) or
 * the session cookie. No credentials → null; credentials that do not hold → 401, never a 500.
 * A verified credential is remembered for a few seconds (src/auth/principalCache.ts; Better Auth's
 * endpoints that revoke one clear it). The user's role and profile are read from the users read
 * model on every request, never cached: a deleted user (whose keys and sessions are removed behind
 * Better Auth's endpoints) loses access at once, and a changed role applies to the next request.
 * An account without a profile (signed up without an invitation) gets 403 PROFILE_REQUIRED
 * everywhere but where `profileOptional` says.
 * `Authorization` is not a credential here (Better Auth runs without its bearer plugin), so the
 * empty or stale `Bearer` the web app sends beside its cookie on export changes nothing (webapp.md).
 */
export async function resolvePrincipal(
  auth: Auth,
  readStore: ReadStore,
  headers: IncomingHttpHeaders,
  options: { profileOptional?: boolean } = {},
): Promise<Principal | null> {
  const owner = await credentialOwner(auth, headers);
  if (!owner) return null;
  const user = await readStore.collection<UserDoc>(USERS).get(owner.userId);
  if (!user) throw new DomainError(401, 'UNAUTHORIZED', 'This account no longer exists');
  if (user.hasProfile === false && !options.profileOptional) throw profileRequired();
  return { userId: owner.userId, name: user.name, email: user.email, role: user.role, via: owner.via, apiKeyId: owner.apiKeyId };
}
