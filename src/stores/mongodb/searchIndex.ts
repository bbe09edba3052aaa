import type { ClientSession, Db, Document, Filter as MongoFilter } from 'mongodb';
import type { Filter } from '../../es/readStore.js';
import type { IndexEntry, SearchIndex, TextHit, VectorHit } from '../../es/searchIndex.js';
import { bySimilarity, byScore, checkEntry, checkTextSearch, checkVector, checkVectorSearch, searchTerms } from '../searchIndexRules.js';
import { checkPath, toMongoFilter } from './filters.js';

/**
 * The MongoDB SearchIndex: a collection `si_<name>` of `{ _id, text, fields, vector, tokens }`.
 * (`si_` names are reserved: listCollections leaves them out, as SQLite's lists only read models.)
 *
 * Text: MongoDB's `$text` matches whole words only, and the contract (spec §4) matches every
 * term as a prefix, so each entry keeps `tokens`, its words as SQLite's FTS5 tokenizer sees them
 * (unicode61: letters and digits, lower case, diacritics removed); a term matches a token that
 * starts with it (an anchored regex, served by the index on `tokens`), and hits are ranked by
 * BM25 as FTS5 computes it (k1 1.2, b 0.75), term frequencies counted by the server. One
 * approximation: the average document length is that of the matching documents rather than of
 * the whole collection, which would need a full scan per search.
 *
 * Vectors: an exact scan in the application over the vectors of the entries that pass the
 * filter (the filter runs in MongoDB, on the wildcard index over `fields`).
 *
 * Indexes are created outside any session (index builds are not transactional), once per process
 * and collection, before its first operation.
 */

export type SearchContext = { db: Db; ensured: Map<string, Promise<void>> };

type Fields = IndexEntry['fields'];
type Stored = { _id: string; text: string; fields: Fields; vector: number[] | null; tokens: string[] };

const K1 = 1.2;
const B = 0.75;

export const searchCollection = (name: string): string => `si_${name}`;

export function searchIndexFor(context: SearchContext, name: string, session: ClientSession | undefined): SearchIndex {
  const collection = context.db.collection<Stored>(searchCollection(name));
  const options = session ? { session } : {};
  const ready = () => ensureIndexes(context, name);

  return {
    upsert: async (entry) => {
      const { id, text, fields, vector } = checkEntry(entry);
      await ready();
      await collection.replaceOne({ _id: id }, { text, fields, vector, tokens: tokensOf(text) }, { ...options, upsert: true });
    },
    setVector: async (id, vector) => {
      checkVector(vector, true);
      await ready();
      await collection.updateOne({ _id: id }, { $set: { vector } }, options);
    },
    delete: async (id) => {
      await ready();
      await collection.deleteOne({ _id: id }, options);
    },
    deleteWhere: async (filter) => {
      const query = fieldsFilter(filter);
      await ready();
      return (await collection.deleteMany(query, options)).deletedCount;
    },
    get: async (id) => {
      await ready();
      const stored = await collection.findOne({ _id: id }, options);
      return stored ? { id: stored._id, text: stored.text, fields: stored.fields, vector: stored.vector } : null;
    },
    count: async (filter = {}) => {
      const query = fieldsFilter(filter);
      await ready();
      return collection.countDocuments(query, options);
    },
    textSearch: async (query, searchOptions) => {
      checkTextSearch(searchOptions);
      const filter = fieldsFilter(searchOptions.filter ?? {});
      const terms = searchTerms(query).map(tokensOf);
      if (terms.length === 0 || searchOptions.limit === 0) return [];
      await ready();
      const matches = terms.map(termMatch);
      // One operation at a time: a session does not run operations concurrently.
      const total = await collection.countDocuments({}, options);
      const idf: number[] = [];
      for (const match of matches) {
        const df = await collection.countDocuments(match, options);
        idf.push(Math.max(1e-6, Math.log((total - df + 0.5) / (df + 0.5))));
      }
      const rows = await collection
        .aggregate<{ _id: string; length: number; tf: number[] }>(
          [
            { $match: { $and: [filter, searchOptions.match === 'any' ? { $or: matches } : { $and: matches }] } },
            { $project: { length: { $size: '$tokens' }, tf: terms.map(termFrequency) } },
          ],
          options,
        )
        .toArray();
      const averageLength = rows.reduce((sum, row) => sum + row.length, 0) / Math.max(rows.length, 1) || 1;
      const hits: TextHit[] = rows.map((row) => ({
        id: row._id,
        score: row.tf.reduce((score, tf, i) => {
          const norm = tf + K1 * (1 - B + (B * row.length) / averageLength);
          return score + (idf[i]! * tf * (K1 + 1)) / norm;
        }, 0),
      }));
      return hits.sort(byScore<TextHit>((hit) => hit.score)).slice(0, searchOptions.limit);
    },
    vectorSearch: async (vector, searchOptions) => {
      checkVectorSearch(vector, searchOptions);
      const filter = fieldsFilter(searchOptions.filter ?? {});
      if (searchOptions.limit === 0) return [];
      await ready();
      const query = unit(vector);
      const min = searchOptions.minSimilarity ?? -Infinity;
      const hits: VectorHit[] = [];
      const cursor = collection.find({ $and: [filter, { vector: { $type: 'array' } }] } as MongoFilter<Stored>, {
        ...options,
        projection: { vector: 1 },
      });
      for await (const { _id, vector: stored } of cursor) {
        // A vector of another dimension (a change of embedding model) is not comparable.
        if (!stored || stored.length !== query.length) continue;
        const similarity = Math.max(-1, Math.min(1, dot(unit(stored), query)));
        if (similarity >= min) keepBest(hits, { id: _id, similarity }, searchOptions.limit);
      }
      return hits;
    },
  };
}

