import type { Statement } from 'better-sqlite3';
import {
  DuplicateKeyError,
  SAFE_NAME,
  type Collection,
  type Doc,
  type Filter,
  type FindOptions,
  type IndexSpec,
  type ReadStore,
  type Sort,
  type Update,
} from '../../es/readStore.js';
import { checkIndexName } from '../searchIndexRules.js';
import type { SqliteHandle } from './database.js';
import { field, isOperatorObject, where, type Param } from './filterSql.js';
import {
  createSearchState,
  disposeSearchState,
  dropSearchIndex,
  newSearchUndo,
  rollbackSearch,
  searchIndexFor,
  warmSearchIndex,
  type SearchState,
  type SearchUndo,
} from './searchIndex.js';
import { DEFAULT_VECTOR_TUNING, type VectorTuning } from './vectorCache.js';

/**
 * The embedded ReadStore: one table `rm_<collection>` (id, doc JSON) per collection, filters
 * compiled to SQL over json_extract, update operators applied in JavaScript inside one
 * synchronous SQLite transaction. Locking follows database.ts: writes and transactions hold the
 * shared write lock; plain reads wait only while someone holds it.
 */
export function createSqliteReadStore(handle: SqliteHandle, options: SqliteReadStoreOptions = {}): SqliteReadStore {
  const atomically = handle.db.transaction((work: () => unknown) => work());
  const state: State = {
    handle,
    statements: new Map(),
    tables: new Set(),
    uniqueIndexed: new Map(),
    atomically: <T>(work: () => T) => atomically(work) as T,
    search: createSearchState(
      {
        db: handle.db,
        prepare: (sql) => prepare(state, sql),
        atomically: (work) => state.atomically(work),
        forgetStatements: () => state.statements.clear(),
      },
      { ...DEFAULT_VECTOR_TUNING, ...options.vectors },
    ),
  };
  const mode = outsideTransaction(handle);
  return {
    ...storeFor(state, mode),
    warmSearchIndex: (name, dimensions) => warmSearchIndex(state.search, mode, checkIndexName(name), dimensions),
  };
}

export type SqliteReadStoreOptions = {
  /** When vector searches switch from an exact scan to the ANN index (tests make it small). */
  vectors?: Partial<VectorTuning>;
};

export type SqliteReadStore = ReadStore & {
  /**
   * Loads a search index's vectors into memory, in slices between which requests are served, and
   * resolves once its ANN index, if it needs one, is built: until then, vector searches scan
   * exactly (correct, slower), and one that comes before the load is over finishes it first.
   * Start-up calls it without waiting (src/server.ts); without it, the first search loads.
   */
  warmSearchIndex(name: string, dimensions?: number): Promise<void>;
};

type State = {
  handle: SqliteHandle;
  statements: Map<string, Statement>;
  /** Collections whose table is known to exist; cleared on rollback, which may undo a CREATE. */
  tables: Set<string>;
  /** Per collection, whether it has a unique index besides `id` (its writes are then never deferred). */
  uniqueIndexed: Map<string, boolean>;
  /** Runs work in a transaction, or in a savepoint when one is already open. */
  atomically<T>(work: () => T): T;
  search: SearchState;
};

/** How a store runs statements: taking the write lock, or inside a transaction that holds it. */
type Mode = {
  read<T>(work: () => T): Promise<T>;
  write<T>(work: () => T): Promise<T>;
  transaction<R>(state: State, work: (tx: ReadStore) => Promise<R>): Promise<R>;
  /** Inside a transaction: what it changed in the in-memory vectors, undone on rollback. */
  undo?: SearchUndo;
  /** Inside a transaction: documents written by id, not yet in their tables (see PendingWrites). */
  pending?: PendingWrites;
  /** Collection handles already built for this mode (a projection asks for one per event). */
  collections: Map<string, Collection<Doc>>;
};

/**
 * A transaction's writes by id (`replace`, `update` of `{ id }`), kept in memory and written once
 * per document when the transaction commits: a batch of events that changes one document ten times
 * costs one row write instead of ten reads, ten parses and ten writes. A document is kept either as
 * the text `replace` was given or as the object the last update produced. Any other statement on
 * the collection (find, count, delete, insert…) writes its pending documents first, so it sees
 * them; a rollback forgets them. Collections with a unique index besides `id` are written at once,
 * so that a DuplicateKeyError still comes from the call that caused it.
 */
type PendingDoc = { text: string; doc?: undefined } | { doc: Doc; text?: undefined };
type PendingWrites = Map<string, Map<string, PendingDoc>>;

type Row = { id: string; doc: string };

