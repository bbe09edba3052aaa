import type { IncomingHttpHeaders } from 'node:http';
import { fromNodeHeaders } from 'better-auth/node';
import { DomainError } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { Principal } from '../rest/operation.js';
import type { Auth } from './auth.js';

export const profileRequired = () => new DomainError(403, 'PROFILE_REQUIRED', 'Account setup incomplete. Please complete onboarding.');

/**
 * Who is calling: an `X-API-Key` (checked by Better Auth's API key plugin; acts as its owner) or
 * the session cookie. No credentials → null; credentials that do not hold → 401, never a 500.
 * The role comes from the users read model, so a deleted user loses access at once even while
 * a cached session cookie is still valid. An account without a profile (signed up without an
 * invitation) gets 403 PROFILE_REQUIRED everywhere but where `profileOptional` says.
 * `Authorization` is not a credential here (Better Auth runs without its bearer plugin), so the
 * empty or stale `Bearer` the web app sends beside its cookie on export changes nothing (webapp.md).
 */
export async function resolvePrincipal(
  auth: Auth,
  readStore: ReadStore,
  headers: IncomingHttpHeaders,
  options: { profileOptional?: boolean } = {},
): Promise<Principal | null> {
  const apiKeyHeader = headers['x-api-key'];
  let userId: string;
  let via: Principal['via'];
  let apiKeyId: string | undefined;
  if (typeof apiKeyHeader === 'string' && apiKeyHeader.length > 0) {
    const result = await auth.api.verifyApiKey({ body: { key: apiKeyHeader } }).catch(() => null);
    if (!result?.valid || !result.key) throw new DomainError(401, 'INVALID_API_KEY', 'Invalid or revoked API key');
    userId = result.key.referenceId;
    via = 'apiKey';
    apiKeyId = result.key.id;
  } else {
    const session = await auth.api.getSession({ headers: fromNodeHeaders(headers) }).catch(() => null);
    if (!session) return null;
    userId = session.user.id;
    via = 'session';
  }
  const user = await readStore.collection<UserDoc>(USERS).get(userId);
  if (!user) throw new DomainError(401, 'UNAUTHORIZED', 'This account no longer exists');
  if (user.hasProfile === false && !options.profileOptional) throw profileRequired();
  return { userId, name: user.name, email: user.email, role: user.role, via, apiKeyId };
}
