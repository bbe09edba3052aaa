import { randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import type { IndexEntry, SearchIndex, TextHit, VectorHit } from '../../es/searchIndex.js';
import { byScore, checkEntry, checkTextSearch, checkVector, checkVectorSearch, searchTerms } from '../searchIndexRules.js';
import { compileFieldFilter, type Fields } from './fieldMatcher.js';
import { where, type Param } from './filterSql.js';
import { createVectorCache, normalise, type SavedEntry, type VectorCache, type VectorTuning } from './vectorCache.js';

/**
 * The SQLite SearchIndex. Per index `name`:
 * - `si_<name>` (docid INTEGER PRIMARY KEY, id UNIQUE, text, fields JSON, vector BLOB of
 *   little-endian Float32, or NULL), with an expression index per field name, created the first
 *   time an entry has that field, so that `kinId = ?` and `kinId = ? OR scope = 'shared'` are
 *   index lookups;
 * - `si_<name>:fts`, a contentless FTS5 table (unicode61, diacritics removed) whose rowid is the
 *   docid, kept in step by triggers, so every statement that changes a row changes its text
 *   entry in the same transaction; ranked by BM25;
 * - a row in `search_index_stamps`: a fresh random stamp per write. The in-memory vectors
 *   (vectorCache.ts) remember the stamp they reflect; a search that reads another stamp knows
 *   that another process (`npm run replay`) wrote, and reloads.
 *
 * In-process writes update the loaded vectors in place. Inside a transaction they also record
 * what they replaced, so that a rollback puts the vectors back as they were (see SearchUndo).
 */

/** What the search index needs from the read store's connection. */
export type SqlContext = {
  db: Database;
  prepare(sql: string): Statement;
  /** Runs work in a transaction, or in a savepoint when one is already open. */
  atomically<T>(work: () => T): T;
  /** Forgets prepared statements (another process changed the schema). */
  forgetStatements(): void;
};

export type SearchState = {
  sql: SqlContext;
  /** Whether search_index_stamps is known to exist (it is never dropped, but a rollback may undo its CREATE). */
  stampsTable: boolean;
  tuning: VectorTuning;
  caches: Map<string, VectorCache>;
  /** Indexes whose tables are known to exist; cleared on rollback, which may undo a CREATE. */
  tables: Set<string>;
  /** Per index, the fields known to have an expression index. */
  indexedFields: Map<string, Set<string>>;
  /** Caches still being loaded by `warmSearchIndex`, with the last docid loaded. */
  loading: Map<VectorCache, number>;
};

/** How the search index runs statements; `undo` is set inside a transaction. */
export type SearchMode = {
  read<T>(work: () => T): Promise<T>;
  write<T>(work: () => T): Promise<T>;
  undo?: SearchUndo;
};

/** What a transaction changed in the in-memory vectors, to put back on rollback. */
export type SearchUndo = {
  changed: Map<VectorCache, { name: string; stamp: string | null; entries: Map<string, SavedEntry> }>;
  /** Caches loaded inside the transaction: they may hold its uncommitted rows. */
  loaded: Set<VectorCache>;
};

export function createSearchState(sql: SqlContext, tuning: VectorTuning): SearchState {
  return { sql, tuning, stampsTable: false, caches: new Map(), tables: new Set(), indexedFields: new Map(), loading: new Map() };
}

export const newSearchUndo = (): SearchUndo => ({ changed: new Map(), loaded: new Set() });

export function rollbackSearch(state: SearchState, undo: SearchUndo): void {
  state.stampsTable = false;
  state.tables.clear();
  state.indexedFields.clear();
  for (const [cache, { name, stamp, entries }] of undo.changed) {
    if (state.caches.get(name) !== cache || undo.loaded.has(cache)) continue;
    for (const [id, saved] of entries) cache.restore(id, saved);
    cache.stamp = stamp;
  }
  for (const cache of undo.loaded) {
    for (const [name, current] of state.caches) if (current === cache) discard(state, name);
  }
}

/** Drops the index's tables and forgets its vectors (part of `dropCollection`). Runs under the write lock. */
export function dropSearchIndex(state: SearchState, name: string): void {
  const { db } = state.sql;
  db.exec(`DROP TABLE IF EXISTS ${table(name)}; DROP TABLE IF EXISTS ${ftsTable(name)}`);
  if (stampsTableExists(state)) state.sql.prepare(`DELETE FROM search_index_stamps WHERE name = ?`).run(name);
  state.tables.delete(name);
  state.indexedFields.delete(name);
  discard(state, name);
}

/**
 * Loads an index's vectors (of the given dimension, or of its first vector) and waits for its ANN
 * index. The vectors are read in slices of about `warmSliceBytes`, each when no write holds the
 * connection, so that requests are served meanwhile (start-up calls it without waiting); a vector
 * search that comes first loads the rest at once and scans exactly, so it never sees a part.
 */
export async function warmSearchIndex(state: SearchState, mode: SearchMode, name: string, dimensions?: number): Promise<void> {
  const cache = await mode.read(() =>
    retryOnStaleSchema(state, () => {
      if (!tableExists(state, name)) return undefined;
      const d = dimensions ?? firstDimension(state, name);
      if (d === undefined) return undefined;
      const stamp = readStamp(state, name);
      const cached = state.caches.get(name);
      if (cached && cached.stamp === stamp && cached.dimensions === d) return cached;
      if (cached) discard(state, name);
      return emptyCache(state, mode, name, d, stamp);
    }),
  );
  if (!cache) return;
  const rows = Math.max(1, Math.floor(state.tuning.warmSliceBytes / (cache.dimensions * 4)));
  const current = () => state.caches.get(name) === cache && state.loading.has(cache);
  while (current()) {
    await new Promise((resolve) => setImmediate(resolve));
    await mode.read(() =>
      retryOnStaleSchema(state, () => {
        if (!current()) return;
        // Another process wrote since the cache was made: a search will load it afresh.
        if (readStamp(state, name) !== cache.stamp) return discard(state, name);
        loadRows(state, name, cache, rows);
      }),
    );
  }
  await cache.ready();
}

export function disposeSearchState(state: SearchState): void {
  for (const name of [...state.caches.keys()]) discard(state, name);
}

type Row = { id: string; text: string; fields: string; vector: Buffer | null };
type Change = { id: string; entry: { vector: number[] | null; fields: Fields } | null };

export function searchIndexFor(state: SearchState, mode: SearchMode, name: string): SearchIndex {
  const from = table(name);
  const prepare = (sql: string) => state.sql.prepare(sql);

  /** Runs the statements of one write atomically, then brings the loaded vectors along. */
  const write = <R>(work: () => { result: R; changes: Change[] }, fields: string[] = []): Promise<R> =>
    mode.write(() =>
      retryOnStaleSchema(state, () => {
        // Schema first, outside the savepoint, whose rollback would undo it behind our back.
        ensureTables(state, name);
        ensureFieldIndexes(state, name, fields);
        const { result, changes, before, after } = state.sql.atomically(() => {
          const before = readStamp(state, name);
          const done = work();
          const after = done.changes.length > 0 ? writeStamp(state, name) : before;
          return { ...done, before, after };
        });
        if (changes.length > 0) applyToCache(state, mode.undo, name, before, after, changes);
        return result;
      }),
    );

  const read = <R>(empty: R, work: () => R): Promise<R> =>
    mode.read(() => retryOnStaleSchema(state, () => (tableExists(state, name) ? work() : empty)));

  return {
    upsert: async (entry) => {
      const { id, text, fields, vector } = checkEntry(entry);
      return write(() => {
        prepare(
          `INSERT INTO ${from} (id, text, fields, vector) VALUES (?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET text = excluded.text, fields = excluded.fields, vector = excluded.vector`,
        ).run(id, text, JSON.stringify(fields), toBlob(vector));
        return { result: undefined, changes: [{ id, entry: { vector, fields } }] };
      }, Object.keys(fields));
    },
    setVector: async (id, vector) => {
      checkVector(vector, true);
      return write(() => {
        const row = prepare(`UPDATE ${from} SET vector = ? WHERE id = ? RETURNING fields`).get(toBlob(vector), id) as
          | { fields: string }
          | undefined;
        return { result: undefined, changes: row ? [{ id, entry: { vector, fields: JSON.parse(row.fields) as Fields } }] : [] };
      });
    },
    delete: async (id) =>
      write(() => {
        const { changes } = prepare(`DELETE FROM ${from} WHERE id = ?`).run(id);
        return { result: undefined, changes: changes > 0 ? [{ id, entry: null }] : [] };
      }),
    deleteWhere: async (filter) => {
      const params: Param[] = [];
      const condition = where(filter, params, 'fields');
      return write(() => {
        const rows = prepare(`DELETE FROM ${from} WHERE ${condition} RETURNING id`).all(...params) as { id: string }[];
        return { result: rows.length, changes: rows.map(({ id }) => ({ id, entry: null })) };
      });
    },
    get: async (id) =>
      read(null, () => {
        const row = prepare(`SELECT id, text, fields, vector FROM ${from} WHERE id = ?`).get(id) as Row | undefined;
        return row ? toEntry(row) : null;
      }),
    count: async (filter = {}) => {
      const params: Param[] = [];
      const condition = where(filter, params, 'fields');
      return read(0, () => (prepare(`SELECT count(*) AS n FROM ${from} WHERE ${condition}`).get(...params) as { n: number }).n);
    },
    textSearch: async (query, options) => {
      checkTextSearch(options);
      const params: Param[] = [];
      const condition = where(options.filter ?? {}, params, 'fields');
      const terms = searchTerms(query);
      if (terms.length === 0 || options.limit === 0) return [];
      // Each term a quoted prefix phrase: FTS5 operators and quotes in the query are only words.
      const match = terms.map((term) => `"${term}"*`).join(options.match === 'any' ? ' OR ' : ' AND ');
      // Ordered by rank alone, FTS5 hands rows over best first and the filter stops at `limit`;
      // a second sort key would make SQLite join, filter and sort every match. Ties among the
      // hits are then put in id order, as MongoDB's are (which of tied entries make the cut at
      // `limit` is FTS5's choice).
      const hits = await read([] as TextHit[], () =>
        prepare(
          `SELECT s.id AS id, -f.rank AS score FROM ${ftsTable(name)} AS f JOIN ${from} AS s ON s.docid = f.rowid
           WHERE ${ftsTable(name)} MATCH ? AND ${condition} ORDER BY f.rank LIMIT ?`,
        ).all(match, ...params, options.limit) as TextHit[],
      );
      return hits.sort(byScore<TextHit>((hit) => hit.score));
    },
    vectorSearch: async (vector, options) => {
      checkVectorSearch(vector, options);
      const filter = options.filter && Object.keys(options.filter).length > 0 ? compileFieldFilter(options.filter) : null;
      if (options.limit === 0) return [];
      const query = normalise(vector);
      return read([] as VectorHit[], () =>
        cacheFor(state, mode, name, vector.length).search(query, filter, options.limit, options.minSimilarity ?? -Infinity),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The in-memory vectors

/** The index's vectors of this dimension, loaded now if they are not, or if the table changed since. */
function cacheFor(state: SearchState, mode: SearchMode, name: string, dimensions: number): VectorCache {
  const stamp = readStamp(state, name);
  const cached = state.caches.get(name);
  if (cached && cached.stamp === stamp && cached.dimensions === dimensions) {
    // Still warming in the background: a search cannot answer from a part, so the rest comes now.
    if (state.loading.has(cached)) loadRows(state, name, cached, -1);
    return cached;
  }
  if (cached) discard(state, name);
  const cache = emptyCache(state, mode, name, dimensions, stamp);
  loadRows(state, name, cache, -1);
  return cache;
}

/** A cache of the index's vectors of this dimension with none loaded yet (see loadRows). */
function emptyCache(state: SearchState, mode: SearchMode, name: string, dimensions: number, stamp: string | null): VectorCache {
  const { n } = state.sql.prepare(`SELECT count(*) AS n FROM ${table(name)} WHERE length(vector) = ?`).get(dimensions * 4) as { n: number };
  // Some room to grow: growing copies the whole matrix.
  const cache = createVectorCache(dimensions, stamp, state.tuning, Math.ceil(n * 1.1) + 64);
  state.caches.set(name, cache);
  state.loading.set(cache, -1);
  mode.undo?.loaded.add(cache);
  return cache;
}

/**
 * Loads up to `limit` more vectors (-1: all the rest) in docid order. Writes made meanwhile reach
 * the cache through applyToCache whether their row was loaded yet or not, and loading a row again
 * puts the same vector.
 */
function loadRows(state: SearchState, name: string, cache: VectorCache, limit: number): void {
  const after = state.loading.get(cache);
  if (after === undefined) return;
  const rows = state.sql
    .prepare(`SELECT docid, id, fields, vector FROM ${table(name)} WHERE docid > ? AND length(vector) = ? ORDER BY docid LIMIT ?`)
    .all(after, cache.dimensions * 4, limit) as { docid: number; id: string; fields: string; vector: Buffer }[];
  for (const row of rows) cache.putBytes(row.id, row.vector, JSON.parse(row.fields) as Fields);
  if (limit < 0 || rows.length < limit) state.loading.delete(cache);
  else state.loading.set(cache, rows[rows.length - 1]!.docid);
}

function applyToCache(
  state: SearchState,
  undo: SearchUndo | undefined,
  name: string,
  before: string | null,
  after: string | null,
  changes: Change[],
): void {
  const cache = state.caches.get(name);
  if (!cache) return;
  // Someone else wrote since the cache was loaded: it is stale whatever this write did.
  if (cache.stamp !== before) return discard(state, name);
  if (undo) {
    let record = undo.changed.get(cache);
    if (!record) undo.changed.set(cache, (record = { name, stamp: before, entries: new Map() }));
    for (const { id } of changes) if (!record.entries.has(id)) record.entries.set(id, cache.save(id));
  }
  for (const { id, entry } of changes) {
    // A vector of another dimension (a change of embedding model) is not searchable with this one.
    if (entry?.vector && entry.vector.length === cache.dimensions) cache.put(id, normalise(entry.vector), entry.fields);
    else cache.remove(id);
  }
  cache.stamp = after;
}

function discard(state: SearchState, name: string): void {
  const cache = state.caches.get(name);
  if (!cache) return;
  cache.dispose();
  state.loading.delete(cache);
  state.caches.delete(name);
}

// ---------------------------------------------------------------------------------------------
// Tables

function table(name: string): string {
  return `"si_${name}"`;
}

function ftsTable(name: string): string {
  return `"si_${name}:fts"`;
}

function ensureTables(state: SearchState, name: string): void {
  if (state.tables.has(name)) return;
  const t = table(name);
  const fts = ftsTable(name);
  const trigger = (event: string) => `"si_${name}:${event}"`;
  state.sql.db.exec(`
    CREATE TABLE IF NOT EXISTS search_index_stamps (name TEXT PRIMARY KEY, stamp TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ${t} (
      docid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, fields TEXT NOT NULL, vector BLOB
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS ${fts} USING fts5(
      text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER IF NOT EXISTS ${trigger('insert')} AFTER INSERT ON ${t} BEGIN
      INSERT INTO ${fts} (rowid, text) VALUES (new.docid, new.text);
    END;
    CREATE TRIGGER IF NOT EXISTS ${trigger('delete')} AFTER DELETE ON ${t} BEGIN
      DELETE FROM ${fts} WHERE rowid = old.docid;
    END;
    CREATE TRIGGER IF NOT EXISTS ${trigger('update')} AFTER UPDATE OF text ON ${t} WHEN old.text IS NOT new.text BEGIN
      DELETE FROM ${fts} WHERE rowid = old.docid;
      INSERT INTO ${fts} (rowid, text) VALUES (new.docid, new.text);
    END;
  `);
  state.tables.add(name);
}

function ensureFieldIndexes(state: SearchState, name: string, fields: string[]): void {
  let known = state.indexedFields.get(name);
  if (!known) state.indexedFields.set(name, (known = new Set()));
  for (const field of fields) {
    if (known.has(field)) continue;
    state.sql.db.exec(`CREATE INDEX IF NOT EXISTS "si_${name}:field:${field}" ON ${table(name)} (json_extract(fields, '$.${field}'))`);
    known.add(field);
  }
}

function tableExists(state: SearchState, name: string): boolean {
  if (state.tables.has(name)) return true;
  const found = state.sql.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(`si_${name}`) !== undefined;
  if (found) state.tables.add(name);
  return found;
}

function stampsTableExists(state: SearchState): boolean {
  state.stampsTable ||=
    state.sql.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_index_stamps'`).get() !== undefined;
  return state.stampsTable;
}

function readStamp(state: SearchState, name: string): string | null {
  if (!stampsTableExists(state)) return null;
  const row = state.sql.prepare(`SELECT stamp FROM search_index_stamps WHERE name = ?`).get(name) as { stamp: string } | undefined;
  return row?.stamp ?? null;
}

function writeStamp(state: SearchState, name: string): string {
  const stamp = randomUUID();
  state.sql
    .prepare(`INSERT INTO search_index_stamps (name, stamp) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET stamp = excluded.stamp`)
    .run(name, stamp);
  return stamp;
}

function firstDimension(state: SearchState, name: string): number | undefined {
  const row = state.sql.prepare(`SELECT length(vector) AS bytes FROM ${table(name)} WHERE vector IS NOT NULL LIMIT 1`).get() as
    | { bytes: number }
    | undefined;
  return row ? row.bytes / 4 : undefined;
}

/** Another process may drop an index this one remembers: forget the schema and try once more. */
function retryOnStaleSchema<R>(state: SearchState, work: () => R): R {
  try {
    return work();
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes('no such table')) throw error;
    state.tables.clear();
    state.indexedFields.clear();
    state.sql.forgetStatements();
    return work();
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

function toBlob(vector: number[] | null): Buffer | null {
  if (!vector) return null;
  const values = Float32Array.from(vector);
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

function toEntry(row: Row): IndexEntry {
  let vector: number[] | null = null;
  if (row.vector) {
    // Copied: a Buffer's bytes need not be 4-aligned for a Float32Array view.
    const bytes = new Uint8Array(row.vector);
    vector = Array.from(new Float32Array(bytes.buffer, 0, bytes.length / 4));
  }
  return { id: row.id, text: row.text, fields: JSON.parse(row.fields) as Fields, vector };
}
