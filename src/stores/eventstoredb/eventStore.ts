import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type CurrentRevision,
  type Direction as EsdbDirection,
  type ExpectedRevision as EsdbExpectedRevision,
  type JSONType,
  type Position,
  type ReadPosition,
  type StreamingRead,
  type StreamMetadata as EsdbStreamMetadata,
} from '@eventstore/db-client';
import { v7 as uuidv7 } from 'uuid';
import {
  WrongExpectedRevisionError,
  type EventHandler,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamMetadata,
  type StreamVersion,
  type SubscribeOptions,
  type Subscription,
} from '../../es/eventStore.js';

/**
 * The EventStoreDB adapter (@eventstore/db-client, gRPC).
 *
 * Positions. EventStoreDB orders $all by (commit, prepare) log positions. An append through the
 * gRPC API is an implicit transaction: the server writes one prepare record per event, each
 * flagged IsCommitted, and no separate commit record (StorageWriterService.WritePrepares). The
 * $all reader gives such an event its own log position as both commit and prepare position
 * (AllReader: `new CommitEventRecord(eventRecord, prepare.LogPosition)`), and the append result
 * carries the log position of the batch's last prepare (StorageChaser acks the TransactionEnd
 * prepare; WriteEvents answers with that position as prepare and commit). So for our events the
 * two numbers are equal. Only legacy explicit (TCP) transactions give several events one shared
 * commit position, while every prepare record has a position of its own: we use the prepare
 * position, which is unique per event in every case. Log positions are byte offsets, far below
 * 2^53, so they fit a JS number.
 *
 * readAll with a position is inclusive forwards but exclusive backwards (the server reads the
 * records that end before it); subscribeToAll from a position delivers the events after it.
 */

type EsdbEvent = {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  created: Date;
  data: unknown;
  metadata: unknown;
  position?: Position;
};

const isSystemType = (type: string): boolean => type.startsWith('$');

/** Stream reads on servers before 22.6 carry no position (or u64::MAX): reported as -1. */
const positionNumber = (position: Position | undefined): number => {
  if (!position || position.prepare > BigInt(Number.MAX_SAFE_INTEGER)) return -1;
  return Number(position.prepare);
};

const toEsdbPosition = (position: number): Position => ({ commit: BigInt(position), prepare: BigInt(position) });

const toRecorded = (event: EsdbEvent): RecordedEvent => ({
  id: event.id,
  stream: event.streamId,
  type: event.type,
  revision: Number(event.revision),
  position: positionNumber(event.position),
  data: event.data,
  metadata: event.metadata as EventMetadata,
  recordedAt: event.created.toISOString(),
});

const toEsdbExpected = (expected: ExpectedRevision): AppendExpectedRevision => {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
};

const toActual = (current: CurrentRevision): number | 'no_stream' =>
  current === NO_STREAM ? 'no_stream' : Number(current);

function translateError(error: unknown, stream: string, expected: ExpectedRevision): unknown {
  return error instanceof WrongExpectedVersionError
    ? new WrongExpectedRevisionError(stream, expected, toActual(error.actualVersion))
    : error;
}

const toEventData = (event: NewEvent) =>
  jsonEvent({
    id: event.id ?? uuidv7(),
    type: event.type,
    // The client JSON-serialises any value; its JSONType is narrower than the port's `unknown`.
    data: (event.data ?? null) as JSONType,
    metadata: event.metadata,
  });

/** Reads until `limit` events pass `keep`, then cancels the call so the server stops sending. */
async function take(
  read: StreamingRead<{ event?: EsdbEvent }>,
  keep: (event: RecordedEvent) => boolean,
  limit: number,
): Promise<RecordedEvent[]> {
  const taken: RecordedEvent[] = [];
  try {
    if (limit <= 0) return taken;
    for await (const resolved of read) {
      if (!resolved.event || isSystemType(resolved.event.type)) continue;
      const recorded = toRecorded(resolved.event);
      if (keep(recorded)) taken.push(recorded);
      if (taken.length >= limit) break;
    }
  } finally {
    await read.cancel();
  }
  return taken;
}

const everything = () => true;

/** A soft delete sets truncateBefore too; maxCount is honoured by the server though not set here. */
const hidesEvents = (metadata: EsdbStreamMetadata | undefined): boolean =>
  metadata !== undefined &&
  ((metadata.truncateBefore !== undefined && metadata.truncateBefore !== 0 && metadata.truncateBefore !== START) ||
    metadata.maxAge !== undefined ||
    metadata.maxCount !== undefined);

