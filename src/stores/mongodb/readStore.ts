import {
  MongoClient,
  type ClientSession,
  type Collection as MongoCollection,
  type Db,
  type Document,
  type UpdateFilter,
} from 'mongodb';
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
import { checkPath, toMongoFilter } from './filters.js';
import { forgetSearchIndex, searchCollection, searchIndexFor, type SearchContext } from './searchIndex.js';

/**
 * The MongoDB ReadStore: one collection per read-model collection, documents stored with
 * `_id = id` (and `id` kept, so a document reads back as written). Filters pass through with `id`
 * renamed to `_id`. Values go through JSON on the way in, so that a Date, an undefined or a class
 * instance is stored exactly as the SQLite adapter would store it.
 */
export async function createMongoReadStore(uri: string, dbName?: string): Promise<ReadStore> {
  const client = new MongoClient(uri, { ignoreUndefined: true });
  await client.connect();
  const db = client.db(dbName);
  return storeFor({ client, db, search: { db, ensured: new Map() } }, undefined);
}

type Context = { client: MongoClient; db: Db; search: SearchContext };
type Stored = { _id: string } & Document;

function storeFor(context: Context, session: ClientSession | undefined): ReadStore {
  const store: ReadStore = {
    collection: <T extends Doc>(name: string) => collectionFor<T>(context, checkName(name), session),
    searchIndex: (name) => searchIndexFor(context.search, checkIndexName(name), session),
    // MongoDB has no nested transactions: a nested one joins the open session.
    transaction: (work) => (session ? work(store) : runTransaction(context, work)),
    dropCollection: async (name) => {
      await context.db.collection(checkName(name)).drop();
      await context.db.collection(searchCollection(name)).drop();
      forgetSearchIndex(context.search, name);
    },
    listCollections: async () =>
      (await context.db.listCollections({}, { nameOnly: true }).toArray())
        .map((info) => info.name)
        .filter((name) => !name.startsWith('system.') && !name.startsWith(searchCollection(''))),
    ping: async () => {
      await context.db.command({ ping: 1 });
    },
    close: () => context.client.close(),
  };
  return store;
}

async function runTransaction<R>(context: Context, work: (tx: ReadStore) => Promise<R>): Promise<R> {
  const session = context.client.startSession();
  try {
    let result: { value: R } | undefined;
    // withTransaction retries `work` on transient errors, so it may run more than once.
    await session.withTransaction(async () => {
      result = { value: await work(storeFor(context, session)) };
    });
    if (!result) throw new Error('The transaction did not run');
    return result.value;
  } finally {
    await session.endSession();
  }
}

