import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventStore } from '../../src/es/eventStore.js';
import type { ProjectionRunner } from '../../src/es/projections.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { createLiveFeed, type LiveFeed, type LiveMessage } from '../../src/live/feed.js';
import { messageFrames, SSE_MAX_PENDING_BYTES, streamLiveFeed, type SseSink } from '../../src/rest/sse.js';
import { signUp, startTestServer, until, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

/** A feed without its event subscription: what /api/sse does with published messages is the subject here. */
const bareFeed = (): LiveFeed =>
  createLiveFeed({ eventStore: {} as EventStore, readStore: {} as ReadStore, projections: {} as ProjectionRunner, mappers: [] });

/** What a socket accepts before `write` says to wait (Node's default high-water mark). */
const HIGH_WATER_MARK = 16 * 1024;

/**
 * A client as the stream sees it. Like a socket, it buffers what is written in one tick and offers
 * it on the next: a reading client takes it all then, a stuck one nothing.
 */
function fakeClient(reads: boolean) {
  const frames: Buffer[] = [];
  let pending = 0;
  let flushScheduled = false;
  let destroyed = false;
  const sink: SseSink & { frames: Buffer[] } = {
    frames,
    write(frame) {
      frames.push(frame);
      pending += frame.length;
      if (reads && !flushScheduled) {
        flushScheduled = true;
        process.nextTick(() => {
          flushScheduled = false;
          pending = 0;
        });
      }
      return pending <= HIGH_WATER_MARK;
    },
    get writableLength() {
      return pending;
    },
    get destroyed() {
      return destroyed;
    },
    destroy() {
      destroyed = true;
    },
  };
  return sink;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

const frameText = (frame: Buffer) => JSON.parse(/^data: (.*)$/m.exec(frame.toString())![1]!) as Record<string, unknown>;

describe('the fan-out of the live feed', () => {
  it('serializes a message once, however many clients receive it', () => {
    const live = bareFeed();
    const frameOf = messageFrames(() => undefined);
    const clients = [fakeClient(true), fakeClient(true), fakeClient(true)];
    for (const client of clients) streamLiveFeed(client, { live, accept: () => true, frameOf });
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      live.publish({ type: 'kin:updated', kinId: 'k1', data: { name: 'Scout' } });
      expect(stringify).toHaveBeenCalledTimes(1);
    } finally {
      stringify.mockRestore();
    }
    const [first, ...others] = clients.map((client) => client.frames.at(-1));
    for (const frame of others) expect(frame).toBe(first);
    expect(frameText(first!)).toEqual({ type: 'kin:updated', kinId: 'k1', name: 'Scout', data: { name: 'Scout' } });
  });

  it('drops a client whose unread bytes pass the bound, and goes on writing to the others in order', async () => {
    const live = bareFeed();
    const frameOf = messageFrames(() => undefined);
    const reading = fakeClient(true);
    const stuck = fakeClient(false);
    const dropped = vi.fn();
    streamLiveFeed(reading, { live, accept: () => true, frameOf });
    streamLiveFeed(stuck, { live, accept: () => true, frameOf, onDropped: dropped });
    expect(live.listenerCount()).toBe(2);

    const padding = 'x'.repeat(64 * 1024);
    const count = Math.ceil((2 * SSE_MAX_PENDING_BYTES) / padding.length);
    for (let index = 0; index < count; index++) {
      live.publish({ type: 'test:filler', data: { index, padding } });
      await nextTurn();
    }

    expect(stuck.destroyed).toBe(true);
    expect(dropped).toHaveBeenCalledTimes(1);
    expect(dropped.mock.calls[0]![0]).toBeGreaterThan(SSE_MAX_PENDING_BYTES);
    // Nothing more than the bound and the message that crossed it was ever queued for the stuck client.
    expect(stuck.writableLength).toBeLessThanOrEqual(SSE_MAX_PENDING_BYTES + stuck.frames.at(-1)!.length);
    expect(live.listenerCount()).toBe(1);
    expect(reading.destroyed).toBe(false);
    const indexes = reading.frames.slice(1).map((frame) => frameText(frame).index);
    expect(indexes).toEqual(Array.from({ length: count }, (_, index) => index));
  });

  it('keeps a reading client that gets more than the bound in one tick', async () => {
    const live = bareFeed();
    const reading = fakeClient(true);
    streamLiveFeed(reading, { live, accept: () => true, frameOf: messageFrames(() => undefined) });
    const padding = 'x'.repeat(64 * 1024);
    const count = Math.ceil((2 * SSE_MAX_PENDING_BYTES) / padding.length);
    for (let index = 0; index < count; index++) live.publish({ type: 'test:filler', data: { index, padding } });
    expect(reading.writableLength).toBeGreaterThan(SSE_MAX_PENDING_BYTES);
    await nextTurn();
    expect(reading.destroyed).toBe(false);
    expect(live.listenerCount()).toBe(1);
    expect(reading.frames).toHaveLength(count + 1);
  });

  it('sends a user-scoped message to that user only', () => {
    const live = bareFeed();
    const frameOf = messageFrames(() => undefined);
    const ada = fakeClient(true);
    const grace = fakeClient(true);
    const to = (userId: string) => (message: LiveMessage) => !message.userId || message.userId === userId;
    streamLiveFeed(ada, { live, accept: to('ada'), frameOf });
    streamLiveFeed(grace, { live, accept: to('grace'), frameOf });
    live.publish({ type: 'log:entry', userId: 'ada', data: { message: 'for Ada' } });
    live.publish({ type: 'kin:deleted', kinId: 'k1', data: {} });
    expect(ada.frames.slice(1).map((frame) => frameText(frame).type)).toEqual(['log:entry', 'kin:deleted']);
    expect(grace.frames.slice(1).map((frame) => frameText(frame).type)).toEqual(['kin:deleted']);
  });
});

describe('/api/sse with a client that stops reading', () => {
  let server: TestServer;
  let cookie: string;

  beforeAll(async () => {
    server = await startTestServer();
    ({ cookie } = await signUp(server.url));
  });
  afterAll(() => server.cleanup());

  /** An /api/sse connection that reads its headers, then nothing: its socket fills up. */
  function openStuckClient() {
    return new Promise<{ response: http.IncomingMessage; closed: Promise<void> }>((resolve, reject) => {
      const request = http.get(`${server.url}/api/sse`, { agent: false, headers: { cookie } }, (response) => {
        response.pause();
        const closed = new Promise<void>((done) => {
          response.on('close', () => done());
          response.on('error', () => done());
        });
        resolve({ response, closed });
      });
      request.on('error', reject);
    });
  }

  it('drops it once it is past the bound, while a reading client receives every message in order', async () => {
    const live = server.services.live;
    const reader = await openSse(server.url, { cookie });
    const stuck = await openStuckClient();
    expect(stuck.response.statusCode).toBe(200);
    await until(async () => live.listenerCount(), (count) => count === 2);

    // Enough to fill the stuck client's socket buffers (a few MB on loopback) and then the bound.
    const padding = 'x'.repeat(32 * 1024);
    let sent = 0;
    while (live.listenerCount() === 2 && sent < 2000) {
      live.publish({ type: 'test:filler', data: { index: sent++, padding } });
      // The reading client lives in this process: let it read between messages, as a browser would.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(live.listenerCount()).toBe(1);
    // A burst larger than the bound in one tick is no reason to drop a client that reads.
    for (let more = 0; more < 20; more++) live.publish({ type: 'test:filler', data: { index: sent++, padding } });

    const fillers = () => reader.wire().filter((message) => message.type === 'test:filler');
    await until(async () => fillers().length, (length) => length === sent);
    expect(fillers().map((message) => message.index)).toEqual(Array.from({ length: sent }, (_, index) => index));

    // The stuck client finds its stream cut off once it reads again.
    stuck.response.resume();
    await stuck.closed;
    await reader.close();
    await until(async () => live.listenerCount(), (count) => count === 0);
    expect(live.listenerCount()).toBe(0);
  }, 60_000);
});
