import { v7 as uuidv7 } from 'uuid';
import { WrongExpectedRevisionError, type EventStore, type RecordedEvent } from './eventStore.js';
import type { CommandMetadata, Decider, DomainEvent } from './decider.js';
import { DomainError } from './errors.js';

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

/**
 * The one generic handler of STYLE.md: read the stream → fold → decide → append with the revision
 * it read. A concurrent writer makes the append fail; the command is then decided again on fresh
 * state, and after `maxAttempts` the caller gets 409.
 */
export function createCommandRunner(
  eventStore: EventStore,
  options: { maxAttempts?: number; onAppended?: (position: number) => void } = {},
): RunCommand {
  const maxAttempts = options.maxAttempts ?? 5;
  return async ({ stream, decider, command, metadata, parse, schemaVersion }) => {
    for (let attempt = 1; ; attempt++) {
      const history = await eventStore.readStream(stream);
      const revision = history.length ? history[history.length - 1]!.revision : -1;
      const state = history.map(parse).reduce(decider.evolve, decider.initialState());
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
        if (attempt >= maxAttempts) {
          throw new DomainError(409, 'CONCURRENCY_CONFLICT', 'The resource was changed concurrently; retry the request');
        }
      }
    }
  };
}
