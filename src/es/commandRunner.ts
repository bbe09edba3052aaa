import { v7 as uuidv7 } from 'uuid';
import { WrongExpectedRevisionError, type EventStore, type RecordedEvent } from './eventStore.js';
import type { CommandMetadata, Decider, DomainEvent } from './decider.js';
import { DomainError } from './errors.js';
import { createStreamStateCache, type FoldedState } from './streamStateCache.js';

export type CommandResult<State, Event> = {
  events: Event[];
  /** State after the new events. */
  state: State;
  /** Global position of the last appended event; null when nothing was appended. */
  position: number | null;
  /** Stream revision after the command (-1: the stream does not exist). */
  revision: number;
};

export type RunCommand = <State, Command, Event extends DomainEvent>(request: {
  stream: string;
  decider: Decider<State, Command, Event>;
  command: Command;
  metadata: CommandMetadata;
  /** Turns a stored event back into a domain event (validation, upcasting). */
  parse: (recorded: RecordedEvent) => Event;
  schemaVersion?: (event: Event) => number;
}) => Promise<CommandResult<State, Event>>;

/** The metadata every appended event carries: who, why (correlation, causation), when, which schema. */
export function eventMetadata(metadata: CommandMetadata, schemaVersion = 1, occurredAt = metadata.now.toISOString()) {
  return {
    actor: metadata.actor,
    correlationId: metadata.correlationId,
    causationId: metadata.causationId ?? metadata.correlationId,
    occurredAt,
    schemaVersion,
  };
}

export type CommandRunnerOptions = {
  maxAttempts?: number;
  /** Streams whose folded state is kept between commands (0: fold every stream from the start). */
  cacheSize?: number;
  onAppended?: (position: number) => void;
};

/** Each revision is the one before plus 1, starting right after `revision`. */
const continues = (events: RecordedEvent[], revision: number): boolean =>
  events.length > 0 && events.every((event, index) => event.revision === revision + 1 + index);

/**
 * The one generic handler of STYLE.md: read the stream → fold → decide → append with the revision
 * it read. A concurrent writer makes the append fail; the command is then decided again on fresh
 * state, and after `maxAttempts` the caller gets 409.
 *
 * Folds are cached per decider and stream, and reused only when they are exactly what a full fold
 * would give now: the stream's current version is checked first (one cheap lookup), and only the
 * events after the cached revision are read and folded in. A stream that hides events (truncated,
 * max age, deleted) is folded in full, since what it hides may change without a new event. The
 * cache keeps the state read before an append, not the state computed after it: the next command
 * then folds the events as stored and parsed, never the decider's own copies of them.
 */
export function createCommandRunner(eventStore: EventStore, options: CommandRunnerOptions = {}): RunCommand {
  const maxAttempts = options.maxAttempts ?? 5;
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = cacheSize > 0 ? createStreamStateCache(cacheSize) : null;

  async function foldAll<State, Event extends DomainEvent>(
    stream: string,
    decider: Decider<State, never, Event>,
    parse: (recorded: RecordedEvent) => Event,
  ) {
    const history = await eventStore.readStream(stream);
    return {
      state: history.map(parse).reduce(decider.evolve, decider.initialState()),
      revision: history.length ? history.at(-1)!.revision : -1,
      fromStart: (history[0]?.revision ?? 0) === 0,
    };
  }

  /** The cached fold brought up to date, or null when the stream hides events or changed under us. */
  async function catchUp<State, Event extends DomainEvent>(
    stream: string,
    decider: Decider<State, never, Event>,
    parse: (recorded: RecordedEvent) => Event,
    cached: FoldedState<State>,
  ): Promise<FoldedState<State> | null> {
    const current = await eventStore.streamVersion(stream);
    if (current.truncated || current.revision < cached.revision) return null;
    if (current.revision === cached.revision) return cached;
    const tail = await eventStore.readStream(stream, { fromRevision: cached.revision + 1 });
    if (!continues(tail, cached.revision)) return null;
    return { state: tail.map(parse).reduce(decider.evolve, cached.state), revision: tail.at(-1)!.revision };
  }

  async function load<State, Event extends DomainEvent>(
    stream: string,
    decider: Decider<State, never, Event>,
    parse: (recorded: RecordedEvent) => Event,
  ): Promise<FoldedState<State>> {
    if (!cache) return foldAll(stream, decider, parse);
    const key = cache.key(decider, parse, stream);
    // The key holds the decider, so the entry holds this decider's State.
    const cached = cache.get(key) as FoldedState<State> | undefined;
    const current = cached && (await catchUp(stream, decider, parse, cached));
    if (current) {
      if (current !== cached) cache.set(key, current);
      return current;
    }
    const { fromStart, ...folded } = await foldAll(stream, decider, parse);
    if (fromStart) cache.set(key, folded);
    else cache.delete(key);
    return folded;
  }

  return async ({ stream, decider, command, metadata, parse, schemaVersion }) => {
    for (let attempt = 1; ; attempt++) {
      const { state, revision } = await load(stream, decider, parse);
      const events = decider.decide(command, state);
      if (events.length === 0) return { events, state, position: null, revision };
      const occurredAt = metadata.now.toISOString();
      try {
        const result = await eventStore.append(
          stream,
          events.map((event) => ({
            id: uuidv7(),
            type: event.type,
            data: event.data,
            metadata: eventMetadata(metadata, schemaVersion?.(event), occurredAt),
          })),
          revision === -1 ? 'no_stream' : revision,
        );
        options.onAppended?.(result.position);
        return {
          events,
          state: events.reduce(decider.evolve, state),
          position: result.position,
          revision: result.nextRevision,
        };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        cache?.delete(cache.key(decider, parse, stream));
        if (attempt >= maxAttempts) {
          throw new DomainError(409, 'CONCURRENCY_CONFLICT', 'The resource was changed concurrently; retry the request');
        }
      }
    }
  };
}
