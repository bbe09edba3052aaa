import usearch, { type Index as AnnIndex } from 'usearch';
import type { VectorHit } from '../../es/searchIndex.js';
import type { FieldValue, Fields, FilterTree } from './fieldMatcher.js';

/**
 * The vectors of one search index in memory, for one dimension: a contiguous Float32Array of
 * normalised vectors (so cosine similarity is a dot product), the ids of its slots, their fields
 * by column (each field's distinct values numbered, one Int32Array of codes per field, so that a
 * filter costs a table lookup per slot rather than a walk over objects), and, once an exact scan
 * would cost too much, an approximate nearest-neighbour index (usearch: HNSW over int8-quantised
 * copies) whose candidates are re-ranked exactly from the matrix.
 *
 * An exact scan in JavaScript costs about 0.6 ns per multiply-add on this 2-core machine when it
 * is otherwise idle (100k × 384 ≈ 24 ms, 100k × 1536 ≈ 90 ms). So a search scans exactly while
 * the vectors it must look at (those passing its filter) cost less than `exactScanBudget`; above that
 * it asks the ANN index for enough candidates to survive the filter, and scans exactly when too
 * few do. Hits are always ordered by their exact similarity: the ANN index only chooses which
 * vectors are looked at.
 *
 * The ANN index is built in the background, in slices of about 20 ms so that the event loop
 * keeps serving; until it is complete, searches scan exactly.
 */

export type VectorTuning = {
  /** Largest exact scan, in multiply-adds (vectors × dimensions), before the ANN index is used. */
  exactScanBudget: number;
  /** Vector bytes read from SQLite per slice when an index warms in the background. */
  warmSliceBytes: number;
};

// ≈ 5 ms of sequential scanning on this machine when idle; slices of a few milliseconds of reading.
export const DEFAULT_VECTOR_TUNING: VectorTuning = { exactScanBudget: 8_000_000, warmSliceBytes: 4_000_000 };

// A filtered scan reads scattered vectors, which costs about three times as much per
// multiply-add as streaming through the whole matrix (measured here at 15% of 100k × 384).
const SCATTERED_SCAN_COST = 3;

/** A copy of one entry as the cache holds it (null: absent), to undo a rolled-back write. */
export type SavedEntry = { vector: Float32Array; fields: Fields } | null;

export type VectorCache = {
  readonly dimensions: number;
  /** The search_index_stamps value of the table state this cache holds. */
  stamp: string | null;
  size(): number;
  /** Adds or replaces an entry; `vector` is normalised (see `normalise`). */
  put(id: string, vector: Float32Array, fields: Fields): void;
  /** Adds an entry from the little-endian Float32 bytes stored in SQLite. */
  putBytes(id: string, bytes: Uint8Array, fields: Fields): void;
  remove(id: string): void;
  save(id: string): SavedEntry;
  restore(id: string, saved: SavedEntry): void;
  /** Best first by exact cosine similarity; `query` is normalised. */
  search(query: Float32Array, filter: FilterTree | null, limit: number, minSimilarity: number): VectorHit[];
  /** Resolves once searches no longer wait for an ANN index to be built. */
  ready(): Promise<void>;
  dispose(): void;
};

/** Unit length, in Float32 (a zero vector stays zero: its similarity to anything is 0). */
export function normalise(vector: ArrayLike<number>): Float32Array {
  const result = Float32Array.from(vector);
  normaliseInPlace(result, 0, result.length);
  return result;
}

function normaliseInPlace(values: Float32Array, start: number, length: number): void {
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += values[i]! * values[i]!;
  if (sum === 0) return;
  const scale = 1 / Math.sqrt(sum);
  for (let i = start; i < start + length; i++) values[i]! *= scale;
}

// ANN parameters: graph degree 16, construction beam 64. A search asks for ten candidates per
// hit (at least 100), more under a selective filter, and scans exactly rather than ask for more
// than 4096.
const ANN_CONNECTIVITY = 16;
const ANN_EXPANSION = 64;
const ANN_CANDIDATES_PER_HIT = 10;
const ANN_MIN_CANDIDATES = 100;
const ANN_MAX_CANDIDATES = 4096;
const BUILD_SLICE_MS = 20;

/** One field's values by slot: `codes[slot]` numbers the value in `values` (0: no such field). */
type Column = { codes: Int32Array; values: FieldValue[]; codeOf: Map<FieldValue, number> };

