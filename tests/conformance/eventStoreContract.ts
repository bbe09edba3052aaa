import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
} from '../../src/es/eventStore.js';

/**
 * The EventStore port's contract. Every adapter runs it (tests/conformance/eventStore.test.ts).
 * Stream names are unique per test and assertions look only at the test's own streams, so the
 * suite also runs against a shared EventStoreDB that other writers use at the same time.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const newStream = (category = 'contract'): string => `${category}-${randomUUID()}`;

const metadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: { kind: 'user', id: 'user-1' },
  correlationId: randomUUID(),
  causationId: randomUUID(),
  occurredAt: new Date().toISOString(),
  schemaVersion: 1,
  ...overrides,
});

const event = (type: string, data: unknown = {}): NewEvent => ({ type, data, metadata: metadata() });

const events = (count: number, type = 'Happened'): NewEvent[] =>
  Array.from({ length: count }, (_, index) => event(type, { index }));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

const revisions = (recorded: RecordedEvent[]) => recorded.map((e) => e.revision);
const positions = (recorded: RecordedEvent[]) => recorded.map((e) => e.position);

function expectStrictlyIncreasing(values: number[]): void {
  values.slice(1).forEach((value, index) => expect(value).toBeGreaterThan(values[index]!));
}

async function expectWrongRevision(
  attempt: Promise<unknown>,
  stream: string,
  expected: ExpectedRevision,
  actual: number | 'no_stream',
): Promise<void> {
  const error = await attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  expect(error).toMatchObject({ code: 'WRONG_EXPECTED_REVISION', stream, expected, actual });
}

export function eventStoreContract(
  name: string,
  make: () => Promise<{ store: EventStore; cleanup: () => Promise<void> }>,
): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ store, cleanup } = await make());
    });

    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    /** Subscribes after `afterPosition` and records the events of `streams` only. */
    function collect(streams: string[], afterPosition?: number, onEvent?: (e: RecordedEvent) => Promise<void>) {
      const received: RecordedEvent[] = [];
      const errors: unknown[] = [];
      const subscription = store.subscribeToAll(
        afterPosition === undefined ? {} : { afterPosition },
        async (recorded) => {
          if (!streams.includes(recorded.stream)) return;
          received.push(recorded);
          await onEvent?.(recorded);
        },
        (error) => errors.push(error),
      );
      return { received, errors, subscription };
    }

    describe('append and readStream', () => {
      it('reads back appended events forwards, with revisions from 0 and the position of the last event', async () => {
        const stream = newStream();
        const result = await store.append(stream, events(3), 'no_stream');
        expect(result.nextRevision).toBe(2);

        const read = await store.readStream(stream);
        expect(revisions(read)).toEqual([0, 1, 2]);
        expect(read.map((e) => e.stream)).toEqual([stream, stream, stream]);
        expect(read.map((e) => e.type)).toEqual(['Happened', 'Happened', 'Happened']);
        expect(read.map((e) => e.data)).toEqual([{ index: 0 }, { index: 1 }, { index: 2 }]);
        expect(read[2]!.position).toBe(result.position);
        expectStrictlyIncreasing(positions(read));
      });

      it('generates a UUID for an event without id and keeps the id it is given', async () => {
        const stream = newStream();
        const given = randomUUID();
        await store.append(stream, [event('First'), { ...event('Second'), id: given }], 'any');
        const [first, second] = await store.readStream(stream);
        expect(first!.id).toMatch(UUID);
        expect(second!.id).toBe(given);
      });

      it('reads forwards from a revision with a limit', async () => {
        const stream = newStream();
        await store.append(stream, events(5), 'no_stream');
        expect(revisions(await store.readStream(stream, { fromRevision: 2 }))).toEqual([2, 3, 4]);
        expect(revisions(await store.readStream(stream, { fromRevision: 2, limit: 2 }))).toEqual([2, 3]);
        expect(revisions(await store.readStream(stream, { limit: 1 }))).toEqual([0]);
        expect(await store.readStream(stream, { fromRevision: 5 })).toEqual([]);
      });

      it('reads backwards from the end or from a revision with a limit', async () => {
        const stream = newStream();
        await store.append(stream, events(5), 'no_stream');
        expect(revisions(await store.readStream(stream, { direction: 'backwards' }))).toEqual([4, 3, 2, 1, 0]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', limit: 2 }))).toEqual([4, 3]);
        expect(
          revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 3, limit: 2 })),
        ).toEqual([3, 2]);
      });

      it('returns [] for a stream that was never written', async () => {
        expect(await store.readStream(newStream())).toEqual([]);
        expect(await store.readStream(newStream(), { direction: 'backwards' })).toEqual([]);
      });

      it('round-trips metadata and nested JSON data', async () => {
        const stream = newStream();
        const data = {
          title: 'Ünïcödé ✓ "quoted"',
          count: 42,
          ratio: 0.25,
          flags: [true, false, null],
          nested: { list: [{ a: 1 }, { b: [2, 3] }], empty: {}, none: null },
        };
        const meta = metadata({ actor: { kind: 'kin', id: 'kin-7' }, schemaVersion: 3 });
        const before = Date.now();
        await store.append(stream, [{ type: 'Nested', data, metadata: meta }], 'no_stream');

        const [read] = await store.readStream(stream);
        expect(read!.data).toEqual(data);
        expect(read!.metadata).toEqual(meta);
        expect(Number.isNaN(Date.parse(read!.recordedAt))).toBe(false);
        expect(Date.parse(read!.recordedAt)).toBeGreaterThan(before - 60_000);
      });
    });

    describe('expected revision', () => {
      it('any: appends to a new and to an existing stream', async () => {
        const stream = newStream();
        expect((await store.append(stream, events(1), 'any')).nextRevision).toBe(0);
        expect((await store.append(stream, events(2), 'any')).nextRevision).toBe(2);
      });

      it('no_stream: appends to a new stream and refuses an existing one', async () => {
        const stream = newStream();
        await store.append(stream, events(2), 'no_stream');
        await expectWrongRevision(store.append(stream, events(1), 'no_stream'), stream, 'no_stream', 1);
      });

      it('stream_exists: refuses a new stream and appends to an existing one', async () => {
        const stream = newStream();
        await expectWrongRevision(store.append(stream, events(1), 'stream_exists'), stream, 'stream_exists', 'no_stream');
        await store.append(stream, events(1), 'no_stream');
        expect((await store.append(stream, events(1), 'stream_exists')).nextRevision).toBe(1);
      });

      it('exact: appends at the last revision and refuses any other', async () => {
        const stream = newStream();
        await expectWrongRevision(store.append(stream, events(1), 0), stream, 0, 'no_stream');
        await store.append(stream, events(2), 'no_stream');
        await expectWrongRevision(store.append(stream, events(1), 0), stream, 0, 1);
        await expectWrongRevision(store.append(stream, events(1), 5), stream, 5, 1);
        expect((await store.append(stream, events(1), 1)).nextRevision).toBe(2);
        expect((await store.append(stream, events(1), 2)).nextRevision).toBe(3);
      });

      it('a refused batch appends nothing', async () => {
        const stream = newStream();
        await store.append(stream, events(2), 'no_stream');
        await expectWrongRevision(store.append(stream, events(3), 0), stream, 0, 1);
        expect(revisions(await store.readStream(stream))).toEqual([0, 1]);
      });

      it('lets exactly one of 20 concurrent appends at one expected revision win', async () => {
        const stream = newStream();
        await store.append(stream, events(1), 'no_stream');
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.append(stream, [event('Raced', { i })], 0)),
        );
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(19);
        for (const o of lost) {
          expect(o.reason).toBeInstanceOf(WrongExpectedRevisionError);
          expect(o.reason).toMatchObject({ actual: 1 });
        }
        expect(revisions(await store.readStream(stream))).toEqual([0, 1]);
      });

      it('lets exactly one of 20 concurrent no_stream appends create the stream', async () => {
        const stream = newStream();
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, () => store.append(stream, events(2), 'no_stream')),
        );
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        expect(revisions(await store.readStream(stream))).toEqual([0, 1]);
      });
    });

    describe('appends made together', () => {
      it('lets exactly one of a burst at one revision win, and the rest of the burst succeed', async () => {
        const contested = newStream();
        const others = Array.from({ length: 10 }, () => newStream('other'));
        await store.append(contested, events(1), 'no_stream');
        // One synchronous burst: on SQLite these share one group commit.
        const racing = Array.from({ length: 10 }, (_, i) => store.append(contested, [event('Raced', { i })], 0));
        const independent = others.map((stream) => store.append(stream, events(2), 'no_stream'));
        const outcomes = await Promise.allSettled(racing);

        const won = outcomes.filter((o): o is PromiseFulfilledResult<AppendResult> => o.status === 'fulfilled');
        const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(won[0]!.value.nextRevision).toBe(1);
        expect(lost).toHaveLength(9);
        for (const o of lost) {
          expect(o.reason).toBeInstanceOf(WrongExpectedRevisionError);
          expect(o.reason).toMatchObject({ stream: contested, expected: 0, actual: 1 });
        }
        expect(revisions(await store.readStream(contested))).toEqual([0, 1]);
        for (const result of await Promise.all(independent)) expect(result.nextRevision).toBe(1);
      });

      it('gives concurrent appends to different streams their own positions, delivered in order with no gap', async () => {
        const streams = Array.from({ length: 20 }, () => newStream('together'));
        const head = await store.headPosition();
        const { received, errors, subscription } = collect(streams, head);
        try {
          const results = await Promise.all(streams.map((stream) => store.append(stream, events(2), 'no_stream')));
          expect(new Set(results.map((r) => r.position)).size).toBe(20);
          await waitUntil(() => received.length >= 40, 'every appended event');
          expectStrictlyIncreasing(positions(received));
          for (const [index, stream] of streams.entries()) {
            const ours = received.filter((e) => e.stream === stream);
            expect(revisions(ours)).toEqual([0, 1]);
            expect(ours[1]!.position).toBe(results[index]!.position);
          }
          expect(errors).toEqual([]);
        } finally {
          await subscription.stop();
        }
      });
    });

    describe('streamVersion', () => {
      it('reports the last revision, and -1 for a stream never written', async () => {
        const stream = newStream();
        expect(await store.streamVersion(stream)).toEqual({ revision: -1, truncated: false });
        await store.append(stream, events(3), 'no_stream');
        expect(await store.streamVersion(stream)).toEqual({ revision: 2, truncated: false });
        await store.append(stream, events(1), 2);
        expect(await store.streamVersion(stream)).toEqual({ revision: 3, truncated: false });
      });

      it('says when readStream hides events: truncateBefore, maxAge, a delete', async () => {
        const truncated = newStream();
        await store.append(truncated, events(3), 'no_stream');
        await store.setStreamMetadata(truncated, { truncateBefore: 1 });
        expect(await store.streamVersion(truncated)).toEqual({ revision: 2, truncated: true });

        const aging = newStream();
        await store.append(aging, events(1), 'no_stream');
        await store.setStreamMetadata(aging, { maxAge: 3600 });
        expect(await store.streamVersion(aging)).toEqual({ revision: 0, truncated: true });

        const deleted = newStream();
        await store.append(deleted, events(2), 'no_stream');
        await store.deleteStream(deleted);
        expect(await store.streamVersion(deleted)).toEqual({ revision: -1, truncated: true });
        await store.append(deleted, events(1), 'no_stream');
        expect(await store.streamVersion(deleted)).toEqual({ revision: 2, truncated: true });
      });
    });

    describe('readAll and positions', () => {
      /** A, B, A, B appended one after the other; returns the four events as recorded. */
      async function interleaved() {
        const a = newStream('alpha');
        const b = newStream('beta');
        await store.append(a, [event('A0')], 'no_stream');
        await store.append(b, [event('B0')], 'no_stream');
        await store.append(a, [event('A1')], 0);
        await store.append(b, [event('B1')], 0);
        const all = [...(await store.readStream(a)), ...(await store.readStream(b))].sort(
          (x, y) => x.position - y.position,
        );
        return { a, b, all, ours: (list: RecordedEvent[]) => list.filter((e) => e.stream === a || e.stream === b) };
      }

      it('reads $all forwards in global order from an inclusive position', async () => {
        const { all, ours } = await interleaved();
        expect(all.map((e) => e.type)).toEqual(['A0', 'B0', 'A1', 'B1']);

        const read = await store.readAll({ fromPosition: all[0]!.position });
        expect(read[0]!.position).toBe(all[0]!.position);
        expect(ours(read).map((e) => e.id)).toEqual(all.map((e) => e.id));
        expectStrictlyIncreasing(positions(read));

        const fromSecond = await store.readAll({ fromPosition: all[1]!.position });
        expect(ours(fromSecond).map((e) => e.type)).toEqual(['B0', 'A1', 'B1']);
      });

      it('reads $all forwards with a limit', async () => {
        const { all } = await interleaved();
        const read = await store.readAll({ fromPosition: all[0]!.position, limit: 2 });
        expect(read).toHaveLength(2);
        expect(read[0]!.id).toBe(all[0]!.id);
        expect(read[1]!.position).toBeGreaterThan(all[0]!.position);
      });

      it('reads $all backwards from an inclusive position, with a limit', async () => {
        const { all, ours } = await interleaved();
        const last = all[3]!;
        const read = await store.readAll({ direction: 'backwards', fromPosition: last.position, limit: 100 });
        expect(read[0]!.id).toBe(last.id);
        expect(ours(read).map((e) => e.type)).toEqual(['B1', 'A1', 'B0', 'A0']);
        expectStrictlyIncreasing(positions(read).reverse());

        const limited = await store.readAll({ direction: 'backwards', fromPosition: all[2]!.position, limit: 2 });
        expect(limited).toHaveLength(2);
        expect(limited[0]!.id).toBe(all[2]!.id);
        expect(limited[1]!.position).toBeLessThan(all[2]!.position);
      });

      it('reads $all backwards from the end when no position is given', async () => {
        const { all } = await interleaved();
        const [newest] = await store.readAll({ direction: 'backwards', limit: 1 });
        expect(newest!.position).toBeGreaterThanOrEqual(all[3]!.position);
        expect(await store.headPosition()).toBeGreaterThanOrEqual(newest!.position);
      });

      it('gives every event of a batch its own strictly increasing position, the last one returned by append', async () => {
        const stream = newStream();
        const result = await store.append(stream, events(4), 'no_stream');
        const read = await store.readStream(stream);
        expectStrictlyIncreasing(positions(read));
        expect(read[3]!.position).toBe(result.position);

        const fromAll = (await store.readAll({ fromPosition: read[0]!.position, limit: 100 })).filter(
          (e) => e.stream === stream,
        );
        expect(positions(fromAll)).toEqual(positions(read));
      });

      it('reports the head position: at least the position of the last append', async () => {
        const result = await store.append(newStream(), events(2), 'no_stream');
        expect(await store.headPosition()).toBeGreaterThanOrEqual(result.position);
        const next = await store.append(newStream(), events(1), 'no_stream');
        expect(next.position).toBeGreaterThan(result.position);
        expect(await store.headPosition()).toBeGreaterThanOrEqual(next.position);
      });

      it('never returns system events from $all', async () => {
        await store.append(newStream(), events(1), 'no_stream');
        const read = await store.readAll({ direction: 'backwards', limit: 200 });
        expect(read.filter((e) => e.type.startsWith('$'))).toEqual([]);
      });
    });

    describe('subscribeToAll', () => {
      it('delivers history then live events, with no gap and no duplicate', async () => {
        const stream = newStream();
        const head = await store.headPosition();
        await store.append(stream, events(3), 'no_stream');
        const { received, errors, subscription } = collect([stream], head);
        try {
          await waitUntil(() => received.length >= 3, 'history');
          for (let revision = 2; revision < 5; revision++) await store.append(stream, events(1), revision);
          await waitUntil(() => received.length >= 6, 'live events');
          await sleep(50);
          expect(revisions(received)).toEqual([0, 1, 2, 3, 4, 5]);
          expectStrictlyIncreasing(positions(received));
          expect(errors).toEqual([]);
        } finally {
          await subscription.stop();
        }
      });

      it('delivers every event once while the handler is busy and appends run concurrently', async () => {
        const streams = Array.from({ length: 10 }, () => newStream('busy'));
        const head = await store.headPosition();
        const { received, errors, subscription } = collect(streams, head, () => sleep(2));
        try {
          await store.append(streams[0]!, events(1), 'no_stream');
          await waitUntil(() => received.length >= 1, 'the first event');
          // Three rounds of 10 concurrent appends (one per stream) while the handler sleeps.
          for (let round = 0; round < 3; round++) {
            await Promise.all(
              streams.map((stream, i) =>
                store.append(stream, events(2), i === 0 ? round * 2 : round === 0 ? 'no_stream' : round * 2 - 1),
              ),
            );
          }
          await waitUntil(() => received.length >= 61, 'all concurrent appends');
          await sleep(100);
          expect(received).toHaveLength(61);
          expect(new Set(received.map((e) => e.id)).size).toBe(61);
          expectStrictlyIncreasing(positions(received));
          for (const stream of streams) {
            expect(revisions(received.filter((e) => e.stream === stream))).toEqual(
              revisions(await store.readStream(stream)),
            );
          }
          expect(errors).toEqual([]);
        } finally {
          await subscription.stop();
        }
      });

      it('resumes after a checkpoint position with exactly the events that follow it', async () => {
        const stream = newStream();
        await store.append(stream, events(6), 'no_stream');
        const read = await store.readStream(stream);
        const { received, subscription } = collect([stream], read[2]!.position);
        try {
          await waitUntil(() => received.length >= 3, 'the rest of the stream');
          await sleep(50);
          expect(revisions(received)).toEqual([3, 4, 5]);
        } finally {
          await subscription.stop();
        }
      });

      it('delivers from the very start when no position is given', async () => {
        const stream = newStream();
        await store.append(stream, events(2), 'no_stream');
        const { received, subscription } = collect([stream]);
        try {
          await waitUntil(() => received.length >= 2, 'the stream from the start');
          expect(revisions(received)).toEqual([0, 1]);
        } finally {
          await subscription.stop();
        }
      });

      it('stops delivering once stopped', async () => {
        const stream = newStream();
        const head = await store.headPosition();
        const { received, subscription } = collect([stream], head);
        await store.append(stream, events(1), 'no_stream');
        await waitUntil(() => received.length >= 1, 'the first event');
        await subscription.stop();
        await store.append(stream, events(2), 0);
        await sleep(600);
        expect(received).toHaveLength(1);
      });

      it('resolves stop() only after the running handler has finished', async () => {
        const stream = newStream();
        const head = await store.headPosition();
        let started = false;
        let finished = false;
        const { subscription } = collect([stream], head, async () => {
          started = true;
          await sleep(200);
          finished = true;
        });
        await store.append(stream, events(1), 'no_stream');
        await waitUntil(() => started, 'the handler to start');
        await subscription.stop();
        expect(finished).toBe(true);
      });

      it('stops and reports the error when the handler throws', async () => {
        const stream = newStream();
        const head = await store.headPosition();
        const failure = new Error('handler failed');
        const { received, errors } = collect([stream], head, async () => {
          throw failure;
        });
        await store.append(stream, events(1), 'no_stream');
        await waitUntil(() => errors.length >= 1, 'onError');
        expect(errors).toEqual([failure]);
        await store.append(stream, events(2), 0);
        await sleep(600);
        expect(received).toHaveLength(1);
      });
    });

    describe('stream metadata', () => {
      it('hides revisions before truncateBefore from readStream, not from readAll', async () => {
        const stream = newStream();
        await store.append(stream, events(5), 'no_stream');
        const [first] = await store.readStream(stream);
        await store.setStreamMetadata(stream, { truncateBefore: 3 });

        expect(await store.getStreamMetadata(stream)).toEqual({ truncateBefore: 3 });
        expect(revisions(await store.readStream(stream))).toEqual([3, 4]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards' }))).toEqual([4, 3]);
        expect(revisions(await store.readStream(stream, { fromRevision: 1 }))).toEqual([3, 4]);
        const fromAll = await store.readAll({ fromPosition: first!.position, limit: 5 });
        expect(fromAll[0]!.id).toBe(first!.id);
      });

      it('round-trips maxAge and hides events older than it', async () => {
        const kept = newStream();
        await store.append(kept, events(1), 'no_stream');
        await store.setStreamMetadata(kept, { maxAge: 3600 });
        expect(await store.getStreamMetadata(kept)).toEqual({ maxAge: 3600 });
        expect(await store.readStream(kept)).toHaveLength(1);

        const expired = newStream();
        await store.append(expired, events(1), 'no_stream');
        await sleep(2100);
        await store.setStreamMetadata(expired, { maxAge: 1 });
        expect(await store.readStream(expired)).toEqual([]);
      });

      it('returns empty metadata for a stream without any', async () => {
        const stream = newStream();
        await store.append(stream, events(1), 'no_stream');
        expect(await store.getStreamMetadata(stream)).toEqual({});
      });
    });

    describe('deleteStream', () => {
      it('makes the stream read as empty and no_stream hold; appending again continues the revisions', async () => {
        const stream = newStream();
        await store.append(stream, events(3), 'no_stream');
        await store.deleteStream(stream);

        expect(await store.readStream(stream)).toEqual([]);
        expect(await store.readStream(stream, { direction: 'backwards' })).toEqual([]);

        const recreated = await store.append(stream, [event('Recreated')], 'no_stream');
        expect(recreated.nextRevision).toBe(3);
        const read = await store.readStream(stream);
        expect(read.map((e) => [e.revision, e.type])).toEqual([[3, 'Recreated']]);
      });

      it('refuses to delete at a wrong expected revision and keeps the stream', async () => {
        const stream = newStream();
        await store.append(stream, events(2), 'no_stream');
        await expectWrongRevision(store.deleteStream(stream, 0), stream, 0, 1);
        expect(revisions(await store.readStream(stream))).toEqual([0, 1]);
        await store.deleteStream(stream, 1);
        expect(await store.readStream(stream)).toEqual([]);
      });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
