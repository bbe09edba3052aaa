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
import type { SqliteHandle } from './database.js';

/**
 * The embedded ReadStore: one table `rm_<collection>` (id, doc JSON) per collection, filters
 * compiled to SQL over json_extract, update operators applied in JavaScript inside one
 * synchronous SQLite transaction. Locking follows database.ts: writes and transactions hold the
 * shared write lock; plain reads wait only while someone holds it.
 */
export function createSqliteReadStore(handle: SqliteHandle): ReadStore {
  const atomically = handle.db.transaction((work: () => unknown) => work());
  const state: State = {
    handle,
    statements: new Map(),
    tables: new Set(),
    atomically: <T>(work: () => T) => atomically(work) as T,
  };
  return storeFor(state, outsideTransaction(handle));
}

type State = {
  handle: SqliteHandle;
  statements: Map<string, Statement>;
  /** Collections whose table is known to exist; cleared on rollback, which may undo a CREATE. */
  tables: Set<string>;
  /** Runs work in a transaction, or in a savepoint when one is already open. */
  atomically<T>(work: () => T): T;
};

/** How a store runs statements: taking the write lock, or inside a transaction that holds it. */
type Mode = {
  read<T>(work: () => T): Promise<T>;
  write<T>(work: () => T): Promise<T>;
  transaction<R>(state: State, work: (tx: ReadStore) => Promise<R>): Promise<R>;
};

type Param = string | number;
type Row = { id: string; doc: string };

const STATEMENT_CACHE_LIMIT = 500;

function outsideTransaction(handle: SqliteHandle): Mode {
  const { writeLock } = handle;
  return {
    // Reading while a transaction awaits between statements would see its uncommitted writes.
    read: async (work) => (writeLock.locked ? writeLock.run(work) : work()),
    write: (work) => writeLock.run(work),
    transaction: (state, work) => writeLock.run(() => runTransaction(state, work)),
  };
}

async function runTransaction<R>(state: State, work: (tx: ReadStore) => Promise<R>): Promise<R> {
  const { db } = state.handle;
  const tx = insideTransaction(state);
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = await work(storeFor(state, tx.mode));
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    state.tables.clear();
    throw error;
  } finally {
    tx.end();
  }
}

function insideTransaction(state: State): { mode: Mode; end: () => void } {
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
    collection: <T extends Doc>(name: string) => collectionFor<T>(state, mode, checkName(name)),
    transaction: (work) => mode.transaction(state, work),
    dropCollection: (name) =>
      mode.write(() => {
        state.handle.db.exec(`DROP TABLE IF EXISTS ${table(checkName(name))}`);
        state.tables.delete(name);
      }),
    listCollections: () =>
      mode.read(() =>
        (prepare(state, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%' ESCAPE '\\'`).all() as {
          name: string;
        }[]).map((row) => row.name.slice(3)),
      ),
    ping: () => mode.read(() => void prepare(state, 'SELECT 1').get()),
    // The connection belongs to whoever opened the handle (the event store shares it).
    close: async () => state.statements.clear(),
  };
  return store;
}