const STATEMENT_CACHE_LIMIT = 500;

function outsideTransaction(handle: SqliteHandle): Mode {
  const { writeLock } = handle;
  return {
    // Reading while a transaction awaits between statements would see its uncommitted writes.
    read: async (work) => (writeLock.locked ? writeLock.run(work) : work()),
    write: (work) => writeLock.run(work),
    transaction: (state, work) => writeLock.run(() => runTransaction(state, work)),
    collections: new Map(),
  };
}

async function runTransaction<R>(state: State, work: (tx: ReadStore) => Promise<R>): Promise<R> {
  const { db } = state.handle;
  const undo = newSearchUndo();
  const tx = insideTransaction(state, undo);
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = await work(storeFor(state, tx.mode));
    flushAll(state, tx.mode.pending!);
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    state.tables.clear();
    state.uniqueIndexed.clear();
    rollbackSearch(state.search, undo);
    throw error;
  } finally {
    tx.end();
  }
}

function insideTransaction(state: State, undo: SearchUndo): { mode: Mode; end: () => void } {
  let open = true;
  const checkOpen = () => {
    if (!open) throw new Error('This transaction is over: use the store, not its tx, after commit');
  };
  const run = async <T>(work: () => T): Promise<T> => {
    checkOpen();
    return work();
  };
  const mode: Mode = {
    read: run,
    write: run,
    undo,
    pending: new Map(),
    collections: new Map(),
    // A nested transaction joins the open one, as it would in a MongoDB session.
    transaction: async (_state, work) => {
      checkOpen();
      return work(storeFor(state, mode));
    },
  };
  return { mode, end: () => (open = false) };
}

function storeFor(state: State, mode: Mode): ReadStore {
  const store: ReadStore = {
    collection: <T extends Doc>(name: string) => {
      let collection = mode.collections.get(name);
      if (!collection) mode.collections.set(name, (collection = collectionFor(state, mode, checkName(name))));
      return collection as unknown as Collection<T>;
    },
    searchIndex: (name) => searchIndexFor(state.search, mode, checkIndexName(name)),
    transaction: (work) => mode.transaction(state, work),
    dropCollection: (name) =>
      mode.write(() => {
        state.handle.db.exec(`DROP TABLE IF EXISTS ${table(checkName(name))}`);
        mode.pending?.delete(name);
        state.tables.delete(name);
        state.uniqueIndexed.delete(name);
        dropSearchIndex(state.search, name);
      }),
    listCollections: () =>
      mode.read(() => {
        if (mode.pending) flushAll(state, mode.pending);
        return (prepare(state, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\'`).all() as {
          name: string;
        }[]).map((row) => row.name.slice(3));
      }),
    ping: () => mode.read(() => void prepare(state, 'SELECT 1').get()),
    // The connection belongs to whoever opened the handle (the event store shares it).
    close: async () => {
      disposeSearchState(state.search);
      state.statements.clear();
    },
  };
  return store;
}

