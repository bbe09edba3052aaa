import path from 'node:path';
import type { Filter } from '../src/es/readStore.js';
import type { IndexEntry, SearchIndex } from '../src/es/searchIndex.js';
import { openSqlite } from '../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../src/stores/sqlite/readStore.js';
import { benchDuration, isMain, note, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * Search latency of the SQLite search index (the memories / knowledge retrieval path), on a temp
 * database file: 10k and 100k entries of 384 and 1536 dimensions, each query timed alone:
 * - vector search, limit 20, "this Kin or shared" filter (20 Kins, 10% shared: ~15% of entries);
 * - vector search, limit 20, no filter;
 * - text search, limit 20, one or two words (all must match), same filter.
 * Vectors are clustered (200 topics) like real embeddings, and queries are near existing
 * entries. `recall@20` compares the vector hits with an exact scan of the same file (1 = the
 * same 20 ids). Each case runs for its time budget or 2000 queries, whichever comes first.
 */

const SIZES = [10_000, 100_000];
const DIMENSIONS = [384, 1536];
const KINS = 20;
const TOPICS = 200;
const LIMIT = 20;
const MAX_QUERIES = 2_000;
const RECALL_QUERIES = 50;
const QUERY_SET = 256;
const BATCH = 1_000;

/** A small seeded generator, so that every run indexes the same data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'pe', 'da', 'gu', 'ho', 'zi', 'be', 'fa', 'no'];
/** 4096 pseudo-words of three syllables, used with a Zipf-like skew (word n about 1/n as often). */
const WORDS = Array.from({ length: 4096 }, (_, n) => [n % 16, (n >> 4) % 16, (n >> 8) % 16].map((i) => SYLLABLES[i]).join(''));
const zipfWord = (next: () => number) => WORDS[Math.min(WORDS.length - 1, Math.floor(Math.exp(next() * Math.log(WORDS.length))) - 1)]!;

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
}

function makeEntries(count: number, dimensions: number): { entries: () => Generator<IndexEntry>; queryVector: (n: number) => number[] } {
  const topics = Array.from({ length: TOPICS }, (_, t) => {
    const next = random(1000 + t);
    return Array.from({ length: dimensions }, () => gaussian(next));
  });
  const vectorFor = (n: number, noise: number) => {
    const next = random(n);
    const topic = topics[Math.floor(next() * TOPICS)]!;
    return topic.map((x) => x + noise * gaussian(next));
  };
  function* entries(): Generator<IndexEntry> {
    for (let n = 0; n < count; n++) {
      const next = random(7_000_000 + n);
      const words = Array.from({ length: 20 + Math.floor(next() * 40) }, () => zipfWord(next));
      yield {
        id: `e${n}`,
        text: words.join(' '),
        vector: vectorFor(n, 0.8),
        fields: { kinId: `kin-${Math.floor(next() * KINS)}`, scope: next() < 0.1 ? 'shared' : 'private', category: 'fact' },
      };
    }
  }
  // Near an existing entry, as a question about something remembered is.
  return { entries, queryVector: (n) => vectorFor((n * 7919) % count, 0.9) };
}

type Timing = { queries: number; p50: number; p95: number };

