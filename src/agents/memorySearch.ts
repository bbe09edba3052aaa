import { recordRetrieval, type MemoryDeps } from '../commands/memories.js';
import type { Filter } from '../es/readStore.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';
import { embeddingModelId, embedTexts, type EmbeddingDeps } from './embeddings.js';
import { adaptiveK, detectIntent, ftsTerms, fuseRanks, RETRIEVAL, weightedScore } from './memoryScoring.js';

/** A result item of memory-knowledge.md §4. */
export type MemorySearchItem = {
  id: string;
  content: string;
  category: string;
  subject: string | null;
  sourceContext: string | null;
  importance: number | null;
  scope: string;
  authorKinId: string;
  /** Only for shared memories of other Kins. */
  authorKinName?: string;
  score: number;
  updatedAt: string;
};

/**
 * How the search ran: `hybrid` (vectors and full text) or `full-text` when the query could not be
 * embedded (no provider serves the embedding model, or the call failed); `reason` says which.
 */
export type SearchMetadata = { mode: 'hybrid' | 'full-text'; embeddingModel: string; reason?: string };

export type MemorySearchResult = { memories: MemorySearchItem[]; metadata: SearchMetadata };

export type MemorySearchRequest = { kinId: string; query: string; limit?: number; now?: Date };

/** What a Kin may recall: its own memories and every shared one. */
export const recallScope = (kinId: string): Filter => ({ $or: [{ kinId }, { scope: 'shared' }] });

type VectorSide = { ids: string[]; metadata: SearchMetadata };

/** The vector list of step 1, or why there is none (never throws for that). */
async function vectorCandidates(deps: EmbeddingDeps, request: MemorySearchRequest, candidates: number): Promise<VectorSide> {
  const outcome = await embedTexts(deps, [request.query]);
  const embeddingModel = outcome.model;
  if (!outcome.ok) {
    const reason =
      outcome.reason === 'no-embedding-provider'
        ? `No valid provider with the embedding capability serves the model "${embeddingModel}"`
        : `The query could not be embedded: ${outcome.error ?? 'unknown error'}`;
    return { ids: [], metadata: { mode: 'full-text', embeddingModel, reason } };
  }
  try {
    // Vectors of another model live in another space: they are compared only with their own.
    const hits = await deps.readStore.searchIndex(MEMORIES).vectorSearch(outcome.vectors[0]!, {
      filter: { $and: [recallScope(request.kinId), { embeddingModel }] },
      limit: candidates,
      minSimilarity: RETRIEVAL.similarityThreshold,
    });
    return { ids: hits.map((hit) => hit.id), metadata: { mode: 'hybrid', embeddingModel } };
  } catch (error) {
    const reason = `The vector search failed: ${error instanceof Error ? error.message : String(error)}`;
    return { ids: [], metadata: { mode: 'full-text', embeddingModel, reason } };
  }
}

/** The full-text list of step 1: every term (as a prefix) first, any of them if that finds nothing. */
async function textCandidates(deps: EmbeddingDeps, request: MemorySearchRequest, candidates: number): Promise<string[]> {
  const terms = ftsTerms(request.query);
  if (terms.length === 0) return [];
  const index = deps.readStore.searchIndex(MEMORIES);
  const options = { filter: recallScope(request.kinId), limit: candidates };
  let hits = await index.textSearch(terms.join(' '), { ...options, match: 'all' });
  if (hits.length === 0 && terms.length > 1) hits = await index.textSearch(terms.join(' '), { ...options, match: 'any' });
  return hits.map((hit) => hit.id);
}

/**
 * Hybrid memory search (memory-knowledge.md §4) over this Kin's memories and all shared ones:
 * vector KNN and full text fused by reciprocal rank, weighted (decay, importance, retrievals,
 * subject, intent, recency), cut by adaptive-K. Without a usable embedding model it degrades to
 * full text and says so in `metadata`. The optional LLM stages of the original (multi-query, HyDE,
 * rerank, contextual rewrite) are off by default there and are not implemented here.
 */
export async function searchMemories(deps: EmbeddingDeps, request: MemorySearchRequest): Promise<MemorySearchResult> {
  const limit = request.limit ?? RETRIEVAL.maxRelevantMemories;
  const now = request.now ?? new Date();
  if (!request.query.trim()) {
    return { memories: [], metadata: { mode: 'full-text', embeddingModel: await embeddingModelId(deps.readStore), reason: 'The query is empty' } };
  }
  const candidates = 2 * limit;
  const [vector, text] = await Promise.all([vectorCandidates(deps, request, candidates), textCandidates(deps, request, candidates)]);
  const fused = fuseRanks([
    { ids: vector.ids, weight: 1 },
    { ids: text, weight: RETRIEVAL.ftsBoost },
  ]);
  if (fused.size === 0) return { memories: [], metadata: vector.metadata };

  const docs = await deps.readStore.collection<MemoryDoc>(MEMORIES).find({ id: { $in: [...fused.keys()] } });
  const intent = detectIntent(request.query);
  const ranked = docs
    .map((memory) => ({ memory, score: weightedScore(fused.get(memory.id)!, memory, request.query, intent, now) }))
    .sort((a, b) => b.score - a.score || a.memory.id.localeCompare(b.memory.id))
    .slice(0, limit);
  const kept = adaptiveK(ranked);

  const authorIds = [...new Set(kept.filter(({ memory }) => memory.scope === 'shared' && memory.kinId !== request.kinId).map(({ memory }) => memory.kinId))];
  const authors = authorIds.length ? await deps.readStore.collection<KinDoc>(KINS).find({ id: { $in: authorIds } }) : [];
  const names = new Map(authors.map((kin) => [kin.id, kin.name]));
  const memories = kept.map(({ memory, score }): MemorySearchItem => {
    const authorKinName = memory.kinId !== request.kinId ? names.get(memory.kinId) : undefined;
    return {
      id: memory.id,
      content: memory.content,
      category: memory.category,
      subject: memory.subject,
      sourceContext: memory.sourceContext,
      importance: memory.importance,
      scope: memory.scope,
      authorKinId: memory.kinId,
      ...(authorKinName !== undefined ? { authorKinName } : {}),
      score,
      updatedAt: memory.updatedAt,
    };
  });
  return { memories, metadata: vector.metadata };
}

/** What a turn's prompt received, as recorded on the assistant message (`injectedMemories`). */
export type InjectedMemory = Pick<MemorySearchItem, 'id' | 'content' | 'category' | 'subject' | 'score'>;

/**
 * The memories a main turn injects into its system prompt (the top ones for the incoming message),
 * counted as retrieved once per turn: `retrievalId` is the turn's queue item, so a resumed turn
 * counts nothing twice (memory-knowledge.md §4 step 5).
 */
export async function recallForTurn(
  deps: EmbeddingDeps & Pick<MemoryDeps, 'runCommand'>,
  request: { kinId: string; text: string; retrievalId: string },
): Promise<InjectedMemory[]> {
  if (!request.text.trim()) return [];
  const { memories } = await searchMemories(deps, { kinId: request.kinId, query: request.text });
  const injected = memories.map(({ id, content, category, subject, score }) => ({ id, content, category, subject, score }));
  await recordRetrieval(
    deps,
    { retrievalId: request.retrievalId, kinId: request.kinId, memoryIds: injected.map((memory) => memory.id) },
    { actor: { kind: 'system', id: 'turn-runner' }, correlationId: request.retrievalId, now: new Date() },
  );
  return injected;
}
