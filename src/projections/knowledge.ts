import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import { decodeVector, knowledgeEventTypes, parseKnowledgeEvent, type KnowledgeEvent, type KnowledgeSourceType } from '../events/knowledge.js';
import { parseKinEvent } from '../events/kins.js';

export const KNOWLEDGE_SOURCES = 'knowledge_sources';
/** Also the name of the search index over the same chunks (full text + vectors). */
export const KNOWLEDGE_CHUNKS = 'knowledge_chunks';

export type KnowledgeStatus = 'pending' | 'processing' | 'ready' | 'error';

export type KnowledgeSourceMetadata = {
  chunkSize: number;
  chunkOverlap: number;
  /** Bytes of the uploaded file or fetched page; null for text given in the request. */
  size: number | null;
  embeddingModel: string | null;
  embeddedCount: number;
};

/** The source record of memory-knowledge.md §5, plus what processing needs (`blobHash`, `runId`). */
export type KnowledgeSourceDoc = Doc & {
  id: string;
  kinId: string;
  name: string;
  type: KnowledgeSourceType;
  status: KnowledgeStatus;
  errorMessage: string | null;
  originalFilename: string | null;
  mimeType: string | null;
  sourceUrl: string | null;
  rawContent: string | null;
  chunkCount: number;
  tokenCount: number;
  metadata: KnowledgeSourceMetadata;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
  blobHash: string | null;
  /** The processing run whose chunks the read model holds (or is receiving). */
  runId: string | null;
};

export type KnowledgeChunkDoc = Doc & {
  id: string;
  sourceId: string;
  kinId: string;
  runId: string;
  content: string;
  position: number;
  tokenCount: number;
  metadata: { embedded: boolean };
  /** The model of the chunk's vector (null: none, or not known yet for a chunk recorded without it). */
  embeddingModel: string | null;
  createdAt: string;
};

type AddedData = Extract<KnowledgeEvent, { type: 'KnowledgeSourceAdded' }>['data'];

/** A new source as its creation records it: pending, no chunks yet. */
export function addedSource(data: AddedData): KnowledgeSourceDoc {
  const { sourceId, blob, chunkSize, chunkOverlap, requestId: _r, ...fields } = data;
  return {
    id: sourceId,
    ...fields,
    status: 'pending',
    errorMessage: null,
    chunkCount: 0,
    tokenCount: 0,
    metadata: { chunkSize, chunkOverlap, size: blob?.size ?? null, embeddingModel: null, embeddedCount: 0 },
    updatedAt: fields.createdAt,
    blobHash: blob?.hash ?? null,
    runId: null,
  };
}

const sources = (store: ReadStore) => store.collection<KnowledgeSourceDoc>(KNOWLEDGE_SOURCES);
const chunks = (store: ReadStore) => store.collection<KnowledgeChunkDoc>(KNOWLEDGE_CHUNKS);
export const knowledgeIndex = (store: ReadStore) => store.searchIndex(KNOWLEDGE_CHUNKS);

async function dropChunks(store: ReadStore, filter: { sourceId: string } | { kinId: string }) {
  await chunks(store).delete(filter);
  await knowledgeIndex(store).deleteWhere(filter);
}

/** Applies `change` to the source if it exists (events of a deleted source change nothing). */
async function patchSource(store: ReadStore, sourceId: string, change: (doc: KnowledgeSourceDoc) => KnowledgeSourceDoc | null) {
  const doc = await sources(store).get(sourceId);
  const next = doc && change(doc);
  if (next) await sources(store).replace(next);
}

/**
 * Chunks recorded before chunks named their vector's model get the model their source's run
 * reports, so that searches (which compare a vector only with vectors of its own model) find them.
 */
async function nameLegacyVectorModel(store: ReadStore, sourceId: string, runId: string, embeddingModel: string | null) {
  if (!embeddingModel) return;
  const unnamed = await chunks(store).find({ sourceId, runId, 'metadata.embedded': true, embeddingModel: null });
  const index = knowledgeIndex(store);
  for (const chunk of unnamed) {
    await chunks(store).update({ id: chunk.id }, { $set: { embeddingModel } });
    const entry = await index.get(chunk.id);
    if (entry) await index.upsert({ ...entry, fields: { ...entry.fields, embeddingModel } });
  }
}