function collectionFor<T extends Doc>(state: State, mode: Mode, name: string): Collection<T> {
  const from = table(name);
  const exists = () => tableExists(state, name);
  const select = (filter: Filter, options: FindOptions): T[] =>
    retryOnStaleSchema(state, () => {
      if (!exists()) return [];
      const params: Param[] = [];
      const sql = `SELECT doc FROM ${from} WHERE ${where(filter, params)}${orderBy(options.sort)}${page(options, params)}`;
      return (prepare(state, sql).all(...params) as Row[]).map((row) => JSON.parse(row.doc) as T);
    });
  // The table is created outside any savepoint, whose rollback would silently undo the CREATE.
  const write = <R>(work: () => R): Promise<R> =>
    mode.write(() =>
      retryOnStaleSchema(state, () => {
        ensureTable(state, name);
        return duplicateKeysAsErrors(name, work);
      }),
    );

  return {
    get: (id) =>
      mode.read(() => retryOnStaleSchema(state, () => {
        const row = exists() ? (prepare(state, `SELECT doc FROM ${from} WHERE id = ?`).get(id) as Row | undefined) : undefined;
        return row ? (JSON.parse(row.doc) as T) : null;
      })),
    find: (filter = {}, options = {}) => mode.read(() => select(filter, options)),
    findOne: (filter, options = {}) => mode.read(() => select(filter, { ...options, limit: 1 })[0] ?? null),
    count: (filter = {}) =>
      mode.read(() =>
        retryOnStaleSchema(state, () => {
          if (!exists()) return 0;
          const params: Param[] = [];
          return (prepare(state, `SELECT count(*) AS n FROM ${from} WHERE ${where(filter, params)}`).get(...params) as { n: number }).n;
        }),
      ),
    insert: (doc) =>
      write(() => void prepare(state, `INSERT INTO ${from} (id, doc) VALUES (?, ?)`).run(checkId(doc), JSON.stringify(doc))),
    replace: (doc) =>
      write(
        () =>
          void prepare(state, `INSERT INTO ${from} (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`).run(
            checkId(doc),
            JSON.stringify(doc),
          ),
      ),
    update: (filter, update, options = {}) =>
      write(() => state.atomically(() => updateDocs(state, from, filter, update, options.upsert === true))),
    delete: (filter) =>
      mode.write(() => {
        if (!exists()) return 0;
        const params: Param[] = [];
        return prepare(state, `DELETE FROM ${from} WHERE ${where(filter, params)}`).run(...params).changes;
      }),
    ensureIndex: (index) => write(() => createIndex(state, name, index)),
  };
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

// ---------------------------------------------------------------------------------------------
// Filters → SQL. Values are parameters; paths are inlined so that expression indexes match.

/** The SQL for a field's value and for its JSON type ('text', 'integer', 'real', 'true', …). */
type Field = { value: string; type: string };

function field(path: string): Field {
  if (!SAFE_NAME.test(path)) throw new Error(`Invalid field path: ${path}`);
  if (path === 'id') return { value: 'id', type: `'text'` };
  return { value: `json_extract(doc, '$.${path}')`, type: `json_type(doc, '$.${path}')` };
}

function where(filter: Filter, params: Param[]): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === '$and' || key === '$or') parts.push(logical(key, value, params));
    else if (key.startsWith('$')) throw new Error(`Unsupported filter operator: ${key}`);
    else parts.push(condition(field(key), value, params));
  }
  return parts.length > 0 ? parts.join(' AND ') : '1';
}

function logical(key: '$and' | '$or', filters: unknown, params: Param[]): string {
  if (!Array.isArray(filters) || filters.length === 0) throw new Error(`${key} needs a non-empty array of filters`);
  const parts = filters.map((filter: Filter) => `(${where(filter, params)})`);
  return `(${parts.join(key === '$and' ? ' AND ' : ' OR ')})`;
}

function condition(f: Field, value: unknown, params: Param[]): string {
  if (!isOperatorObject(value)) return equals(f, value, params);
  const parts = Object.entries(value)
    .filter(([, operand]) => operand !== undefined)
    .map(([operator, operand]) => applyOperator(f, operator, operand, params));
  return parts.join(' AND ');
}

const COMPARISONS: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };

function applyOperator(f: Field, operator: string, operand: unknown, params: Param[]): string {
  const comparison = COMPARISONS[operator];
  if (comparison) return compare(f, comparison, operand, params);
  switch (operator) {
    case '$eq':
      return equals(f, operand, params);
    case '$ne':
      return operand === null ? `${f.value} IS NOT NULL` : negate(equals(f, operand, params));
    case '$in':
      return oneOf(f, operand, params);
    case '$nin':
      return negate(oneOf(f, operand, params));
    case '$exists':
      return `${f.type} IS ${operand ? 'NOT ' : ''}NULL`;
    default:
      throw new Error(`Unsupported filter operator: ${operator}`);
  }
}

