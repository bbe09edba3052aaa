import type { ReadStore } from '../es/readStore.js';
import { chunksByIds, knowledgeIndex, knowledgeSource } from '../projections/knowledge.js';
import { embedTexts, type EmbeddingDeps } from './embeddings.js';

/**
 * Knowledge search (memory-knowledge.md §5, "Knowledge search scoring"): vector KNN over this
 * Kin's chunks (similarity ≥ 0.7) and full text (every term, else any term), 2 × limit candidates
 * each, fused by reciprocal rank (K 60, full text weighted 0.5); no decay or boosts. Without an
 * embedding model (or when embedding the query fails) it is full text alone.
 */

export const RRF_K = 60;
export const FTS_WEIGHT = 0.5;
export const MIN_SIMILARITY = 0.7;
export const DEFAULT_SEARCH_LIMIT = 5;
/** Chunks offered to a turn for its incoming message. */
export const TURN_KNOWLEDGE_CHUNKS = 5;

export type KnowledgeHit = { id: string; content: string; sourceId: string; position: number; score: number };
export type KnowledgeSearchResult = { results: KnowledgeHit[]; mode: 'hybrid' | 'full-text' };

/** The query's terms as the spec counts them: special characters dropped, 3 characters or more. */
export const searchTerms = (query: string): string[] =>
  query
    .replace(/['"*(){}[\]:^~!@#$%&]/g, ' ')
    .split(/\s+/)
    .filter((term) => term.length >= 3);

export async function searchKnowledge(
  deps: EmbeddingDeps,
  kinId: string,
  query: string,
  limit = DEFAULT_SEARCH_LIMIT,
): Promise<KnowledgeSearchResult> {
  const index = knowledgeIndex(deps.readStore);
  const filter = { kinId };
  const candidates = limit * 2;
  const scores = new Map<string, number>();
  const fuse = (ids: readonly string[], weight: number) =>
    ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + weight / (RRF_K + i + 1)));

  let mode: KnowledgeSearchResult['mode'] = 'full-text';
  const embedded = await embedTexts(deps, [query]);
  const vector = embedded.ok ? embedded.vectors[0] : undefined;
  if (vector) {
    mode = 'hybrid';
    // Vectors of another model live in another space: they are compared only with their own.
    const hits = await index.vectorSearch(vector, { filter: { ...filter, embeddingModel: embedded.model }, limit: candidates, minSimilarity: MIN_SIMILARITY });
    fuse(hits.map((hit) => hit.id), 1);
  }

  const terms = searchTerms(query);
  if (terms.length > 0) {
    let hits = await index.textSearch(query, { filter, limit: candidates, match: 'all' });
    if (hits.length === 0 && terms.length > 1) hits = await index.textSearch(query, { filter, limit: candidates, match: 'any' });
    fuse(hits.map((hit) => hit.id), FTS_WEIGHT);
  }

  const ranked = [...scores].sort((a, b) => b[1] - a[1]).slice(0, limit);
  const docs = new Map((await chunksByIds(deps.readStore, ranked.map(([id]) => id))).map((doc) => [doc.id, doc]));
  const results = ranked.flatMap(([id, score]) => {
    const doc = docs.get(id);
    return doc ? [{ id, content: doc.content, sourceId: doc.sourceId, position: doc.position, score }] : [];
  });
  return { results, mode };
}

export type TurnKnowledge = { sourceName: string; content: string };

/**
 * The top chunks for a turn's incoming message, with their source's name; nothing (and no
 * embedding call) for a Kin without knowledge.
 */
export async function knowledgeForTurn(deps: EmbeddingDeps, kinId: string, text: string): Promise<TurnKnowledge[]> {
  if (!text.trim() || (await knowledgeIndex(deps.readStore).count({ kinId })) === 0) return [];
  const { results } = await searchKnowledge(deps, kinId, text, TURN_KNOWLEDGE_CHUNKS);
  return Promise.all(results.map(async (hit) => ({ sourceName: (await sourceName(deps.readStore, hit.sourceId)) ?? 'Unknown source', content: hit.content })));
}

const sourceName = async (readStore: ReadStore, sourceId: string) => (await knowledgeSource(readStore, sourceId))?.name;
