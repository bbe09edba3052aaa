import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import type { IndexEntry } from '../es/searchIndex.js';
import { parseKinEvent } from '../events/kins.js';
import {
  memoryEventTypes,
  parseMemoryEvent,
  parseRetrievalEvent,
  retrievalEventTypes,
  type MemoryCategory,
  type MemoryScope,
  type SourceChannel,
} from '../events/memories.js';

/** The read model (one document per memory) and the search index over it share this name. */
export const MEMORIES = 'memories';

/** memory-knowledge.md §1, without the vector (it lives in the search index). */
export type MemoryDoc = Doc & {
  id: string;
  kinId: string;
  content: string;
  category: MemoryCategory;
  subject: string | null;
  scope: MemoryScope;
  sourceChannel: SourceChannel;
  sourceMessageId: string | null;
  sourceContext: string | null;
  importance: number | null;
  retrievalCount: number;
  lastRetrievedAt: string | null;
  consolidationGeneration: number;
  consolidatedFromIds: string[] | null;
  /** The model that made the vector in the index; null when the memory has none. */
  embeddingModel: string | null;
  createdAt: string;
  updatedAt: string;
  /** Position of the last retrieval counted, so that applying it again counts nothing. */
  retrievalPosition?: number;
};

/**
 * The index entry of a memory: its text, the fields searches filter on (scope rules, and the
 * embedding model so that a vector is only compared with vectors of the same model), its vector.
 */
const indexEntry = (memory: MemoryDoc, vector: number[] | null): IndexEntry => ({
  id: memory.id,
  text: memory.content,
  vector,
  fields: {
    kinId: memory.kinId,
    scope: memory.scope,
    category: memory.category,
    subject: memory.subject,
    embeddingModel: vector ? memory.embeddingModel : null,
  },
});

async function reindex(store: ReadStore, memoryId: string, vector?: number[] | null) {
  const memory = await store.collection<MemoryDoc>(MEMORIES).get(memoryId);
  if (!memory) return;
  const index = store.searchIndex(MEMORIES);
  const kept = vector !== undefined ? vector : ((await index.get(memoryId))?.vector ?? null);
  await index.upsert(indexEntry(memory, kept));
}

export const memoriesProjection: Projection = {
  name: 'memories',
  version: 1,
  handles: [...memoryEventTypes, ...retrievalEventTypes, 'KinDeleted'],
  collections: [MEMORIES],
  async setup(store) {
    const memories = store.collection(MEMORIES);
    await memories.ensureIndex({ fields: { kinId: 1, updatedAt: -1 } });
    await memories.ensureIndex({ fields: { kinId: 1, category: 1 } });
    await memories.ensureIndex({ fields: { kinId: 1, subject: 1 } });
    await memories.ensureIndex({ fields: { scope: 1 } });
    await memories.ensureIndex({ fields: { updatedAt: -1 } });
  },
  async apply(recorded, store) {
    const memories = store.collection<MemoryDoc>(MEMORIES);
    const index = store.searchIndex(MEMORIES);
    if (recorded.type === 'KinDeleted') {
      // A Kin's memories go with it (kins.md, DELETE cascade), shared ones included.
      const { kinId } = parseKinEvent(recorded).data;
      await memories.delete({ kinId });
      await index.deleteWhere({ kinId });
      return;
    }
    if (recorded.type === 'MemoriesRetrieved') {
      const { memoryIds, retrievedAt } = parseRetrievalEvent(recorded).data;
      const notCountedYet = { $or: [{ retrievalPosition: null }, { retrievalPosition: { $lt: recorded.position } }] };
      await memories.update(
        { id: { $in: memoryIds }, ...notCountedYet },
        { $inc: { retrievalCount: 1 }, $set: { lastRetrievedAt: retrievedAt, retrievalPosition: recorded.position } },
      );
      return;
    }
    const event = parseMemoryEvent(recorded);
    switch (event.type) {
      case 'MemoryCreated': {
        const { memoryId, embedding, embeddingModel, ...fields } = event.data;
        const doc: MemoryDoc = {
          id: memoryId,
          ...fields,
          embeddingModel: embedding ? embeddingModel : null,
          retrievalCount: 0,
          lastRetrievedAt: null,
          updatedAt: fields.createdAt,
        };
        await memories.replace(doc);
        await index.upsert(indexEntry(doc, embedding));
        return;
      }
      case 'MemoryUpdated': {
        const { memoryId, changes, embedding, embeddingModel, updatedAt } = event.data;
        const vectorChanged = embedding !== undefined;
        const set = {
          ...changes,
          ...(updatedAt ? { updatedAt } : {}),
          ...(vectorChanged ? { embeddingModel: embedding ? (embeddingModel ?? null) : null } : {}),
        };
        await memories.update({ id: memoryId }, { $set: set });
        await reindex(store, memoryId, vectorChanged ? embedding : undefined);
        return;
      }
      case 'MemoryReembedded': {
        const { memoryId, embedding, embeddingModel } = event.data;
        await memories.update({ id: memoryId }, { $set: { embeddingModel: embedding ? embeddingModel : null } });
        await reindex(store, memoryId, embedding);
        return;
      }
      case 'MemoryDeleted':
        await memories.delete({ id: event.data.memoryId });
        await index.delete(event.data.memoryId);
        return;
    }
  },
};
