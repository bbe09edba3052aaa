import { SAFE_NAME } from '../es/readStore.js';
import type { IndexEntry, TextSearchOptions, VectorHit, VectorSearchOptions } from '../es/searchIndex.js';

/**
 * What both SearchIndex adapters must agree on, in one place: the words a text query searches
 * for (spec memory-knowledge.md §4), what a valid entry is, and the order of equal hits.
 */

const QUERY_PUNCTUATION = /['"*(){}[\]:^~!@#$%&]/g;
const MIN_TERM_LENGTH = 3;

/** The terms of a text query: punctuation becomes space, terms shorter than 3 characters are dropped. */
export function searchTerms(query: string): string[] {
  return query
    .replace(QUERY_PUNCTUATION, ' ')
    .split(/\s+/)
    .filter((term) => term.length >= MIN_TERM_LENGTH);
}

export function checkIndexName(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`Invalid search index name: ${name}`);
  return name;
}

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Fields are flat and scalar (they are filtered on and indexed), vectors finite. */
export function checkEntry(entry: IndexEntry): IndexEntry {
  if (typeof entry.id !== 'string' || entry.id === '') throw new Error('A search index entry needs a non-empty string id');
  if (typeof entry.text !== 'string') throw new Error('A search index entry needs a text');
  if (typeof entry.fields !== 'object' || entry.fields === null || Array.isArray(entry.fields)) {
    throw new Error('The fields of a search index entry are an object');
  }
  for (const [key, value] of Object.entries(entry.fields)) {
    if (!FIELD_NAME.test(key) || key === 'id') throw new Error(`Invalid search index field name: ${key}`);
    const scalar = value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    if (!scalar) throw new Error(`Search index fields hold scalars only, not ${JSON.stringify(value)} (${key})`);
  }
  checkVector(entry.vector, true);
  return entry;
}

export function checkVector(vector: number[] | null, nullable: boolean): void {
  if (vector === null && nullable) return;
  if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error('A vector is a non-empty array of finite numbers');
  }
}

export function checkTextSearch(options: TextSearchOptions): void {
  checkLimit(options.limit);
  if (options.match !== undefined && options.match !== 'all' && options.match !== 'any') throw new Error(`match is 'all' or 'any'`);
}

export function checkVectorSearch(vector: number[], options: VectorSearchOptions): void {
  checkVector(vector, false);
  checkLimit(options.limit);
  const min = options.minSimilarity;
  if (min !== undefined && !(typeof min === 'number' && Number.isFinite(min))) throw new Error('minSimilarity is a number');
}

function checkLimit(limit: number): void {
  if (!(Number.isInteger(limit) && limit >= 0)) throw new Error('limit is an integer ≥ 0');
}

/** Best first; equal scores by id, so that both adapters return ties in the same order. */
export function byScore<T extends { id: string }>(score: (hit: T) => number): (a: T, b: T) => number {
  return (a, b) => score(b) - score(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export const bySimilarity = byScore<VectorHit>((hit) => hit.similarity);
