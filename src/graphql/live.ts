import type { LiveFeed, LiveMessage } from '../live/feed.js';
import { authorize } from '../rest/context.js';
import { isFor } from '../rest/sse.js';
import type { Services } from '../services.js';
import type { GraphqlContext } from './context.js';

/** The live feed of /api/sse as a GraphQL subscription (over websockets, graphql-ws protocol). */
export const liveType = `"A message of the live feed, as /api/sse sends it"
type LiveMessage {
  type: String!
  kinId: ID
  data: JSON!
}`;

export const liveField = `  "Live messages (kin:created, kin:updated…), optionally for one Kin or some types only"
  live(kinId: ID, types: [String!]): LiveMessage!`;

/** A subscriber that does not read is not allowed to hold the whole feed in memory. */
const MAX_BUFFERED = 1000;

/**
 * The feed's listener as an async iterator. Not an async generator: a generator waiting for the
 * next message cannot be ended by `return()` until one arrives, and the unsubscription must
 * happen as soon as the client stops.
 */
export function liveMessages(feed: LiveFeed, accept: (message: LiveMessage) => boolean): AsyncIterableIterator<LiveMessage> {
  const buffered: LiveMessage[] = [];
  let waiting: ((result: IteratorResult<LiveMessage>) => void) | null = null;
  let done = false;
  const unsubscribe = feed.subscribe((message) => {
    if (done || !accept(message)) return;
    if (waiting) {
      const deliver = waiting;
      waiting = null;
      deliver({ value: message, done: false });
      return;
    }
    buffered.push(message);
    if (buffered.length > MAX_BUFFERED) buffered.shift();
  });
  const finish = (): Promise<IteratorResult<LiveMessage>> => {
    done = true;
    unsubscribe();
    buffered.length = 0;
    waiting?.({ value: undefined, done: true });
    waiting = null;
    return Promise.resolve({ value: undefined, done: true });
  };
  return {
    next() {
      const message = buffered.shift();
      if (message) return Promise.resolve({ value: message, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return: finish,
    async throw(error: unknown) {
      await finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

type LiveArgs = { kinId?: string | null; types?: string[] | null };

export function liveResolver(services: Services) {
  return {
    subscribe(_root: unknown, args: LiveArgs, context: GraphqlContext) {
      const principal = authorize('user', context.principal)!;
      const types = args.types?.length ? new Set(args.types) : null;
      return liveMessages(
        services.live,
        (message) => isFor(principal, message) && (!args.kinId || message.kinId === args.kinId) && (!types || types.has(message.type)),
      );
    },
    // The userId that scoped the message stays on the server, as with /api/sse.
    resolve: ({ type, kinId, data }: LiveMessage) => ({ type, kinId, data }),
  };
}