function collectionFor<T extends Doc>(state: State, mode: Mode, name: string): Collection<T> {
  const from = table(name);
  const exists = () => tableExists(state, name);
  /** This transaction's pending documents of this collection, when its writes may be deferred. */
  const deferred = (): Map<string, PendingDoc> | undefined => {
    if (!mode.pending || hasUniqueIndex(state, name)) return undefined;
    let docs = mode.pending.get(name);
    if (!docs) mode.pending.set(name, (docs = new Map()));
    return docs;
  };
  /** Before a statement that must see the pending documents. */
  const flush = () => {
    const docs = mode.pending?.get(name);
    if (docs?.size) flushCollection(state, name, docs);
  };
  const readRow = (id: string) =>
    retryOnStaleSchema(state, () =>
      exists() ? (prepare(state, `SELECT doc FROM ${from} WHERE id = ?`).get(id) as Row | undefined) : undefined,
    );
  const select = (filter: Filter, options: FindOptions): T[] =>
    retryOnStaleSchema(state, () => {
      flush();
      if (!exists()) return [];
      const params: Param[] = [];
      const sql = `SELECT doc FROM ${from} WHERE ${where(filter, params)}${orderBy(options.sort)}${page(options, params)}`;
      return (prepare(state, sql).all(...params) as Row[]).map((row) => JSON.parse(row.doc) as T);
    });
  // The table is created outside any savepoint, whose rollback would silently undo the CREATE.
  const write = <R>(work: () => R): Promise<R> =>
    mode.write(() =>
      retryOnStaleSchema(state, () => {
        flush();
        ensureTable(state, name);
        return duplicateKeysAsErrors(name, work);
      }),
    );

  return {
    get: (id) =>
      mode.read(() => {
        const pending = mode.pending?.get(name)?.get(id);
        if (pending) return JSON.parse(pending.text ?? JSON.stringify(pending.doc)) as T;
        const row = readRow(id);
        return row ? (JSON.parse(row.doc) as T) : null;
      }),
    find: (filter = {}, options = {}) => mode.read(() => select(filter, options)),
    findOne: (filter, options = {}) => mode.read(() => select(filter, { ...options, limit: 1 })[0] ?? null),
    count: (filter = {}) =>
      mode.read(() =>
        retryOnStaleSchema(state, () => {
          flush();
          if (!exists()) return 0;
          const params: Param[] = [];
          return (prepare(state, `SELECT count(*) AS n FROM ${from} WHERE ${where(filter, params)}`).get(...params) as { n: number }).n;
        }),
      ),
    insert: (doc) =>
      write(() => void prepare(state, `INSERT INTO ${from} (id, doc) VALUES (?, ?)`).run(checkId(doc), JSON.stringify(doc))),
    replace: (doc) => {
      const id = checkId(doc);
      return mode.write(() => {
        const docs = deferred();
        if (docs) docs.set(id, { text: JSON.stringify(doc) });
        else retryOnStaleSchema(state, () => {
          ensureTable(state, name);
          duplicateKeysAsErrors(name, () => upsert(state, from).run(id, JSON.stringify(doc)));
        });
      });
    },
    update: (filter, update, options = {}) => {
      const upserting = options.upsert === true;
      const id = idOnly(filter);
      return mode.write(() => {
        const docs = id === undefined ? undefined : deferred();
        if (!docs) {
          return retryOnStaleSchema(state, () => {
            flush();
            ensureTable(state, name);
            return duplicateKeysAsErrors(name, () => state.atomically(() => updateDocs(state, from, filter, update, upserting)));
          });
        }
        const changes = checkUpdate(copyOf(update));
        const pending = docs.get(id!);
        const row = pending ? undefined : readRow(id!);
        if (!pending && !row && !upserting) return 0;
        const doc = pending ? (pending.doc ?? (JSON.parse(pending.text) as Doc)) : row ? (JSON.parse(row.doc) as Doc) : seedFromFilter(filter);
        docs.set(id!, { doc: applyUpdate(doc, changes) });
        return pending || row ? 1 : 0;
      });
    },
    delete: (filter) =>
      mode.write(() => {
        flush();
        if (!exists()) return 0;
        const params: Param[] = [];
        return prepare(state, `DELETE FROM ${from} WHERE ${where(filter, params)}`).run(...params).changes;
      }),
    ensureIndex: (index) => write(() => createIndex(state, name, index)),
  };
}

/** The id of a filter that is exactly `{ id: <string> }`, the only one a pending document can answer. */
function idOnly(filter: Filter): string | undefined {
  let id: unknown;
  for (const key in filter) {
    if (key !== 'id') return undefined;
    id = filter[key];
  }
  return typeof id === 'string' ? id : undefined;
}

const upsert = (state: State, from: string) =>
  prepare(state, `INSERT INTO ${from} (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`);

function flushCollection(state: State, name: string, docs: Map<string, PendingDoc>): void {
  retryOnStaleSchema(state, () => {
    ensureTable(state, name);
    const statement = upsert(state, table(name));
    for (const [id, pending] of docs) statement.run(id, pending.text ?? JSON.stringify(pending.doc));
  });
  docs.clear();
}

function flushAll(state: State, pending: PendingWrites): void {
  for (const [name, docs] of pending) if (docs.size > 0) flushCollection(state, name, docs);
  pending.clear();
}

function hasUniqueIndex(state: State, name: string): boolean {
  let unique = state.uniqueIndexed.get(name);
  if (unique === undefined) {
    unique =
      prepare(state, `SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql LIKE 'CREATE UNIQUE%'`).get(`rm_${name}`) !==
      undefined;
    state.uniqueIndexed.set(name, unique);
  }
  return unique;
}

function updateDocs(state: State, from: string, filter: Filter, update: Update, upsert: boolean): number {
  const changes = checkUpdate(json(update));
  const params: Param[] = [];
  const rows = prepare(state, `SELECT id, doc FROM ${from} WHERE ${where(filter, params)}`).all(...params) as Row[];
  const save = prepare(state, `UPDATE ${from} SET doc = ? WHERE id = ?`);
  for (const row of rows) save.run(JSON.stringify(applyUpdate(JSON.parse(row.doc) as Doc, changes)), row.id);
  if (rows.length === 0 && upsert) {
    const doc = applyUpdate(seedFromFilter(filter), changes);
    prepare(state, `INSERT INTO ${from} (id, doc) VALUES (?, ?)`).run(doc.id, JSON.stringify(doc));
  }
  return rows.length;
}

