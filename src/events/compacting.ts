import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * One stream per Kin: `compaction-<kinId>`. It holds the snapshots of the Kin's main conversation
 * (a summary standing in for the messages up to a boundary) and every change of which one applies.
 * Messages are never touched: compaction only decides what the model is given.
 */
export const compactionStream = (kinId: string) => `compaction-${kinId}`;

/**
 * The snapshots a Kin shows (and can roll back to): the newest ten, in the order they were taken.
 * Older ones stay in the log and in the read model, marked `retired`; being a pure consequence of
 * the order of SnapshotTaken events, the mark needs no event of its own.
 */
export const MAX_VISIBLE_SNAPSHOTS = 10;

export const compactionEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('SnapshotTaken'),
    data: z.object({
      snapshotId: z.string(),
      kinId: z.string(),
      /** Merges the summary that was active when it was taken. */
      summary: z.string(),
      /** The boundary: the last summarized message; the model gets the messages after it. */
      upToMessageId: z.string(),
      upToCreatedAt: z.string(),
      /** How many messages this snapshot summarized (beyond the previous boundary). */
      messageCount: z.number().int(),
      model: z.string(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('SnapshotsRolledBack'),
    data: z.object({
      kinId: z.string(),
      toSnapshotId: z.string(),
      /** Snapshots taken after the target, marked rolled back by this event (none is deleted). */
      rolledBackIds: z.array(z.string()),
      at: z.string(),
    }),
  }),
  z.object({ type: z.literal('CompactionPurged'), data: z.object({ kinId: z.string(), at: z.string() }) }),
]);

export type CompactionEvent = z.infer<typeof compactionEventSchema>;
export const compactionEventTypes = ['SnapshotTaken', 'SnapshotsRolledBack', 'CompactionPurged'] as const;

export const parseCompactionEvent = (recorded: RecordedEvent): CompactionEvent =>
  compactionEventSchema.parse({ type: recorded.type, data: recorded.data });
