import { v4 as uuidv4 } from 'uuid';
import { sseEnvelope, withContextFigures } from '../live/envelope.js';
import type { LiveMessage } from '../live/feed.js';
import type { Services } from '../services.js';
import { defineRawOperation, type Operation, type Principal } from './operation.js';

export const SSE_PING_MS = 15_000;

/** User-scoped messages (notifications) go to that user only; everything else to everyone. */
export const isFor = (principal: Principal, message: LiveMessage) => !message.userId || message.userId === principal.userId;

export function sseOperations(services: Services): Operation[] {
  return [
    defineRawOperation({
      name: 'sse',
      summary: 'SSE event stream: `connected`, a `ping` every 15 s, then `message` events {type, kinId?, ...payload fields, data: payload}',
      method: 'get',
      path: '/api/sse',
      auth: 'user',
      tags: ['SSE'],
      openapi: { responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } } } },
      async raw(req, res, ctx) {
        const principal = ctx.principal!;
        res.writeHead(200, {
          'Content-Type': 'text/event-stream',
          'Cache-Control': 'no-cache, no-transform',
          Connection: 'keep-alive',
          'X-Accel-Buffering': 'no',
        });
        const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        send('connected', { type: 'connected', connectionId: uuidv4() });
        const ping = setInterval(() => send('ping', { type: 'ping', timestamp: Date.now() }), SSE_PING_MS);
        const unsubscribe = services.live.subscribe((message) => {
          if (!isFor(principal, message)) return;
          send('message', sseEnvelope(withContextFigures(message, (kinId) => services.contextUsage.get(kinId))));
        });
        req.on('close', () => {
          clearInterval(ping);
          unsubscribe();
        });
      },
    }),
  ];
}