function createIndex(state: State, name: string, index: IndexSpec): void {
  const fields = Object.entries(index.fields);
  if (fields.length === 0) throw new Error('An index needs at least one field');
  if (fields.length === 1 && fields[0]?.[0] === 'id') return; // the primary key already is one
  const columns = fields.map(([path, dir]) => `${field(path).value} ${direction(dir)}`).join(', ');
  // Index names are global in SQLite and quoted, so ':' and ',' keep them unambiguous.
  const indexName = `${index.unique ? 'ux' : 'ix'}_${name}:${fields.map(([path, dir]) => (dir === -1 ? `-${path}` : path)).join(',')}`;
  state.handle.db.exec(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS "${indexName}" ON ${table(name)} (${columns})`);
  if (index.unique) state.uniqueIndexed.set(name, true);
}

// ---------------------------------------------------------------------------------------------
// Tables and statements

function table(name: string): string {
  return `"rm_${name}"`;
}

function checkName(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`Invalid collection name: ${name}`);
  return name;
}

/**
 * Another process (`npm run replay`) may drop a table this one remembers: forget what was cached
 * about the schema and run the work once more.
 */
function retryOnStaleSchema<R>(state: State, work: () => R): R {
  try {
    return work();
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes('no such table')) throw error;
    state.tables.clear();
    state.uniqueIndexed.clear();
    state.statements.clear();
    return work();
  }
}

function ensureTable(state: State, name: string): void {
  if (state.tables.has(name)) return;
  state.handle.db.exec(`CREATE TABLE IF NOT EXISTS ${table(name)} (id TEXT PRIMARY KEY, doc TEXT NOT NULL)`);
  state.tables.add(name);
}

/** Reads never create tables, so that listCollections matches MongoDB's. */
function tableExists(state: State, name: string): boolean {
  if (state.tables.has(name)) return true;
  const found = prepare(state, `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(`rm_${name}`) !== undefined;
  if (found) state.tables.add(name);
  return found;
}

function prepare(state: State, sql: string): Statement {
  let statement = state.statements.get(sql);
  if (!statement) {
    // Filters with $in lists of varying length make many distinct texts; keep the cache bounded.
    if (state.statements.size >= STATEMENT_CACHE_LIMIT) state.statements.clear();
    statement = state.handle.db.prepare(sql);
    state.statements.set(sql, statement);
  }
  return statement;
}

function duplicateKeysAsErrors<R>(collection: string, work: () => R): R {
  try {
    return work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new DuplicateKeyError(collection, (error as Error).message);
    }
    throw error;
  }
}

function checkId(doc: Doc): string {
  if (typeof doc.id !== 'string') throw new Error('A document needs a string id');
  return doc.id;
}

function orderBy(sort: Sort | undefined): string {
  const fields = Object.entries(sort ?? {});
  if (fields.length === 0) return '';
  return ` ORDER BY ${fields.map(([path, dir]) => `${field(path).value} ${direction(dir)}`).join(', ')}`;
}

function direction(dir: number): string {
  if (dir === 1) return 'ASC';
  if (dir === -1) return 'DESC';
  throw new Error(`A sort or index direction is 1 or -1, not ${dir}`);
}

function page({ limit, skip }: FindOptions, params: Param[]): string {
  if (limit === undefined && !skip) return '';
  for (const n of [limit, skip]) {
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new Error('limit and skip are integers ≥ 0');
  }
  params.push(limit ?? -1, skip ?? 0);
  return ' LIMIT ? OFFSET ?';
}

// ---------------------------------------------------------------------------------------------
// Update operators, applied in JavaScript with MongoDB's semantics.

type Json = Record<string, unknown>;

