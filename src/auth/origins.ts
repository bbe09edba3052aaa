import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config.js';
import { DomainError } from '../es/errors.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The Vite dev server of the web app, which the original trusts too. */
const WEB_APP_DEV_ORIGINS = ['http://localhost:5173', 'http://127.0.0.1:5173'];

/**
 * The origins the server is actually reachable at: PUBLIC_URL, the bind address, and — when bound
 * to loopback — every loopback spelling of it (the log prints 127.0.0.1, browsers often say
 * localhost). A wildcard bind (0.0.0.0) names no origin: set PUBLIC_URL to the address users type.
 */
export function trustedOrigins(config: OriginConfig): string[] {
  const origins = [new URL(config.publicUrl).origin, ...WEB_APP_DEV_ORIGINS];
  if (config.port !== 0) {
    const host = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
    if (host !== '0.0.0.0' && host !== '[::]') origins.push(`http://${host}:${config.port}`);
    if (LOOPBACK_HOSTS.has(config.host)) {
      origins.push(`http://127.0.0.1:${config.port}`, `http://localhost:${config.port}`, `http://[::1]:${config.port}`);
    }
  }
  return [...new Set(origins)];
}

/**
 * Whether a request came from a browser page: browsers send `Origin` on every POST (and Fetch
 * Metadata on every request), a link or form also sends `Referer`. curl and scripts send none of
 * them, and a request that no page made carries no cross-site risk, so a session cookie sent that
 * way is accepted as the owner's own.
 */
export function isFromBrowserPage(headers: IncomingHttpHeaders): boolean {
  return Boolean(headers.origin || headers.referer || headers['sec-fetch-site']);
}

/** The origin a browser request claims (`Origin`, else the origin of `Referer`), or null. */
export function claimedOrigin(headers: IncomingHttpHeaders): string | null {
  if (headers.origin) return headers.origin;
  if (!headers.referer) return null;
  try {
    return new URL(headers.referer).origin;
  } catch {
    return 'null';
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const trustedByConfig = new WeakMap<object, Set<string>>();

type OriginConfig = Pick<Config, 'publicUrl' | 'host' | 'port'>;

/** Whether the request claims to come from a page of an origin we do not trust. */
export function isForeignOrigin(headers: IncomingHttpHeaders, config: OriginConfig): boolean {
  const origin = claimedOrigin(headers);
  if (origin === null) return false;
  let trusted = trustedByConfig.get(config);
  if (!trusted) trustedByConfig.set(config, (trusted = new Set(trustedOrigins(config))));
  return !trusted.has(origin);
}

/**
 * A state-changing request authenticated by the session cookie must come from one of our own
 * origins or from no page at all; another site's page cannot act with the user's cookie.
 */
export function refuseForeignOrigin(request: { headers: IncomingHttpHeaders; method?: string }, config: OriginConfig): void {
  if (!request.method || SAFE_METHODS.has(request.method)) return;
  if (isForeignOrigin(request.headers, config)) {
    throw new DomainError(403, 'INVALID_ORIGIN', `Requests from ${claimedOrigin(request.headers)} may not use this session`);
  }
}
