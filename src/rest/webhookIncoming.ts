import { z } from 'zod';
import { ingestPayload, tokenMatches } from '../commands/webhooks.js';
import type { CommandMetadata } from '../es/decider.js';
import { conflict, DomainError, forbidden, notFound, unauthorized } from '../es/errors.js';
import { WEBHOOKS, type WebhookDoc } from '../projections/webhooks.js';
import { createRateLimiter } from '../lib/rateLimiter.js';
import { readRawBody } from '../lib/rawBody.js';
import type { Services } from '../services.js';
import { defineRawOperation, type Operation } from './operation.js';

/** `Authorization: Bearer <token>`, else `?token=`. */
function presentedToken(authorization: string | undefined, query: unknown): string | null {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (bearer) return bearer;
  return typeof query === 'string' && query.length > 0 ? query : null;
}

const firstHeader = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value) || undefined;

/**
 * POST /api/webhooks/incoming/:webhookId (public), checks in the spec's order: rate limit (per id,
 * unknown ids too), existence, token present, token right, active, body size; then the payload is
 * logged and, when it passes the filter, queued for the Kin.
 */
export function incomingWebhookOperation(services: Services): Operation {
  const { readStore } = services;
  const limits = services.config.webhooks;
  const limiter = createRateLimiter({ max: limits.rateLimitPerMinute, windowMs: 60_000 });
  return defineRawOperation({
    name: 'receiveWebhook',
    summary: `Receive an incoming webhook: token in Authorization: Bearer or ?token=; any content type, at most ${limits.maxPayloadChars} characters; ${limits.rateLimitPerMinute} requests/min per webhook`,
    method: 'post',
    path: '/api/webhooks/incoming/:webhookId',
    auth: 'public',
    readsBody: true,
    tags: ['Webhooks'],
    params: z.object({ webhookId: z.string() }),
    openapi: {
      requestBody: { required: false, content: { '*/*': { schema: { type: 'string' } } } },
      responses: {
        '200': { description: '`{success: true}`, with `filtered: true` when the filter turned the payload away' },
        '401': { description: 'No token' },
        '403': { description: 'Wrong token' },
        '404': { description: 'Unknown webhook' },
        '409': { description: 'Webhook inactive' },
        '413': { description: 'Payload too large' },
        '429': { description: 'Rate limited (see Retry-After)' },
      },
    },
    async raw(req, res, ctx) {
      const webhookId = String(req.params.webhookId);
      const waitMs = limiter.hit(webhookId);
      if (waitMs > 0) {
        const retryAfter = String(Math.ceil(waitMs / 1000));
        throw new DomainError(429, 'RATE_LIMITED', `Rate limit exceeded (max ${limits.rateLimitPerMinute}/min)`, undefined, { 'Retry-After': retryAfter });
      }
      const webhook = await readStore.collection<WebhookDoc>(WEBHOOKS).get(webhookId);
      if (!webhook || webhook.kinDeleted) throw notFound('WEBHOOK_NOT_FOUND', 'Webhook not found');
      const sourceIp = (firstHeader(req.headers['x-forwarded-for']) ?? firstHeader(req.headers['x-real-ip']) ?? 'unknown').slice(0, 255);
      const token = presentedToken(req.headers.authorization, req.query.token);
      if (!token) throw unauthorized('Token required. Use Authorization: Bearer <token> header or ?token= query param.');
      if (!tokenMatches(token, webhook.tokenHash)) {
        ctx.log.warn({ webhookId, sourceIp }, 'incoming webhook refused: invalid token');
        throw forbidden('FORBIDDEN', 'Invalid token');
      }
      if (!webhook.isActive) throw conflict('WEBHOOK_INACTIVE', 'Webhook is inactive');
      // A UTF-16 code unit takes at most 3 UTF-8 bytes: more bytes than that is too many characters.
      const payload = (await readRawBody(req, limits.maxPayloadChars * 3))?.toString('utf8');
      if (payload === undefined || payload.length > limits.maxPayloadChars) {
        throw new DomainError(413, 'PAYLOAD_TOO_LARGE', `Payload too large (max ${limits.maxPayloadChars} characters)`);
      }
      const metadata: CommandMetadata = { actor: { kind: 'system', id: `webhook:${webhookId}` }, correlationId: ctx.correlationId, now: new Date() };
      const deps = { ...services, notify: () => services.projections.notify() };
      const result = await ingestPayload(deps, webhook, { payload, sourceIp }, metadata);
      await services.settle(result.position);
      if (result.filtered) return void res.json({ success: true, filtered: true });
      services.turns.kick();
      res.json({ success: true });
    },
  });
}