type Ann = {
  index: AnnIndex;
  /** Slots below this one are in the index (kept up to date by writes); the rest are still to add. */
  builtUpTo: number;
  complete: boolean;
  timer: NodeJS.Immediate | undefined;
  slotsPerAdd: number;
};

export function createVectorCache(dimensions: number, stamp: string | null, tuning: VectorTuning, capacity = 0): VectorCache {
  const d = dimensions;
  let matrix = new Float32Array(Math.max(capacity, 16) * d);
  /** 1 for a slot holding an entry (a typed array: the scan's hot loop reads it). */
  let isLive = new Uint8Array(matrix.length / d);
  const ids: (string | undefined)[] = [];
  const columns = new Map<string, Column>();
  const slotOf = new Map<string, number>();
  const free: number[] = [];
  /** Slots ever used (live or free): the scan's upper bound. */
  let high = 0;
  let ann: Ann | null = null;
  let waiters: (() => void)[] = [];

  const live = () => slotOf.size;

  function slotFor(id: string): number {
    const existing = slotOf.get(id);
    if (existing !== undefined) return existing;
    const slot = free.pop() ?? high++;
    if ((slot + 1) * d > matrix.length) {
      const slots = Math.ceil(Math.max(slot + 1, (matrix.length / d) * 1.5));
      const grown = new Float32Array(slots * d);
      grown.set(matrix);
      matrix = grown;
      isLive = grow(isLive, slots);
      for (const column of columns.values()) column.codes = grow(column.codes, slots);
    }
    slotOf.set(id, slot);
    ids[slot] = id;
    isLive[slot] = 1;
    return slot;
  }

  function stored(slot: number, fields: Fields): void {
    for (const column of columns.values()) column.codes[slot] = 0;
    for (const [key, value] of Object.entries(fields)) {
      let column = columns.get(key);
      if (!column) columns.set(key, (column = { codes: new Int32Array(isLive.length), values: [undefined], codeOf: new Map() }));
      let code = column.codeOf.get(value);
      if (code === undefined) {
        code = column.values.push(value) - 1;
        column.codeOf.set(value, code);
      }
      column.codes[slot] = code;
    }
    // Once the index is complete, new slots go straight into it; before, the build reaches them.
    if (ann && (slot < ann.builtUpTo || ann.complete)) {
      ann.index.remove(BigInt(slot));
      ann.index.add(BigInt(slot), matrix.subarray(slot * d, (slot + 1) * d), 1);
    }
    if (!ann && live() * d > tuning.exactScanBudget) startAnn();
  }

  // -------------------------------------------------------------------------------------------
  // The background build

  function startAnn(): void {
    const index = new usearch.Index({
      metric: usearch.MetricKind.IP,
      dimensions: d,
      connectivity: ANN_CONNECTIVITY,
      quantization: usearch.ScalarKind.I8,
      expansion_add: ANN_EXPANSION,
      expansion_search: ANN_EXPANSION,
      multi: false,
    });
    ann = { index, builtUpTo: 0, complete: false, timer: undefined, slotsPerAdd: 16 };
    schedule(ann);
  }

  function schedule(building: Ann): void {
    building.timer = setImmediate(() => buildSlice(building));
    // A build keeps the process alive only for someone waiting on it (see `ready`).
    if (waiters.length === 0) building.timer.unref();
  }

  function buildSlice(building: Ann): void {
    if (ann !== building) return;
    const started = performance.now();
    while (building.builtUpTo < high && performance.now() - started < BUILD_SLICE_MS) {
      const from = building.builtUpTo;
      const to = Math.min(high, from + building.slotsPerAdd);
      const slots: number[] = [];
      for (let slot = from; slot < to; slot++) if (ids[slot] !== undefined) slots.push(slot);
      if (slots.length > 0) {
        const keys = BigUint64Array.from(slots, (slot) => BigInt(slot));
        const vectors = new Float32Array(slots.length * d);
        slots.forEach((slot, i) => vectors.set(matrix.subarray(slot * d, (slot + 1) * d), i * d));
        const before = performance.now();
        building.index.add(keys, vectors, 0);
        // Aim at about half a slice per call, whatever the dimension and the machine.
        const perSlot = (performance.now() - before) / slots.length;
        building.slotsPerAdd = Math.max(1, Math.min(4096, Math.round(BUILD_SLICE_MS / 2 / Math.max(perSlot, 1e-3))));
      }
      building.builtUpTo = to;
    }
    if (building.builtUpTo < high) return schedule(building);
    building.complete = true;
    building.timer = undefined;
    wake();
  }

  function wake(): void {
    const waiting = waiters;
    waiters = [];
    for (const resolve of waiting) resolve();
  }

  // -------------------------------------------------------------------------------------------
  // Searching

  /** 1 for each slot (below `high`) whose fields pass the filter, live or not. */
  function evaluate(node: FilterTree): Uint8Array {
    if (node.kind === 'leaf') return evaluateLeaf(node.path, node.test);
    const [first, ...rest] = node.children;
    if (!first) return new Uint8Array(high).fill(1); // an empty filter matches everything
    const result = evaluate(first);
    for (const child of rest) {
      const other = evaluate(child);
      if (node.kind === 'and') for (let slot = 0; slot < high; slot++) result[slot]! &= other[slot]!;
      else for (let slot = 0; slot < high; slot++) result[slot]! |= other[slot]!;
    }
    return result;
  }

  function evaluateLeaf(path: string, test: (value: FieldValue) => boolean): Uint8Array {
    const result = new Uint8Array(high);
    if (path === 'id') {
      for (let slot = 0; slot < high; slot++) result[slot] = ids[slot] !== undefined && test(ids[slot]) ? 1 : 0;
      return result;
    }
    // Fields are flat: a dotted path, or a field no entry has, is missing everywhere.
    const column = columns.get(path);
    if (!column) return result.fill(test(undefined) ? 1 : 0);
    // The test runs once per distinct value; the slots only look their answer up.
    const answers = Uint8Array.from(column.values, (value) => (test(value) ? 1 : 0));
    const { codes } = column;
    for (let slot = 0; slot < high; slot++) result[slot] = answers[codes[slot]!]!;
    return result;
  }

  function dot(slot: number, q: Float32Array): number {
    return dotAt(matrix, slot * d, q, d);
  }

  /** Scores every live slot, or only those listed. */
  function exactScan(q: Float32Array, listed: Int32Array | null, top: TopK): void {
    // Locals, so that the hot loops read neither the closure nor a reassignable matrix.
    const m = matrix;
    if (listed) {
      for (let i = 0; i < listed.length; i++) {
        const slot = listed[i]!;
        const score = dotAt(m, slot * d, q, d);
        if (score >= top.threshold) top.offer(slot, score);
      }
      return;
    }
    const end = high;
    const liveSlots = isLive;
    for (let slot = 0; slot < end; slot++) {
      if (liveSlots[slot] === 0) continue;
      const score = dotAt(m, slot * d, q, d);
      if (score >= top.threshold) top.offer(slot, score);
    }
  }

  /** False when the index gave too few candidates that pass the filter: scan exactly instead. */
  function annSearch(index: AnnIndex, q: Float32Array, mask: Uint8Array | null, matching: number, top: TopK): boolean {
    const n = live();
    // Ten candidates per hit wanted (re-ranking makes up for the quantised distances), divided by
    // the share of entries that pass the filter.
    let k = Math.min(n, Math.ceil((Math.max(top.limit * ANN_CANDIDATES_PER_HIT, ANN_MIN_CANDIDATES) * n) / matching));
    for (;;) {
      if (k > ANN_MAX_CANDIDATES) return false;
      top.clear();
      const { keys } = index.search(q, k, 1);
      let passing = 0;
      for (const key of keys) {
        const slot = Number(key);
        if (ids[slot] === undefined || (mask && mask[slot] === 0)) continue;
        passing++;
        top.offer(slot, dot(slot, q));
      }
      if (passing >= top.limit || k >= n) return true;
      k = Math.min(n, k * 4);
    }
  }

  function put(id: string, vector: Float32Array, fields: Fields): void {
    const slot = slotFor(id);
    matrix.set(vector, slot * d);
    stored(slot, fields);
  }

  function remove(id: string): void {
    const slot = slotOf.get(id);
    if (slot === undefined) return;
    slotOf.delete(id);
    ids[slot] = undefined;
    isLive[slot] = 0;
    free.push(slot);
    if (ann && (slot < ann.builtUpTo || ann.complete)) ann.index.remove(BigInt(slot));
  }

  return {
    dimensions,
    stamp,
    size: live,
    put,
    putBytes(id, bytes, fields) {
      const slot = slotFor(id);
      new Uint8Array(matrix.buffer, matrix.byteOffset + slot * d * 4, d * 4).set(bytes);
      normaliseInPlace(matrix, slot * d, d);
      stored(slot, fields);
    },
    remove,
    save(id) {
      const slot = slotOf.get(id);
      if (slot === undefined) return null;
      const fields: Fields = {};
      for (const [key, column] of columns) {
        const code = column.codes[slot]!;
        if (code !== 0) fields[key] = column.values[code] as Fields[string];
      }
      return { vector: matrix.slice(slot * d, (slot + 1) * d), fields };
    },
    restore(id, saved) {
      if (saved) put(id, saved.vector, saved.fields);
      else remove(id);
    },
    search(query, filter, limit, minSimilarity) {
      if (limit === 0 || live() === 0) return [];
      let mask: Uint8Array | null = null;
      let listed: Int32Array | null = null;
      if (filter) {
        mask = evaluate(filter);
        let matching = 0;
        for (let slot = 0; slot < high; slot++) matching += mask[slot]! &= isLive[slot]!;
        if (matching === 0) return [];
        listed = new Int32Array(matching);
        for (let slot = 0, i = 0; slot < high; slot++) if (mask[slot] === 1) listed[i++] = slot;
      }
      const top = new TopK(limit, minSimilarity, ids);
      const looked = listed ? listed.length : live();
      const scanCost = looked * d * (listed ? SCATTERED_SCAN_COST : 1);
      const useAnn = ann?.complete === true && scanCost > tuning.exactScanBudget;
      if (!(useAnn && annSearch(ann!.index, query, mask, looked, top))) {
        top.clear();
        exactScan(query, listed, top);
      }
      return top.hits();
    },
    ready() {
      if (!ann || ann.complete) return Promise.resolve();
      ann.timer?.ref();
      return new Promise((resolve) => waiters.push(resolve));
    },
    dispose() {
      if (ann?.timer) clearImmediate(ann.timer);
      ann = null;
      wake();
    },
  };
}