function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * What `json(update)` gives, copying only the values that are objects: a pending document must not
 * share objects with its caller (an event's data, read by every projection of a batch).
 */
function copyOf(update: Update): Update {
  const copy: Record<string, Json> = {};
  for (const [operator, fields] of Object.entries(update)) {
    if (fields === undefined) continue;
    const values: Json = {};
    for (const [path, value] of Object.entries(fields as Json)) {
      if (value === undefined) continue;
      values[path] = typeof value === 'object' && value !== null ? json(value) : value;
    }
    copy[operator] = values;
  }
  return copy as Update;
}

const UPDATE_OPERATORS = ['$set', '$unset', '$inc', '$push', '$pull'] as const;

/** Rejects what MongoDB rejects: unknown operators, two operators on one path, and changing id. */
function checkUpdate(update: Update): Update {
  const paths: string[] = [];
  for (const [operator, fields] of Object.entries(update)) {
    if (!(UPDATE_OPERATORS as readonly string[]).includes(operator)) throw new Error(`Unsupported update operator: ${operator}`);
    for (const path of Object.keys(fields as Json)) {
      if (!SAFE_NAME.test(path)) throw new Error(`Invalid field path: ${path}`);
      if (path === 'id' || path.startsWith('id.')) throw new Error('An update cannot change id');
      if (paths.some((other) => other === path || other.startsWith(`${path}.`) || path.startsWith(`${other}.`))) {
        throw new Error(`Updating the path '${path}' would create a conflict`);
      }
      paths.push(path);
    }
  }
  return update;
}

/**
 * Works out every change against the document as it is, then makes them: an update that fails
 * leaves the document untouched (a transaction's pending document is changed in place). The paths
 * of one update never overlap (checkUpdate), so working them out first gives what applying them
 * one by one would.
 */
function applyUpdate(doc: Doc, update: Update): Doc {
  const sets: [string, unknown][] = Object.entries(update.$set ?? {});
  for (const [path, by] of Object.entries(update.$inc ?? {})) {
    const current = getPath(doc, path);
    if (typeof by !== 'number' || (current !== undefined && typeof current !== 'number')) {
      throw new Error(`Cannot apply $inc to ${path}`);
    }
    sets.push([path, ((current as number | undefined) ?? 0) + by]);
  }
  for (const [path, value] of Object.entries(update.$push ?? {})) sets.push([path, [...arrayAt(doc, path, '$push'), value]]);
  for (const [path, value] of Object.entries(update.$pull ?? {})) {
    if (getPath(doc, path) === undefined) continue;
    // JSON text equality is deep equality with key order, like MongoDB's $eq on documents.
    const text = JSON.stringify(value);
    sets.push([path, arrayAt(doc, path, '$pull').filter((element) => JSON.stringify(element) !== text)]);
  }
  for (const [path] of sets) checkSettable(doc, path);
  for (const [path, value] of sets) setPath(doc, path, value);
  for (const path of Object.keys(update.$unset ?? {})) unsetPath(doc, path);
  return doc;
}

/** Throws what setPath would throw, without changing anything. */
function checkSettable(doc: Json, path: string): void {
  if (!path.includes('.')) return;
  const keys = path.split('.');
  const last = keys.pop() as string;
  let current: unknown = doc;
  for (const key of keys) {
    const next: unknown = (current as Json)[key];
    if (next === undefined) return;
    if (!isPlainObject(next)) throw new Error(`Cannot create field '${last}' in ${path}: ${key} is not an object`);
    current = next;
  }
}

function arrayAt(doc: Doc, path: string, operator: string): unknown[] {
  const current = getPath(doc, path);
  if (current === undefined) return [];
  if (!Array.isArray(current)) throw new Error(`Cannot apply ${operator} to the non-array ${path}`);
  return current;
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getPath(doc: Json, path: string): unknown {
  let current: unknown = doc;
  for (const key of path.split('.')) {
    if (!isPlainObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

function setPath(doc: Json, path: string, value: unknown): void {
  if (!path.includes('.')) {
    doc[path] = value;
    return;
  }
  const keys = path.split('.');
  const last = keys.pop() as string;
  let current = doc;
  for (const key of keys) {
    if (current[key] === undefined) current[key] = {};
    const next = current[key];
    if (!isPlainObject(next)) throw new Error(`Cannot create field '${last}' in ${path}: ${key} is not an object`);
    current = next;
  }
  current[last] = value;
}

function unsetPath(doc: Json, path: string): void {
  const keys = path.split('.');
  const last = keys.pop() as string;
  const parent = keys.length > 0 ? getPath(doc, keys.join('.')) : doc;
  if (isPlainObject(parent)) delete parent[last];
}

/** MongoDB builds an upserted document from the filter's equality conditions; so does this. */
function seedFromFilter(filter: Filter): Doc {
  const seed: Json = {};
  collectEqualities(filter, seed);
  if (typeof seed.id !== 'string') throw new Error('An upsert needs an id equality in its filter');
  return seed as Doc;
}

function collectEqualities(filter: Filter, seed: Json): void {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) value.forEach((inner: Filter) => collectEqualities(inner, seed));
    if (key.startsWith('$') || value === undefined) continue;
    if (!isOperatorObject(value)) setPath(seed, key, value);
    else if (value.$eq !== undefined) setPath(seed, key, value.$eq);
  }
}
