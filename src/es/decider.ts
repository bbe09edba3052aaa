import type { Actor } from './eventStore.js';

/** A domain event as deciders see it: no ids, positions or metadata. */
export type DomainEvent = { type: string; data: unknown };

/** What every command carries besides its payload, so that `decide` stays pure. */
export type CommandMetadata = {
  actor: Actor;
  correlationId: string;
  causationId?: string;
  now: Date;
};

export type Decider<State, Command, Event extends DomainEvent> = {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  /** Returns the events to append; [] means nothing to do. Throws a DomainError to refuse. */
  decide: (command: Command, state: State) => Event[];
};

export const fold = <State, Event extends DomainEvent>(
  decider: Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>,
  events: Event[],
): State => events.reduce(decider.evolve, decider.initialState());