/** A missing field makes the comparison NULL; NOT must still count it as "not equal". */
function negate(sql: string): string {
  return `NOT ifnull(${sql}, 0)`;
}

// json_extract turns JSON true/false into 1/0, so every comparison also checks the JSON type,
// as MongoDB compares only within one type. The value comparison comes first so indexes apply.
function equals(f: Field, value: unknown, params: Param[]): string {
  if (value === null) return `${f.value} IS NULL`;
  if (typeof value === 'boolean') return `(${f.value} = ${value ? 1 : 0} AND ${f.type} = '${value}')`;
  const param = checkScalar(value);
  params.push(param);
  return `(${f.value} = ? AND ${sameType(f, param)})`;
}

function compare(f: Field, operator: string, value: unknown, params: Param[]): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error('Ranges compare strings or numbers only');
  params.push(checkScalar(value));
  return `(${f.value} ${operator} ? AND ${sameType(f, value)})`;
}

function oneOf(f: Field, values: unknown, params: Param[]): string {
  if (!Array.isArray(values)) throw new Error('$in and $nin need an array');
  const parts: string[] = [];
  if (values.includes(null)) parts.push(`${f.value} IS NULL`);
  for (const kind of ['string', 'number'] as const) {
    const group = values.filter((value) => typeof value === kind).map(checkScalar);
    if (group.length === 0) continue;
    params.push(...group);
    parts.push(`(${f.value} IN (${group.map(() => '?').join(', ')}) AND ${sameType(f, group[0] as Param)})`);
  }
  const booleans = values.filter((value): value is boolean => typeof value === 'boolean');
  if (booleans.length > 0) parts.push(`${f.type} IN (${booleans.map((value) => `'${value}'`).join(', ')})`);
  if (values.some((value) => value !== null && !['string', 'number', 'boolean'].includes(typeof value))) {
    throw new Error('$in and $nin take scalars only');
  }
  return parts.length > 0 ? `(${parts.join(' OR ')})` : '0';
}

function sameType(f: Field, value: Param): string {
  return typeof value === 'string' ? `${f.type} = 'text'` : `${f.type} IN ('integer', 'real')`;
}

function checkScalar(value: unknown): Param {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return value;
  throw new Error(`Filters compare scalars only, not ${JSON.stringify(value)}`);
}

function isOperatorObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  if (Array.isArray(value) || keys.length === 0 || !keys.every((key) => key.startsWith('$'))) {
    throw new Error(`Equality on objects or arrays is not supported: ${JSON.stringify(value)}`);
  }
  return true;
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

function applyUpdate(doc: Doc, update: Update): Doc {
  for (const [path, value] of Object.entries(update.$set ?? {})) setPath(doc, path, value);
  for (const path of Object.keys(update.$unset ?? {})) unsetPath(doc, path);
  for (const [path, by] of Object.entries(update.$inc ?? {})) {
    const current = getPath(doc, path);
    if (typeof by !== 'number' || (current !== undefined && typeof current !== 'number')) {
      throw new Error(`Cannot apply $inc to ${path}`);
    }
    setPath(doc, path, (current ?? 0) + by);
  }
  for (const [path, value] of Object.entries(update.$push ?? {})) setPath(doc, path, [...arrayAt(doc, path, '$push'), value]);
  for (const [path, value] of Object.entries(update.$pull ?? {})) {
    if (getPath(doc, path) === undefined) continue;
    // JSON text equality is deep equality with key order, like MongoDB's $eq on documents.
    const text = JSON.stringify(value);
    setPath(doc, path, arrayAt(doc, path, '$pull').filter((element) => JSON.stringify(element) !== text));
  }
  return doc;
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