export const knowledgeProjection: Projection = {
  name: 'knowledge',
  // 2: chunks name their vector's model (in the read model and as an index field).
  version: 2,
  handles: [...knowledgeEventTypes, 'KinDeleted'],
  collections: [KNOWLEDGE_SOURCES, KNOWLEDGE_CHUNKS],
  async setup(store) {
    await sources(store).ensureIndex({ fields: { kinId: 1, createdAt: -1 } });
    await chunks(store).ensureIndex({ fields: { sourceId: 1, position: 1 } });
    await chunks(store).ensureIndex({ fields: { kinId: 1 } });
  },
  async apply(recorded, store) {
    if (recorded.type === 'KinDeleted') {
      const { kinId } = parseKinEvent(recorded).data;
      await sources(store).delete({ kinId });
      await dropChunks(store, { kinId });
      return;
    }
    const event = parseKnowledgeEvent(recorded);
    switch (event.type) {
      case 'KnowledgeSourceAdded':
        await sources(store).replace(addedSource(event.data));
        return;
      case 'KnowledgeSourceReprocessRequested': {
        const { chunkSize, chunkOverlap, requestedAt } = event.data;
        await patchSource(store, event.data.sourceId, (doc) => ({
          ...doc,
          status: 'pending',
          metadata: { ...doc.metadata, chunkSize, chunkOverlap },
          updatedAt: requestedAt,
        }));
        return;
      }
      case 'KnowledgeSourceProcessingStarted': {
        const { sourceId, runId, chunkSize, chunkOverlap, startedAt } = event.data;
        // The chunks of the previous run are replaced by this run's.
        await dropChunks(store, { sourceId });
        await patchSource(store, sourceId, (doc) => ({
          ...doc,
          status: 'processing',
          errorMessage: null,
          chunkCount: 0,
          tokenCount: 0,
          metadata: { ...doc.metadata, chunkSize, chunkOverlap, embeddingModel: null, embeddedCount: 0 },
          runId,
          updatedAt: startedAt,
        }));
        return;
      }
      case 'KnowledgeChunksRecorded': {
        const { sourceId, kinId, runId, recordedAt } = event.data;
        // Chunks of a superseded run (or of a deleted source) are not the source's chunks.
        if ((await sources(store).get(sourceId))?.runId !== runId) return;
        const index = knowledgeIndex(store);
        for (const chunk of event.data.chunks) {
          const { chunkId, position, content, tokenCount, embedding } = chunk;
          const embeddingModel = embedding === null ? null : (chunk.embeddingModel ?? null);
          await chunks(store).replace({
            id: chunkId,
            sourceId,
            kinId,
            runId,
            content,
            position,
            tokenCount,
            metadata: { embedded: embedding !== null },
            embeddingModel,
            createdAt: recordedAt,
          });
          await index.upsert({
            id: chunkId,
            text: content,
            vector: embedding === null ? null : decodeVector(embedding),
            fields: { kinId, sourceId, embeddingModel },
          });
        }
        return;
      }
      case 'KnowledgeSourceProcessed': {
        const { sourceId, runId, chunkCount, tokenCount, embeddedCount, embeddingModel, processedAt } = event.data;
        if ((await sources(store).get(sourceId))?.runId === runId) await nameLegacyVectorModel(store, sourceId, runId, embeddingModel);
        await patchSource(store, sourceId, (doc) =>
          doc.runId !== runId
            ? null
            : {
                ...doc,
                status: 'ready',
                errorMessage: null,
                chunkCount,
                tokenCount,
                metadata: { ...doc.metadata, embeddingModel, embeddedCount },
                updatedAt: processedAt,
              },
        );
        return;
      }
      case 'KnowledgeSourceFailed': {
        const { sourceId, runId, errorMessage, failedAt } = event.data;
        const doc = await sources(store).get(sourceId);
        if (doc?.runId !== runId) return;
        await dropChunks(store, { sourceId });
        await sources(store).replace({ ...doc, status: 'error', errorMessage, chunkCount: 0, tokenCount: 0, updatedAt: failedAt });
        return;
      }
      case 'KnowledgeSourceDeleted':
        await sources(store).delete({ id: event.data.sourceId });
        await dropChunks(store, { sourceId: event.data.sourceId });
        return;
    }
  },
};

// ── Reads ─────────────────────────────────────────────────────────────────────────────────────

/** The source as the API shows it (memory-knowledge.md §5): the record, without processing internals. */
export function presentSource(doc: KnowledgeSourceDoc) {
  return {
    id: doc.id,
    kinId: doc.kinId,
    name: doc.name,
    type: doc.type,
    status: doc.status,
    errorMessage: doc.errorMessage,
    originalFilename: doc.originalFilename,
    mimeType: doc.mimeType,
    // Uploaded bytes live in the blob store, not at a path.
    storedPath: null,
    sourceUrl: doc.sourceUrl,
    rawContent: doc.rawContent,
    chunkCount: doc.chunkCount,
    tokenCount: doc.tokenCount,
    metadata: doc.metadata,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

export function presentChunk(doc: KnowledgeChunkDoc) {
  const { id, sourceId, kinId, content, position, tokenCount, metadata, createdAt } = doc;
  return { id, sourceId, kinId, content, position, tokenCount, metadata, createdAt };
}

export const knowledgeSourcesOf = (readStore: ReadStore, kinId: string) =>
  sources(readStore).find({ kinId }, { sort: { createdAt: -1, id: -1 } });

export const knowledgeSource = (readStore: ReadStore, sourceId: string) => sources(readStore).get(sourceId);

export const chunksOfSource = (readStore: ReadStore, sourceId: string) =>
  chunks(readStore).find({ sourceId }, { sort: { position: 1 } });

export const chunksByIds = (readStore: ReadStore, ids: readonly string[]) =>
  ids.length === 0 ? Promise.resolve([]) : chunks(readStore).find({ id: { $in: [...ids] } });