/** Forgets that the indexes of `name` exist (its collection was dropped). */
export function forgetSearchIndex(context: SearchContext, name: string): void {
  context.ensured.delete(name);
}

function ensureIndexes(context: SearchContext, name: string): Promise<void> {
  let ensured = context.ensured.get(name);
  if (!ensured) {
    ensured = context.db
      .collection(searchCollection(name))
      .createIndexes([
        { key: { tokens: 1 }, name: 'tokens' },
        { key: { 'fields.$**': 1 }, name: 'fields' },
      ])
      .then(() => undefined);
    ensured.catch(() => context.ensured.delete(name));
    context.ensured.set(name, ensured);
  }
  return ensured;
}

function fieldsFilter(filter: Filter): MongoFilter<Stored> {
  return toMongoFilter<Stored>(filter, (path) => {
    const checked = checkPath(path);
    return checked === '_id' ? checked : `fields.${checked}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Text

/** The words of a text as FTS5's unicode61 tokenizer (remove_diacritics 2) indexes them. */
export function tokensOf(text: string): string[] {
  return text.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase().match(/[\p{L}\p{N}\p{Co}]+/gu) ?? [];
}

/** A term is a phrase of tokens, its last one a prefix (`"term"*`); a term without a token matches nothing. */
function termMatch(tokens: string[]): Document {
  if (tokens.length === 0) return { _id: { $in: [] } };
  return {
    $and: tokens.map((token, i) => ({ tokens: i === tokens.length - 1 ? { $regex: `^${escapeRegex(token)}` } : token })),
  };
}

/** How often the term occurs in `tokens`: the fewest occurrences of any of its tokens. */
function termFrequency(tokens: string[]): Document {
  if (tokens.length === 0) return { $literal: 0 };
  return {
    $min: tokens.map((token, i) => ({
      $size: {
        $filter: {
          input: '$tokens',
          as: 'token',
          cond: i === tokens.length - 1 ? { $eq: [{ $indexOfCP: ['$$token', token] }, 0] } : { $eq: ['$$token', token] },
        },
      },
    })),
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Vectors

function unit(vector: number[]): number[] {
  const norm = Math.sqrt(dot(vector, vector));
  return norm === 0 ? vector : vector.map((x) => x / norm);
}

function dot(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Inserts `hit` in the sorted `hits`, keeping at most `limit`. */
function keepBest(hits: VectorHit[], hit: VectorHit, limit: number): void {
  if (hits.length === limit && bySimilarity(hit, hits[limit - 1]!) >= 0) return;
  let i = hits.length;
  while (i > 0 && bySimilarity(hit, hits[i - 1]!) < 0) i--;
  hits.splice(i, 0, hit);
  if (hits.length > limit) hits.pop();
}