export function createEventStoreDbEventStore(connectionString: string): EventStore {
  const client = EventStoreDBClient.connectionString(connectionString);
  const subscriptions = new Set<Subscription>();

  const readAllFrom = (fromPosition: ReadPosition, direction: EsdbDirection): StreamingRead<AllStreamResolvedEvent> =>
    client.readAll({ fromPosition, direction });

  /** Position of the first record after `position` in $all, system records included. */
  async function recordAfter(position: number): Promise<Position | undefined> {
    const read = client.readAll({ fromPosition: toEsdbPosition(position), direction: FORWARDS, maxCount: 2 });
    try {
      for await (const resolved of read) {
        const next = resolved.event?.position;
        if (next && positionNumber(next) > position) return next;
      }
      return undefined;
    } finally {
      await read.cancel();
    }
  }

  async function readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const from = options.fromPosition;
    if (options.direction !== 'backwards') {
      const start = from === undefined || from <= 0 ? START : toEsdbPosition(from);
      return take(readAllFrom(start, FORWARDS), everything, limit);
    }
    if (from === undefined) return take(readAllFrom(END, BACKWARDS), everything, limit);
    // Backwards reads are exclusive of their start: start at the record after `from` (or at the
    // end), and drop what was appended past `from` meanwhile.
    const anchor = await recordAfter(from);
    return take(readAllFrom(anchor ?? END, BACKWARDS), (event) => event.position <= from, limit);
  }

  async function readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const direction = options.direction === 'backwards' ? BACKWARDS : FORWARDS;
    const fromRevision =
      options.fromRevision !== undefined ? BigInt(options.fromRevision) : direction === BACKWARDS ? END : START;
    try {
      return await take(client.readStream(stream, { direction, fromRevision }), everything, options.limit ?? Number.MAX_SAFE_INTEGER);
    } catch (error) {
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return [];
      throw error;
    }
  }

  function subscribeToAll(
    options: SubscribeOptions,
    handler: EventHandler,
    onError?: (error: unknown) => void,
  ): Subscription {
    const after = options.afterPosition ?? -1;
    const source = client.subscribeToAll({
      fromPosition: after < 0 ? START : toEsdbPosition(after),
      filter: excludeSystemEvents(),
    });
    let stopped = false;
    let delivered = after;

    const release = async () => {
      await source.unsubscribe().catch(() => undefined);
      // A cancelled call does not always end the piped stream; destroying it ends the iteration.
      source.destroy();
    };

    const loop = async (): Promise<void> => {
      try {
        for await (const resolved of source) {
          if (stopped) break;
          if (!resolved.event || isSystemType(resolved.event.type)) continue;
          const recorded = toRecorded(resolved.event);
          if (recorded.position <= delivered) continue;
          await handler(recorded);
          delivered = recorded.position;
        }
      } catch (error) {
        if (!stopped) {
          stopped = true;
          onError?.(error);
        }
      } finally {
        await release();
      }
    };

    const running = loop().finally(() => subscriptions.delete(subscription));
    const subscription: Subscription = {
      async stop() {
        stopped = true;
        await release();
        await running;
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  /** deleteStream takes no stream_exists: that one is checked by reading the last revision. */
  async function deleteExpectation(stream: string, expected: ExpectedRevision): Promise<EsdbExpectedRevision> {
    if (expected === 'any') return ANY;
    if (expected === 'no_stream') return NO_STREAM;
    if (expected !== 'stream_exists') return BigInt(expected);
    const [last] = await readStream(stream, { direction: 'backwards', limit: 1 });
    if (!last) throw new WrongExpectedRevisionError(stream, expected, 'no_stream');
    return BigInt(last.revision);
  }

  return {
    async append(stream, events, expected) {
      try {
        const result = await client.appendToStream(stream, events.map(toEventData), {
          expectedRevision: toEsdbExpected(expected),
        });
        return {
          nextRevision: Number(result.nextExpectedRevision),
          position: events.length > 0 ? positionNumber(result.position) : -1,
        };
      } catch (error) {
        throw translateError(error, stream, expected);
      }
    },
    readStream,
    readAll,
    async streamVersion(stream): Promise<StreamVersion> {
      const [[last], { metadata }] = await Promise.all([
        readStream(stream, { direction: 'backwards', limit: 1 }),
        client.getStreamMetadata(stream),
      ]);
      return { revision: last?.revision ?? -1, truncated: hidesEvents(metadata) };
    },
    async headPosition() {
      const [newest] = await take(readAllFrom(END, BACKWARDS), everything, 1);
      return newest?.position ?? -1;
    },
    subscribeToAll,
    async setStreamMetadata(stream: string, metadata: StreamMetadata) {
      await client.setStreamMetadata(stream, {
        ...(metadata.truncateBefore !== undefined && { truncateBefore: metadata.truncateBefore }),
        ...(metadata.maxAge !== undefined && { maxAge: metadata.maxAge }),
      });
    },
    async getStreamMetadata(stream) {
      const { metadata } = await client.getStreamMetadata(stream);
      const result: StreamMetadata = {};
      if (typeof metadata?.truncateBefore === 'number') result.truncateBefore = metadata.truncateBefore;
      if (typeof metadata?.maxAge === 'number') result.maxAge = metadata.maxAge;
      return result;
    },
    async deleteStream(stream, expected = 'any') {
      try {
        await client.deleteStream(stream, { expectedRevision: await deleteExpectation(stream, expected) });
      } catch (error) {
        throw translateError(error, stream, expected);
      }
    },
    async ping() {
      await take(client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 }), everything, 1);
    },
    async close() {
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()));
      await client.dispose();
    },
  };
}
