import { v4 as uuidv4 } from 'uuid';
import type { ContextUsage } from '../agents/contextUsage.js';
import { sseEnvelope, withContextFigures } from '../live/envelope.js';
import type { LiveFeed, LiveMessage } from '../live/feed.js';
import type { Services } from '../services.js';
import { defineRawOperation, type Operation, type Principal } from './operation.js';

export const SSE_PING_MS = 15_000;

/**
 * What a client may leave unread in the server's buffer, beyond what its socket already holds,
 * before it is dropped: a tab that stopped reading must not hold the feed in memory, nor slow the
 * others. Frames are shared between clients, so this bounds the bytes queued, not copies of them.
 */
export const SSE_MAX_PENDING_BYTES = 1024 * 1024;

/** User-scoped messages (notifications, admins' log entries) go to that user only; everything else to everyone. */
export const isFor = (principal: Principal, message: LiveMessage) => !message.userId || message.userId === principal.userId;

/** One server-sent event, as the bytes every client receives. */
export const sseFrame = (event: string, data: unknown): Buffer => Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

/**
 * The `message` frame of a live message, serialized once however many clients receive it: the
 * feed hands every listener the same message object, and nothing in the frame depends on the client.
 */
export function messageFrames(usageOf: (kinId: string) => ContextUsage | undefined): (message: LiveMessage) => Buffer {
  const frames = new WeakMap<LiveMessage, Buffer>();
  return (message) => {
    let frame = frames.get(message);
    if (!frame) {
      frame = sseFrame('message', sseEnvelope(withContextFigures(message, usageOf)));
      frames.set(message, frame);
    }
    return frame;
  };
}

/** The part of an HTTP response an SSE client needs; a test can stand in for it. */
export type SseSink = {
  write(frame: Buffer): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  destroy(): void;
};

/**
 * Streams the feed to one client: `connected`, then its messages in order and a ping every 15 s.
 * Writes never wait: a client whose unread bytes pass SSE_MAX_PENDING_BYTES is cut off (`onDropped`),
 * and the feed goes on for the others. Returns the function that ends the stream.
 */
export function streamLiveFeed(
  sink: SseSink,
  options: {
    live: LiveFeed;
    accept: (message: LiveMessage) => boolean;
    frameOf: (message: LiveMessage) => Buffer;
    onDropped?: (pendingBytes: number) => void;
  },
): () => void {
  let ended = false;
  let checkScheduled = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(ping);
    unsubscribe();
  };
  const checkBacklog = () => {
    checkScheduled = false;
    if (ended) return;
    const pending = sink.writableLength;
    if (pending <= SSE_MAX_PENDING_BYTES) return;
    end();
    sink.destroy();
    options.onDropped?.(pending);
  };
  const send = (frame: Buffer) => {
    if (ended) return;
    if (sink.destroyed) return end();
    // `false` means the socket holds more than its high-water mark, which a burst written in one
    // tick also does (Node flushes it on the next one); what the client really left unread is
    // known once the burst has been offered to the socket, so the backlog is measured after.
    if (!sink.write(frame) && !checkScheduled) {
      checkScheduled = true;
      setImmediate(checkBacklog);
    }
  };
  const ping = setInterval(() => send(sseFrame('ping', { type: 'ping', timestamp: Date.now() })), SSE_PING_MS);
  const unsubscribe = options.live.subscribe((message) => {
    if (options.accept(message)) send(options.frameOf(message));
  });
  send(sseFrame('connected', { type: 'connected', connectionId: uuidv4() }));
  return end;
}

export function sseOperations(services: Services): Operation[] {
  const frameOf = messageFrames((kinId) => services.contextUsage.get(kinId));
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
        const end = streamLiveFeed(res, {
          live: services.live,
          accept: (message) => isFor(principal, message),
          frameOf,
          onDropped: (pendingBytes) => ctx.log.info({ pendingBytes }, 'live feed client dropped: it stopped reading'),
        });
        res.on('close', end);
      },
    }),
  ];
}
