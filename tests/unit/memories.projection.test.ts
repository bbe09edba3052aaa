import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { MEMORIES, memoriesProjection } from '../../src/projections/memories.js';
import { memoryLiveMessages } from '../../src/live/memories.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-memories-projection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const at = '2026-11-28T10:00:00.000Z';
const later = '2026-11-29T10:00:00.000Z';
const created = (memoryId: string, kinId: string, content: string, embedding: number[] | null) => ({
  stream: `memory-${memoryId}`,
  type: 'MemoryCreated',
  data: {
    memoryId,
    kinId,
    content,
    category: 'fact',
    subject: null,
    scope: 'private',
    sourceChannel: 'explicit',
    sourceMessageId: null,
    sourceContext: null,
    importance: null,
    consolidationGeneration: 0,
    consolidatedFromIds: null,
    embedding,
    embeddingModel: embedding ? 'fake-embed' : null,
    createdAt: at,
  },
});
const history: Omit<RecordedEvent, 'position' | 'revision' | 'id' | 'metadata' | 'recordedAt'>[] = [
  created('m1', 'k1', 'My cat is called Misu', [1, 0]),
  created('m2', 'k1', 'The office opens at nine', null),
  created('m3', 'k2', 'Kin two knows Rust', [0, 1]),
  { stream: 'memory-m1', type: 'MemoryUpdated', data: { memoryId: 'm1', kinId: 'k1', changes: { scope: 'shared', subject: 'cat' }, updatedAt: later } },
  { stream: 'memoryretrieval-q1', type: 'MemoriesRetrieved', data: { retrievalId: 'q1', kinId: 'k1', memoryIds: ['m1', 'm2'], retrievedAt: later } },
  { stream: 'memoryretrieval-q2', type: 'MemoriesRetrieved', data: { retrievalId: 'q2', kinId: 'k3', memoryIds: ['m1'], retrievedAt: later } },
  {
    stream: 'memory-m2',
    type: 'MemoryUpdated',
    data: { memoryId: 'm2', kinId: 'k1', changes: { content: 'The office opens at ten' }, embedding: [0.75, 0.5], embeddingModel: 'fake-embed', updatedAt: later },
  },
  { stream: 'memory-m2', type: 'MemoryUpdated', data: { memoryId: 'm2', kinId: 'k1', changes: { importance: 4 }, updatedAt: null } },
  { stream: 'memory-m3', type: 'MemoryDeleted', data: { memoryId: 'm3', kinId: 'k2', deletedAt: later } },
  created('m4', 'k4', 'Kin four lives here', [1, 1]),
  { stream: 'kin-k4', type: 'KinDeleted', data: { kinId: 'k4', deletedAt: later } },
];
const events: RecordedEvent[] = history.map((event, i) => ({
  ...event,
  id: `e${i}`,
  revision: 0,
  position: i + 1,
  recordedAt: at,
  metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
}));

async function project(name: string, times: number): Promise<ReadStore> {
  const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
  await memoriesProjection.setup?.(store);
  for (const event of events) {
    if (!memoriesProjection.handles.includes(event.type)) continue;
    for (let i = 0; i < times; i++) await memoriesProjection.apply(event, store);
  }
  return store;
}

const dump = async (store: ReadStore) => ({
  docs: await store.collection(MEMORIES).find({}, { sort: { id: 1 } }),
  index: await Promise.all(['m1', 'm2', 'm3', 'm4'].map((id) => store.searchIndex(MEMORIES).get(id))),
});

describe('memories projection', () => {
  it('is idempotent: applying every event twice gives the same read model and index as once', async () => {
    const once = await dump(await project('once', 1));
    const twice = await dump(await project('twice', 2));
    expect(twice).toEqual(once);
  });

  it('keeps the documents, counts retrievals once, and indexes text, fields and vectors', async () => {
    const store = await project('state', 1);
    const docs = await store.collection(MEMORIES).find({}, { sort: { id: 1 } });
    expect(docs.map((doc) => doc.id)).toEqual(['m1', 'm2']);
    expect(docs[0]).toMatchObject({ scope: 'shared', subject: 'cat', retrievalCount: 2, lastRetrievedAt: later, updatedAt: later, embeddingModel: 'fake-embed' });
    expect(docs[1]).toMatchObject({ content: 'The office opens at ten', importance: 4, retrievalCount: 1, updatedAt: later });

    const index = store.searchIndex(MEMORIES);
    expect(await index.get('m1')).toMatchObject({
      text: 'My cat is called Misu',
      vector: [1, 0],
      fields: { kinId: 'k1', scope: 'shared', category: 'fact', subject: 'cat', embeddingModel: 'fake-embed' },
    });
    expect((await index.get('m2'))?.vector).toEqual([0.75, 0.5]);
    expect(await index.get('m3')).toBeNull();
    expect(await index.get('m4')).toBeNull();
    expect((await index.textSearch('office ten', { limit: 5 })).map((hit) => hit.id)).toEqual(['m2']);
  });

  it('reports creations, visible changes and deletions on the live feed', async () => {
    const store = await project('live', 1);
    const mapped = (await Promise.all(events.map((event) => memoryLiveMessages(event, store)))).flat();
    expect(mapped.map((message) => message.type)).toEqual([
      'memory:created',
      'memory:created',
      'memory:created',
      'memory:updated',
      'memory:updated',
      'memory:deleted',
      'memory:created',
    ]);
    expect(mapped[3]).toEqual({ type: 'memory:updated', kinId: 'k1', data: { memoryId: 'm1', kinId: 'k1', subject: 'cat' } });
    expect(mapped[4]).toEqual({ type: 'memory:updated', kinId: 'k1', data: { memoryId: 'm2', kinId: 'k1', content: 'The office opens at ten' } });
  });
});
