import type { IncomingHttpHeaders } from 'node:http';
import { v7 as uuidv7 } from 'uuid';
import { resolvePrincipal } from '../auth/principal.js';
import { refuseForeignOrigin } from '../auth/origins.js';
import { forbidden, unauthorized } from '../es/errors.js';
import type { Services } from '../services.js';
import type { AuthRule, Principal, RequestContext } from './operation.js';

/**
 * The auth rules of the operation table, written once for REST and GraphQL: returns the principal
 * the handler sees (none for a public operation), or throws 401 / 403.
 */
export function authorize(auth: AuthRule, principal: Principal | null): Principal | null {
  if (auth === 'public') return null;
  if (!principal) throw unauthorized();
  if (auth === 'admin' && principal.role !== 'admin') throw forbidden('FORBIDDEN', 'Admin access required');
  return principal;
}

/** The caller's `X-Request-Id`, else a new one. */
export function correlationIdOf(headers: IncomingHttpHeaders): string {
  const header = headers['x-request-id'];
  return typeof header === 'string' && header.length > 0 ? header : uuidv7();
}

export function requestContext(services: Services, principal: Principal | null, correlationId: string): RequestContext {
  return {
    principal,
    correlationId,
    log: services.log.child({ correlationId }),
    commandMetadata: () => ({
      actor: principal ? { kind: principal.via === 'apiKey' ? 'apiKey' : 'user', id: principal.userId } : { kind: 'system', id: 'anonymous' },
      correlationId,
      now: new Date(),
    }),
  };
}

/** What an account without a profile may call (DECISIONS 4): its own profile and the onboarding routes. */
const usableWithoutProfile = (method = '', path = '') => (method === 'GET' && path === '/api/me') || path.startsWith('/api/onboarding/');

/** Resolves the principal from the cookie or `X-API-Key` (not for public operations) and checks the rule. */
export async function contextFor(req: { headers: IncomingHttpHeaders; method?: string; path?: string }, services: Services, auth: AuthRule): Promise<RequestContext> {
  const principal = auth === 'public' ? null : await resolvePrincipal(services.auth, services.readStore, req.headers, {
    profileOptional: usableWithoutProfile(req.method, req.path),
  });
  if (principal?.via === 'session') refuseForeignOrigin(req, services.config);
  return requestContext(services, authorize(auth, principal), correlationIdOf(req.headers));
}
