import type { Filter } from './readStore.js';

/**
 * A full-text and vector index over documents of one kind (memories, knowledge chunks), reached
 * through the ReadStore (`store.searchIndex(name)`), so that a projection writes it in the same
 * transaction as its read model. Adapters: SQLite (FTS5 with BM25, vectors as Float32 blobs with an
 * in-process ANN or exact index) and MongoDB (text index, vectors in documents). Both pass the
 * search part of tests/conformance/readStore.test.ts.
 *
 * `fields` are small filterable values (kinId, scope, category…); `filter` in searches uses the
 * ReadStore filter subset over them (equality, $in, $ne, $or, $and).
 */
export type IndexEntry = {
  id: string;
  text: string;
  /** null: no embedding (the entry is found by full text only). */
  vector: number[] | null;
  fields: Record<string, string | number | boolean | null>;
};

export type TextHit = { id: string; /** Higher is better (BM25-based, positive). */ score: number };
export type VectorHit = { id: string; /** Cosine similarity in [-1, 1]. */ similarity: number };

export type TextSearchOptions = {
  filter?: Filter;
  limit: number;
  /** `all`: every term must match (default); `any`: at least one. Terms match as prefixes. */
  match?: 'all' | 'any';
};

export type VectorSearchOptions = { filter?: Filter; limit: number; minSimilarity?: number };

export interface SearchIndex {
  /** Inserts or replaces the entry with this id. */
  upsert(entry: IndexEntry): Promise<void>;
  /** Changes only the vector (re-embedding). */
  setVector(id: string, vector: number[] | null): Promise<void>;
  delete(id: string): Promise<void>;
  /** Deletes every entry whose fields match; returns how many. */
  deleteWhere(filter: Filter): Promise<number>;
  get(id: string): Promise<IndexEntry | null>;
  /**
   * Full-text search of the words of `query` (punctuation ignored, terms shorter than 3 characters
   * dropped), best first.
   */
  textSearch(query: string, options: TextSearchOptions): Promise<TextHit[]>;
  /** Nearest entries by cosine similarity, best first; entries without a vector never match. */
  vectorSearch(vector: number[], options: VectorSearchOptions): Promise<VectorHit[]>;
  count(filter?: Filter): Promise<number>;
}
