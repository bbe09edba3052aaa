import { expect } from 'vitest';

type Frame = { event: string; data: any };
/** A `message` event's data as /api/sse sends it: `{type, kinId?, ...payload fields, data: payload}`. */
export type WireMessage = Record<string, any>;

/**
 * DECISIONS 20: the payload is at the top level (a payload `type` as `sourceType`, a payload
 * `kinId` as the message's `kinId`) and, unchanged, under `data`; nothing else is there.
 */
export function expectPayloadFlattened(message: WireMessage) {
  const { type, kinId, data, ...top } = message;
  expect(type).toBeTypeOf('string');
  expect(data).toBeTypeOf('object');
  const { kinId: ownKinId, ...payload } = data as Record<string, unknown>;
  const renamed = Object.fromEntries(
    Object.entries(payload)
      .filter(([key, value]) => key !== 'data' && value !== undefined)
      .map(([key, value]) => [key === 'type' && !('sourceType' in payload) ? 'sourceType' : key, value]),
  );
  expect(top, `the top-level fields of ${type}`).toEqual(renamed);
  if (ownKinId) expect(kinId).toBe(ownKinId);
}

/** Reads /api/sse as a client would: frames of `event:` and `data:` lines, collected as they arrive. */
export async function openSse(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/sse`, { headers, signal: controller.signal });
  const reader = response.body!.getReader();
  const received: Frame[] = [];
  let buffer = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += new TextDecoder().decode(value);
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
        const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null');
        received.push({ event, data });
      }
    }
  })();
  const waitFor = async (predicate: () => boolean) => {
    for (let i = 0; i < 150 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  await waitFor(() => received.some((m) => m.event === 'connected'));
  /** The `message` events' data as sent, in order. */
  const wire = (): WireMessage[] => received.filter((m) => m.event === 'message').map((m) => m.data);
  return {
    response,
    /** Every frame as it arrived, `connected` and `ping` included. */
    received,
    waitFor,
    wire,
    /**
     * The `message` events in the documented nested form `{type, kinId?, data}`, in order, each
     * checked first to carry its payload flattened as well (so every test reading the feed checks it).
     */
    messages: (): any[] =>
      wire().map((message) => {
        expectPayloadFlattened(message);
        const { type, kinId, data } = message;
        return kinId === undefined ? { type, data } : { type, kinId, data };
      }),
    async close() {
      controller.abort();
      await pump;
    },
  };
}
