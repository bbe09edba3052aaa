import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-warm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIMENSIONS = 8;
const ENTRIES = 1500;

let seed = 7;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
const vectors = Array.from({ length: ENTRIES }, () => Array.from({ length: DIMENSIONS }, random));

const cosine = (a: number[], b: number[]) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((value, i) => {
    dot += value * b[i]!;
    na += value * value;
    nb += b[i]! * b[i]!;
  });
  return dot / Math.sqrt(na * nb);
};

/** The exact answer: every vector compared with the query, best first. */
const exactTop = (query: number[], entries: Map<string, number[]>, limit: number) =>
  [...entries]
    .map(([id, vector]) => ({ id, similarity: cosine(query, vector) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, limit)
    .map((hit) => hit.id);

describe('a vector index warming in the background', () => {
  it('answers searches exactly before it is loaded, and keeps the writes made meanwhile', async () => {
    const file = join(dir, 'warm.db');
    const entries = new Map<string, number[]>();
    {
      const handle = openSqlite(file);
      const store = createSqliteReadStore(handle);
      const index = store.searchIndex('notes');
      for (let i = 0; i < ENTRIES; i++) {
        const id = `note-${String(i).padStart(4, '0')}`;
        await index.upsert({ id, text: `note ${i}`, vector: vectors[i]!, fields: { kinId: i % 2 ? 'odd' : 'even' } });
        entries.set(id, vectors[i]!);
      }
      await store.close();
      handle.db.close();
    }

    // A restart: nothing in memory; slices of 10 vectors, and an ANN index past 1,000 multiply-adds.
    const handle = openSqlite(file);
    const store = createSqliteReadStore(handle, { vectors: { warmSliceBytes: 10 * DIMENSIONS * 4, exactScanBudget: 1000 } });
    const index = store.searchIndex('notes');
    let warmed = false;
    const warming = store.warmSearchIndex('notes').then(() => (warmed = true));
    // Let a few slices load, and write meanwhile: an update, a delete and a new entry.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    const query = vectors[3]!.map((value, i) => value + (i % 2 ? 0.05 : -0.05));
    await index.upsert({ id: 'note-9999', text: 'late', vector: query, fields: { kinId: 'odd' } });
    entries.set('note-9999', query);
    await index.setVector('note-0003', vectors[4]!);
    entries.set('note-0003', vectors[4]!);
    await index.delete('note-0005');
    entries.delete('note-0005');

    const early = await index.vectorSearch(query, { limit: 10 });
    expect(warmed).toBe(false);
    expect(early.map((hit) => hit.id)).toEqual(exactTop(query, entries, 10));
    expect(early[0]).toMatchObject({ id: 'note-9999' });

    await warming;
    const later = await index.vectorSearch(query, { limit: 10, filter: { kinId: 'odd' } });
    const odd = new Map([...entries].filter(([id]) => id === 'note-9999' || Number(id.slice(5)) % 2 === 1));
    expect(later.map((hit) => hit.id)).toEqual(exactTop(query, odd, 10));
    await store.close();
    handle.db.close();
  });
});
