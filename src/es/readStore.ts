import type { SearchIndex } from './searchIndex.js';
/**
 * The ReadStore port: named collections of JSON documents keyed by `id`. Adapters:
 * src/stores/sqlite/readStore.ts (embedded default) and src/stores/mongodb/readStore.ts. Both must
 * pass tests/conformance/readStore.test.ts.
 *
 * Filters are a small Mongo-style subset: field equality (scalars and null; null also matches a
 * missing field), $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists, $and, $or, and dotted paths.
 * Equality against a field that holds an array is not part of the subset.
 */

export type Doc = { id: string } & Record<string, unknown>;

export type Scalar = string | number | boolean | null;
export type FieldCondition =
  | Scalar
  | {
      $eq?: Scalar;
      $ne?: Scalar;
      $in?: Scalar[];
      $nin?: Scalar[];
      $gt?: string | number;
      $gte?: string | number;
      $lt?: string | number;
      $lte?: string | number;
      $exists?: boolean;
    };
export type Filter = { $and?: Filter[]; $or?: Filter[] } & { [path: string]: FieldCondition | Filter[] | undefined };

export type Sort = Record<string, 1 | -1>;
export type FindOptions = { sort?: Sort; limit?: number; skip?: number };

export type Update = {
  $set?: Record<string, unknown>;
  $unset?: Record<string, true | 1 | ''>;
  $inc?: Record<string, number>;
  $push?: Record<string, unknown>;
  /** Removes every array element equal (deep equality) to the given value. */
  $pull?: Record<string, unknown>;
};

export type IndexSpec = { fields: Sort; unique?: boolean };

export interface Collection<T extends Doc = Doc> {
  get(id: string): Promise<T | null>;
  find(filter?: Filter, options?: FindOptions): Promise<T[]>;
  findOne(filter: Filter, options?: Pick<FindOptions, 'sort'>): Promise<T | null>;
  count(filter?: Filter): Promise<number>;
  /** Throws DuplicateKeyError when the id (or a unique index) is taken. */
  insert(doc: T): Promise<void>;
  /** Replaces the whole document with this id, creating it when absent. */
  replace(doc: T): Promise<void>;
  /**
   * Applies the update to every matching document; returns how many matched. With `upsert` and no
   * match, inserts a document built from the filter's equality fields (which must include `id`)
   * with the update applied.
   */
  update(filter: Filter, update: Update, options?: { upsert?: boolean }): Promise<number>;
  /** Deletes every matching document; returns how many. */
  delete(filter: Filter): Promise<number>;
  ensureIndex(index: IndexSpec): Promise<void>;
}

export interface ReadStore {
  collection<T extends Doc = Doc>(name: string): Collection<T>;
  /** A full-text and vector index (see ./searchIndex.ts); writes through `tx` join the transaction. */
  searchIndex(name: string): SearchIndex;
  /**
   * Runs `work` atomically: every write made through `tx` commits together or not at all, and is
   * invisible to readers outside until commit. Writes must go through `tx`, not `this`.
   */
  transaction<R>(work: (tx: ReadStore) => Promise<R>): Promise<R>;
  /** Removes a collection and its indexes (used when a projection is rebuilt); also a search index of that name. */
  dropCollection(name: string): Promise<void>;
  listCollections(): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class DuplicateKeyError extends Error {
  readonly code = 'DUPLICATE_KEY';
  constructor(readonly collection: string, detail: string) {
    super(`Duplicate key in ${collection}: ${detail}`);
    this.name = 'DuplicateKeyError';
  }
}

/** Collection names and field paths are inlined into SQL by the SQLite adapter, so both are
 * restricted to this alphabet (checked by every adapter, so that behaviour is the same). */
export const SAFE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
