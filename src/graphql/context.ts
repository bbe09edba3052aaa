import type { Principal } from '../rest/operation.js';

/**
 * The GraphQL context of one request (HTTP) or one subscription (websocket). The principal was
 * resolved once, from the cookie or `X-API-Key`, when the request or the socket came in; each
 * field then checks its operation's auth rule against it, as REST does per route.
 */
export type GraphqlContext = { principal: Principal | null; correlationId: string };
