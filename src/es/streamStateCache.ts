/** A stream's state as a decider folded it, and the revision of the last event folded in. */
export type FoldedState<State = unknown> = { state: State; revision: number };

/**
 * The command runner's fold cache: (decider, parse, stream) → folded state, least recently used
 * entries dropped beyond `capacity`. A Map iterates in insertion order, so re-inserting an entry on
 * every use keeps the least recently used one first.
 */
export function createStreamStateCache(capacity: number) {
  const entries = new Map<string, FoldedState>();
  const ids = new WeakMap<object, number>();
  let nextId = 0;
  const idOf = (value: object): number => {
    let id = ids.get(value);
    if (id === undefined) ids.set(value, (id = nextId++));
    return id;
  };

  return {
    /** Deciders and parsers are compared by identity: the same stream folded by two deciders has two entries. */
    key: (decider: object, parse: object, stream: string): string => `${idOf(decider)}:${idOf(parse)}:${stream}`,
    get(key: string): FoldedState | undefined {
      const entry = entries.get(key);
      if (entry) {
        entries.delete(key);
        entries.set(key, entry);
      }
      return entry;
    },
    set(key: string, entry: FoldedState): void {
      entries.delete(key);
      entries.set(key, entry);
      if (entries.size > capacity) entries.delete(entries.keys().next().value!);
    },
    delete(key: string): void {
      entries.delete(key);
    },
    get size(): number {
      return entries.size;
    },
  };
}

export type StreamStateCache = ReturnType<typeof createStreamStateCache>;