function collectionFor<T extends Doc>(context: Context, name: string, session: ClientSession | undefined): Collection<T> {
  const collection = context.db.collection<Stored>(name);
  const options = session ? { session } : {};
  const find = async (filter: Filter, { sort, limit, skip }: FindOptions): Promise<T[]> => {
    checkPage(limit, skip);
    if (limit === 0) return []; // MongoDB reads limit 0 as "no limit"
    const cursor = collection.find(toMongoFilter(filter), {
      ...options,
      projection: { _id: 0 },
      ...(sort ? { sort: toMongoSort(sort) } : {}),
      ...(skip ? { skip } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    return (await cursor.toArray()) as unknown as T[];
  };
  const writing = async <R>(work: () => Promise<R>): Promise<R> => {
    try {
      return await work();
    } catch (error) {
      if ((error as { code?: unknown }).code === 11000) throw new DuplicateKeyError(name, (error as Error).message);
      throw error;
    }
  };

  return {
    get: async (id) => (await collection.findOne({ _id: id }, { ...options, projection: { _id: 0 } })) as T | null,
    find: (filter = {}, findOptions = {}) => find(filter, findOptions),
    findOne: async (filter, findOptions = {}) => (await find(filter, { ...findOptions, limit: 1 }))[0] ?? null,
    count: (filter = {}) => collection.countDocuments(toMongoFilter(filter), options),
    insert: (doc) => writing(async () => void (await collection.insertOne({ ...json(doc), _id: checkId(doc) }, options))),
    replace: (doc) =>
      writing(async () => void (await collection.replaceOne({ _id: checkId(doc) }, json(doc), { ...options, upsert: true }))),
    update: (filter, update, updateOptions = {}) =>
      writing(() => updateDocs(collection, filter, update, updateOptions.upsert === true, options)),
    delete: async (filter) => (await collection.deleteMany(toMongoFilter(filter), options)).deletedCount,
    // Index builds are not transactional in MongoDB, so they run outside the session.
    ensureIndex: (index) => writing(() => createIndex(collection, index)),
  };
}

async function updateDocs(
  collection: MongoCollection<Stored>,
  filter: Filter,
  update: Update,
  upsert: boolean,
  options: { session?: ClientSession },
): Promise<number> {
  const operators = toMongoUpdate(json(update));
  const mongoFilter = toMongoFilter<Stored>(filter);
  // The upserted document gets _id from the filter; `id` has to be added explicitly.
  if (upsert) operators.$setOnInsert = { id: upsertId(filter) };
  if (Object.keys(operators).length === 0) return collection.countDocuments(mongoFilter, options);
  const result = await collection.updateMany(mongoFilter, operators, { ...options, upsert });
  return result.matchedCount;
}

async function createIndex(collection: MongoCollection<Stored>, index: IndexSpec): Promise<void> {
  const keys = toMongoSort(index.fields);
  const fields = Object.keys(keys);
  if (fields.length === 0) throw new Error('An index needs at least one field');
  if (fields.length === 1 && fields[0] === '_id') return;
  // SQLite's unique indexes ignore rows missing a field (NULLs are distinct); MongoDB's would
  // index them as null and allow only one, unless the index is partial.
  const partial = Object.fromEntries(fields.filter((f) => f !== '_id').map((f) => [f, { $exists: true }]));
  await collection.createIndex(keys, index.unique ? { unique: true, partialFilterExpression: partial } : {});
}

// ---------------------------------------------------------------------------------------------
// Translation, with the same checks as the SQLite adapter so that both reject the same input.

const UPDATE_OPERATORS = new Set(['$set', '$unset', '$inc', '$push', '$pull']);

function checkName(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`Invalid collection name: ${name}`);
  return name;
}

function checkId(doc: Doc): string {
  if (typeof doc.id !== 'string') throw new Error('A document needs a string id');
  return doc.id;
}

function checkPage(limit: number | undefined, skip: number | undefined): void {
  for (const n of [limit, skip]) {
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new Error('limit and skip are integers ≥ 0');
  }
}

function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function toMongoSort(sort: Sort): Record<string, 1 | -1> {
  const result: Record<string, 1 | -1> = {};
  for (const [path, dir] of Object.entries(sort)) {
    if (dir !== 1 && dir !== -1) throw new Error(`A sort or index direction is 1 or -1, not ${String(dir)}`);
    result[checkPath(path)] = dir;
  }
  return result;
}

function toMongoUpdate(update: Update): UpdateFilter<Stored> {
  const result: Document = {};
  for (const [operator, fields] of Object.entries(update) as [string, Record<string, unknown>][]) {
    if (!UPDATE_OPERATORS.has(operator)) throw new Error(`Unsupported update operator: ${operator}`);
    const paths = Object.keys(fields);
    if (paths.length === 0) continue;
    for (const path of paths) {
      checkPath(path);
      if (path === 'id' || path.startsWith('id.')) throw new Error('An update cannot change id');
    }
    result[operator] = operator === '$pull' ? pullByEquality(fields) : fields;
  }
  return result as UpdateFilter<Stored>;
}

/** A document given to $pull is a query on the elements (it would also pull elements with extra
 * fields); $eq makes it whole-value equality, as the port promises. */
function pullByEquality(fields: Record<string, unknown>): Record<string, unknown> {
  const isDocument = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
  return Object.fromEntries(Object.entries(fields).map(([path, value]) => [path, isDocument(value) ? { $eq: value } : value]));
}

function upsertId(filter: Filter): string {
  for (const [key, value] of Object.entries(filter)) {
    if (key === 'id' && typeof value === 'string') return value;
    if (key === 'id' && typeof value === 'object' && value !== null && '$eq' in value && typeof value.$eq === 'string') {
      return value.$eq;
    }
    if (key === '$and' && Array.isArray(value)) {
      for (const inner of value as Filter[]) {
        const id = tryUpsertId(inner);
        if (id) return id;
      }
    }
  }
  throw new Error('An upsert needs an id equality in its filter');
}

function tryUpsertId(filter: Filter): string | undefined {
  try {
    return upsertId(filter);
  } catch {
    return undefined;
  }
}
