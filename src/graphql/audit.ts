import { z } from 'zod';
import type { EventStore, RecordedEvent } from '../es/eventStore.js';
import { authorize } from '../rest/context.js';
import { parseInput } from '../rest/validation.js';
import type { Services } from '../services.js';
import type { GraphqlContext } from './context.js';

/** Admin-only Query fields over the event log and the projections, which REST does not expose. */
export const auditTypes = {
  AuditEvent: `"An event as stored in the event log"
type AuditEvent {
  id: ID!
  stream: String!
  type: String!
  revision: Int!
  "Global position in $all"
  position: Float!
  data: JSON
  metadata: JSON!
  recordedAt: String!
}`,
  ProjectionStatus: `type ProjectionStatus {
  name: String!
  version: Int!
  "Global position of the last event applied (-1: none yet)"
  position: Float!
  "Events in $all not applied yet"
  lag: Float!
  error: String
}`,
};

export const auditFields = `  "Events of one stream, or of $all from a position (admin)"
  events(stream: String, type: String, fromPosition: Float, limit: Int = 100): [AuditEvent!]!
  "Checkpoint and lag of every projection (admin)"
  projections: [ProjectionStatus!]!`;

const eventsArgs = z.object({
  stream: z.string().min(1, 'stream cannot be empty').optional(),
  type: z.string().min(1, 'type cannot be empty').optional(),
  fromPosition: z.number().int('fromPosition must be an integer').min(0, 'fromPosition cannot be negative').optional(),
  limit: z.number().int().min(1, 'limit must be between 1 and 1000').max(1000, 'limit must be between 1 and 1000').default(100),
});

type EventsArgs = z.output<typeof eventsArgs>;

const PAGE = 500;

/** Pages through the stream or $all until `limit` events match the filters or the log ends. */
async function readEvents(eventStore: EventStore, args: EventsArgs): Promise<RecordedEvent[]> {
  const { stream, type, fromPosition, limit } = args;
  const matches = (event: RecordedEvent) =>
    (type === undefined || event.type === type) && (fromPosition === undefined || event.position >= fromPosition);
  const found: RecordedEvent[] = [];
  let from = stream === undefined ? (fromPosition ?? 0) : 0;
  for (;;) {
    const page =
      stream === undefined
        ? await eventStore.readAll({ fromPosition: from, limit: PAGE })
        : await eventStore.readStream(stream, { fromRevision: from, limit: PAGE });
    if (page.length === 0) return found;
    for (const event of page) {
      if (!matches(event)) continue;
      found.push(event);
      if (found.length === limit) return found;
    }
    const last = page[page.length - 1]!;
    from = (stream === undefined ? last.position : last.revision) + 1;
  }
}

/** GraphQL gives null for an argument set to null; the schemas speak of absent values. */
const present = (args: Record<string, unknown>) => Object.fromEntries(Object.entries(args).filter(([, value]) => value != null));

export function auditResolvers(services: Services) {
  return {
    async events(_root: unknown, args: Record<string, unknown>, context: GraphqlContext) {
      authorize('admin', context.principal);
      return readEvents(services.eventStore, parseInput(eventsArgs, present(args)));
    },
    async projections(_root: unknown, _args: unknown, context: GraphqlContext) {
      authorize('admin', context.principal);
      const head = await services.eventStore.headPosition();
      return services.projections.status().map((status) => ({ ...status, lag: Math.max(0, head - status.position) }));
    },
  };
}