function dotAt(m: Float32Array, offset: number, q: Float32Array, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < d; j += 4) {
    s0 += m[offset + j]! * q[j]!;
    s1 += m[offset + j + 1]! * q[j + 1]!;
    s2 += m[offset + j + 2]! * q[j + 2]!;
    s3 += m[offset + j + 3]! * q[j + 3]!;
  }
  for (; j < d; j++) s0 += m[offset + j]! * q[j]!;
  return s0 + s1 + s2 + s3;
}

function grow<T extends Uint8Array | Int32Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (length: number) => T)(length);
  grown.set(array);
  return grown;
}

/** The best `limit` slots seen so far, best first; ties by id, as in both adapters. */
class TopK {
  private readonly slots: Int32Array;
  private readonly scores: Float64Array;
  private count = 0;
  /** A score below this one cannot enter: minSimilarity, then the last kept score once full. */
  threshold: number;

  constructor(
    readonly limit: number,
    private readonly minSimilarity: number,
    private readonly ids: readonly (string | undefined)[],
  ) {
    this.slots = new Int32Array(limit);
    this.scores = new Float64Array(limit);
    this.threshold = minSimilarity;
  }

  clear(): void {
    this.count = 0;
    this.threshold = this.minSimilarity;
  }

  offer(slot: number, score: number): void {
    if (score < this.minSimilarity) return;
    const full = this.count === this.limit;
    if (full && !this.before(score, slot, this.count - 1)) return;
    let i = full ? this.count - 1 : this.count++;
    while (i > 0 && this.before(score, slot, i - 1)) {
      this.slots[i] = this.slots[i - 1]!;
      this.scores[i] = this.scores[i - 1]!;
      i--;
    }
    this.slots[i] = slot;
    this.scores[i] = score;
    if (this.count === this.limit) this.threshold = this.scores[this.count - 1]!;
  }

  hits(): VectorHit[] {
    return Array.from({ length: this.count }, (_, i) => ({
      id: this.ids[this.slots[i]!]!,
      // Float32 rounding can step just outside [-1, 1].
      similarity: Math.max(-1, Math.min(1, this.scores[i]!)),
    }));
  }

  /** Whether (score, slot) ranks before the entry at position i. */
  private before(score: number, slot: number, i: number): boolean {
    const other = this.scores[i]!;
    if (score !== other) return score > other;
    return this.ids[slot]! < this.ids[this.slots[i]!]!;
  }
}
