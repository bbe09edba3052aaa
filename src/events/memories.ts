import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * One stream per memory (`memory-<id>`, as ARCHITECTURE.md names it): every decision about a
 * memory (update, delete, re-embed) needs that memory's state only, and writers that touch
 * different memories of one Kin (a turn's tools, the REST routes, extraction and consolidation
 * jobs) never contend for one stream revision. A Kin-wide stream would serialise them all and
 * make every decision fold every memory the Kin ever had.
 *
 * Retrievals (the counters of §4 step 5) concern up to ten memories at once, so they get their own
 * one-event stream per retrieval (`memoryretrieval-<id>`, the id being the turn's queue item): a
 * resumed turn records nothing twice, and no memory stream grows with every turn.
 */
export const memoryStream = (memoryId: string) => `memory-${memoryId}`;
export const memoryRetrievalStream = (retrievalId: string) => `memoryretrieval-${retrievalId}`;

export const MEMORY_CATEGORIES = ['fact', 'preference', 'decision', 'knowledge'] as const;
export const memoryCategorySchema = z.enum(MEMORY_CATEGORIES);
export type MemoryCategory = z.infer<typeof memoryCategorySchema>;

export const memoryScopeSchema = z.enum(['private', 'shared']);
export type MemoryScope = z.infer<typeof memoryScopeSchema>;

export const sourceChannelSchema = z.enum(['automatic', 'explicit']);
export type SourceChannel = z.infer<typeof sourceChannelSchema>;

/**
 * Vectors are computed by the command handler and carried by the event, so that projections stay
 * deterministic and a replay never calls an embedding provider (whose model may since have changed).
 * `embedding` null: no provider could embed the text; the memory is found by full text only.
 */
const embedded = {
  embedding: z.array(z.number()).nullable(),
  embeddingModel: z.string().nullable(),
};

/** The fields an update may change; a MemoryUpdated event carries only those that did change. */
export const memoryChangesSchema = z.object({
  content: z.string().optional(),
  category: memoryCategorySchema.optional(),
  subject: z.string().nullable().optional(),
  scope: memoryScopeSchema.optional(),
  sourceContext: z.string().nullable().optional(),
  importance: z.number().min(1).max(10).nullable().optional(),
});
export type MemoryChanges = z.infer<typeof memoryChangesSchema>;

export const memoryEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('MemoryCreated'),
    data: z.object({
      memoryId: z.string(),
      kinId: z.string(),
      content: z.string(),
      category: memoryCategorySchema,
      subject: z.string().nullable(),
      scope: memoryScopeSchema,
      sourceChannel: sourceChannelSchema,
      sourceMessageId: z.string().nullable(),
      sourceContext: z.string().nullable(),
      importance: z.number().nullable(),
      consolidationGeneration: z.number().int(),
      consolidatedFromIds: z.array(z.string()).nullable(),
      ...embedded,
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('MemoryUpdated'),
    data: z.object({
      memoryId: z.string(),
      kinId: z.string(),
      changes: memoryChangesSchema,
      /** Present when the content changed: its new vector (null when it could not be embedded). */
      embedding: embedded.embedding.optional(),
      embeddingModel: embedded.embeddingModel.optional(),
      /** null: the change does not bump updatedAt (importance backfill, memory-knowledge.md §3). */
      updatedAt: z.string().nullable(),
    }),
  }),
  z.object({
    type: z.literal('MemoryReembedded'),
    data: z.object({ memoryId: z.string(), kinId: z.string(), ...embedded, reembeddedAt: z.string() }),
  }),
  z.object({
    type: z.literal('MemoryDeleted'),
    data: z.object({ memoryId: z.string(), kinId: z.string(), deletedAt: z.string() }),
  }),
]);
export type MemoryEvent = z.infer<typeof memoryEventSchema>;
export const memoryEventTypes = ['MemoryCreated', 'MemoryUpdated', 'MemoryReembedded', 'MemoryDeleted'] as const;

export const parseMemoryEvent = (recorded: RecordedEvent): MemoryEvent =>
  memoryEventSchema.parse({ type: recorded.type, data: recorded.data });

export const retrievalEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('MemoriesRetrieved'),
    data: z.object({
      retrievalId: z.string(),
      /** The Kin whose prompt received them (shared memories may belong to other Kins). */
      kinId: z.string(),
      memoryIds: z.array(z.string()),
      retrievedAt: z.string(),
    }),
  }),
]);
export type RetrievalEvent = z.infer<typeof retrievalEventSchema>;
export const retrievalEventTypes = ['MemoriesRetrieved'] as const;

export const parseRetrievalEvent = (recorded: RecordedEvent): RetrievalEvent =>
  retrievalEventSchema.parse({ type: recorded.type, data: recorded.data });

/**
 * What a compaction snapshot gave the Kin's memories (messages.md §7 step 5): one event in a
 * stream of its own per snapshot (`memoryextraction-<snapshotId>`), appended once the extraction,
 * consolidation, recalibration and pruning that follow the snapshot are done. Its presence is how
 * a redelivered snapshot (a restart, the reactor after the compactor) is known to need nothing
 * more; the live feed reports it as compacting:done.
 */
export const snapshotMemoriesStream = (snapshotId: string) => `memoryextraction-${snapshotId}`;

export const snapshotMemoriesEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('SnapshotMemoriesProcessed'),
    data: z.object({
      snapshotId: z.string(),
      kinId: z.string(),
      memoriesExtracted: z.number().int(),
      memoriesConsolidated: z.number().int(),
      memoriesPruned: z.number().int(),
      processedAt: z.string(),
    }),
  }),
]);
export type SnapshotMemoriesEvent = z.infer<typeof snapshotMemoriesEventSchema>;
export const snapshotMemoriesEventTypes = ['SnapshotMemoriesProcessed'] as const;

export const parseSnapshotMemoriesEvent = (recorded: RecordedEvent): SnapshotMemoriesEvent =>
  snapshotMemoriesEventSchema.parse({ type: recorded.type, data: recorded.data });