/** Times `run` over the prepared queries, in turn, until the budget or MAX_QUERIES. */
async function timeQueries<Q>(queries: Q[], run: (query: Q, n: number) => Promise<unknown>): Promise<Timing> {
  const deadline = performance.now() + benchDuration(5) * 1000;
  const times: number[] = [];
  while (times.length < MAX_QUERIES && (times.length < 20 || performance.now() < deadline)) {
    const n = times.length;
    const query = queries[n % queries.length]!;
    const started = performance.now();
    await run(query, n);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { queries: times.length, p50: round(at(0.5), 2), p95: round(at(0.95), 2) };
}

async function recall(index: SearchIndex, exact: SearchIndex, queryVector: (n: number) => number[], filter?: Filter): Promise<number> {
  let found = 0;
  let expected = 0;
  for (let n = 0; n < RECALL_QUERIES; n++) {
    const vector = queryVector(1_000_000 + n);
    const truth = new Set((await exact.vectorSearch(vector, { limit: LIMIT, filter })).map((hit) => hit.id));
    const got = await index.vectorSearch(vector, { limit: LIMIT, filter });
    found += got.filter((hit) => truth.has(hit.id)).length;
    expected += truth.size;
  }
  return round(found / Math.max(expected, 1), 3);
}

async function benchCase(count: number, dimensions: number): Promise<{ rows: Row[]; setup: Row }> {
  return withTempDir('search', async (dir) => {
    const file = path.join(dir, 'kinbot.db');
    const handle = openSqlite(file);
    const store = createSqliteReadStore(handle);
    // Another connection to the same file that never uses the ANN index: the exact reference.
    const exactHandle = openSqlite(file);
    const exactStore = createSqliteReadStore(exactHandle, { vectors: { exactScanBudget: Number.POSITIVE_INFINITY } });
    try {
      const label = `${(count / 1000).toLocaleString('en-US')}k × ${dimensions}`;
      const { entries, queryVector } = makeEntries(count, dimensions);
      note(`search: ${label}: indexing…`);
      let started = performance.now();
      let batch: IndexEntry[] = [];
      const flush = () =>
        store.transaction(async (tx) => {
          for (const entry of batch) await tx.searchIndex('bench').upsert(entry);
          batch = [];
        });
      for (const entry of entries()) {
        batch.push(entry);
        if (batch.length === BATCH) await flush();
      }
      if (batch.length > 0) await flush();
      const indexSeconds = (performance.now() - started) / 1000;

      const index = store.searchIndex('bench');
      const exact = exactStore.searchIndex('bench');
      note(`search: ${label}: loading vectors (first search), then building the ANN index…`);
      started = performance.now();
      await index.vectorSearch(queryVector(0), { limit: LIMIT });
      const loadSeconds = (performance.now() - started) / 1000;
      started = performance.now();
      await store.warmSearchIndex('bench', dimensions);
      const buildSeconds = (performance.now() - started) / 1000;
      await exactStore.warmSearchIndex('bench', dimensions);
      const vectors = Array.from({ length: QUERY_SET }, (_, n) => queryVector(n));
      const kinOrShared = (n: number): Filter => ({ $or: [{ kinId: `kin-${n % KINS}` }, { scope: 'shared' }] });
      const rows: Row[] = [];
      const row = (search: string, timing: Timing, recallAt20: number | string): Row => ({
        index: label,
        search,
        queries: timing.queries,
        'p50 ms': timing.p50,
        'p95 ms': timing.p95,
        'recall@20': recallAt20,
      });

      note(`search: ${label}: vector searches…`);
      const kinFilter = kinOrShared(3);
      rows.push(
        row(
          'vector, Kin or shared',
          await timeQueries(vectors, (vector, n) => index.vectorSearch(vector, { limit: LIMIT, filter: kinOrShared(n) })),
          await recall(index, exact, queryVector, kinFilter),
        ),
      );
      rows.push(
        row(
          'vector, no filter',
          await timeQueries(vectors, (vector) => index.vectorSearch(vector, { limit: LIMIT })),
          await recall(index, exact, queryVector),
        ),
      );
      note(`search: ${label}: text searches…`);
      // One or two words (every one must match) among the 8th to 208th most frequent.
      const texts = Array.from({ length: QUERY_SET }, (_, n) => {
        const next = random(9_000_000 + n);
        return Array.from({ length: 1 + (n % 2) }, () => WORDS[8 + Math.floor(next() * 200)]!).join(' ');
      });
      rows.push(row('text, Kin or shared', await timeQueries(texts, (text, n) => index.textSearch(text, { limit: LIMIT, filter: kinOrShared(n) })), '-'));

      const setup: Row = {
        index: label,
        'index s': round(indexSeconds, 1),
        'entries/s': Math.round(count / indexSeconds),
        'first search (load) s': round(loadSeconds, 2),
        'ANN build s': round(buildSeconds, 1),
        'file MB': Math.round(fileSize(handle) / 1e6),
      };
      return { rows, setup };
    } finally {
      await store.close();
      await exactStore.close();
      exactHandle.db.close();
      handle.db.close();
    }
  });
}

function fileSize(handle: ReturnType<typeof openSqlite>): number {
  const { n } = handle.db.prepare('SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()').get() as { n: number };
  return n;
}

export async function benchSearch(): Promise<Section[]> {
  const rows: Row[] = [];
  const setups: Row[] = [];
  for (const count of SIZES) {
    for (const dimensions of DIMENSIONS) {
      const result = await benchCase(count, dimensions);
      rows.push(...result.rows);
      setups.push(result.setup);
    }
  }
  return [
    {
      title: `Search index latency, SQLite (limit ${LIMIT}; budget ${benchDuration(5)} s or ${MAX_QUERIES} queries per case)`,
      rows,
    },
    {
      title: 'Search index set-up (upserts in transactions of 1,000; the first vector search loads the vectors; the ANN index builds in the background)',
      rows: setups,
    },
  ];
}

if (isMain(import.meta.url)) printSections(await benchSearch());
