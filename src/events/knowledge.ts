import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * One stream per knowledge source (memory-knowledge.md §5). The stream holds everything the read
 * models need, chunks and their vectors included, so a rebuild never calls an embedding provider
 * again. A source's bytes (an upload, a fetched URL) live in the blob store under `blob.hash`.
 */
export const knowledgeStream = (sourceId: string) => `knowledge-${sourceId}`;
/**
 * The chunks of a processing run, in batches, one stream each: a batch is appended without
 * reading anything before it, so recording a large document stays linear.
 */
export const knowledgeChunkBatchStream = (runId: string, batch: number) => `knowledgechunks-${runId}-${batch}`;

export const knowledgeSourceTypeSchema = z.enum(['file', 'text', 'url']);
export type KnowledgeSourceType = z.infer<typeof knowledgeSourceTypeSchema>;

const chunkingSchema = {
  /** Largest chunk, in estimated tokens. */
  chunkSize: z.number().int().positive(),
  /** Estimated tokens of the previous chunk repeated at the start of the next. */
  chunkOverlap: z.number().int().nonnegative(),
};

export const recordedChunkSchema = z.object({
  chunkId: z.string(),
  position: z.number().int().nonnegative(),
  content: z.string(),
  tokenCount: z.number().int().nonnegative(),
  /** Little-endian float32 vector, base64 (a quarter of the size of JSON numbers); null: not embedded. */
  embedding: z.string().nullable(),
  /**
   * The model that made `embedding` (null without one): vectors are only compared with vectors of
   * the same model. Absent from chunks recorded before it was: their source's model applies
   * (KnowledgeSourceProcessed).
   */
  embeddingModel: z.string().nullable().optional(),
});
export type RecordedChunk = z.infer<typeof recordedChunkSchema>;

export const knowledgeEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('KnowledgeSourceAdded'),
    data: z.object({
      sourceId: z.string(),
      kinId: z.string(),
      name: z.string(),
      type: knowledgeSourceTypeSchema,
      /** Identifies this request for processing (the reactor's unit of work). */
      requestId: z.string(),
      originalFilename: z.string().nullable(),
      mimeType: z.string().nullable(),
      sourceUrl: z.string().nullable(),
      /** Text given in the request body (text sources, or a file sent as text). */
      rawContent: z.string().nullable(),
      /** Bytes kept in the blob store (uploaded files, fetched URLs). */
      blob: z.object({ hash: z.string(), size: z.number().int().nonnegative(), contentType: z.string() }).nullable(),
      ...chunkingSchema,
      createdBy: z.string().nullable(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('KnowledgeSourceReprocessRequested'),
    data: z.object({ sourceId: z.string(), kinId: z.string(), requestId: z.string(), ...chunkingSchema, requestedAt: z.string() }),
  }),
  z.object({
    type: z.literal('KnowledgeSourceProcessingStarted'),
    data: z.object({
      sourceId: z.string(),
      kinId: z.string(),
      requestId: z.string(),
      /** A run replaces the source's chunks; chunks of any other run are refused. */
      runId: z.string(),
      ...chunkingSchema,
      startedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('KnowledgeChunksRecorded'),
    data: z.object({
      sourceId: z.string(),
      kinId: z.string(),
      runId: z.string(),
      batch: z.number().int().nonnegative(),
      chunks: z.array(recordedChunkSchema),
      recordedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('KnowledgeSourceProcessed'),
    data: z.object({
      sourceId: z.string(),
      kinId: z.string(),
      runId: z.string(),
      chunkCount: z.number().int().nonnegative(),
      tokenCount: z.number().int().nonnegative(),
      batchCount: z.number().int().nonnegative(),
      /** How many chunks got a vector, and from which model (null: none, full-text search only). */
      embeddedCount: z.number().int().nonnegative(),
      embeddingModel: z.string().nullable(),
      processedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('KnowledgeSourceFailed'),
    data: z.object({ sourceId: z.string(), kinId: z.string(), runId: z.string(), errorMessage: z.string(), failedAt: z.string() }),
  }),
  z.object({
    type: z.literal('KnowledgeSourceDeleted'),
    data: z.object({ sourceId: z.string(), kinId: z.string(), deletedAt: z.string() }),
  }),
]);

export type KnowledgeEvent = z.infer<typeof knowledgeEventSchema>;
export const knowledgeEventTypes = [
  'KnowledgeSourceAdded',
  'KnowledgeSourceReprocessRequested',
  'KnowledgeSourceProcessingStarted',
  'KnowledgeChunksRecorded',
  'KnowledgeSourceProcessed',
  'KnowledgeSourceFailed',
  'KnowledgeSourceDeleted',
] as const;

export const parseKnowledgeEvent = (recorded: RecordedEvent): KnowledgeEvent =>
  knowledgeEventSchema.parse({ type: recorded.type, data: recorded.data });

export function encodeVector(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes.toString('base64');
}

export function decodeVector(encoded: string): number[] {
  const bytes = Buffer.from(encoded, 'base64');
  return Array.from({ length: Math.floor(bytes.length / 4) }, (_, i) => bytes.readFloatLE(i * 4));
}
