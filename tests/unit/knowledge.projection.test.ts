import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import type { ReadStore } from '../../src/es/readStore.js';
import { encodeVector, type KnowledgeEvent } from '../../src/events/knowledge.js';
import { knowledgeLiveMessages } from '../../src/live/knowledge.js';
import { chunksOfSource, knowledgeIndex, knowledgeProjection, knowledgeSource, knowledgeSourcesOf } from '../../src/projections/knowledge.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-knowledge-projection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const at = '2026-11-28T10:00:00.000Z';
const kinId = 'k1';
const chunk = (chunkId: string, position: number, content: string, vector: number[] | null) => ({
  chunkId,
  position,
  content,
  tokenCount: 2,
  embedding: vector ? encodeVector(vector) : null,
});
const common = { sourceId: 's1', kinId };
const history: KnowledgeEvent[] = [
  {
    type: 'KnowledgeSourceAdded',
    data: {
      ...common,
      name: 'Notes',
      type: 'text',
      requestId: 'r1',
      originalFilename: null,
      mimeType: null,
      sourceUrl: null,
      rawContent: 'quokka island\n\nharbour lantern',
      blob: null,
      chunkSize: 512,
      chunkOverlap: 50,
      createdBy: 'u1',
      createdAt: at,
    },
  },
  { type: 'KnowledgeSourceProcessingStarted', data: { ...common, requestId: 'r1', runId: 'run1', chunkSize: 512, chunkOverlap: 50, startedAt: at } },
  { type: 'KnowledgeChunksRecorded', data: { ...common, runId: 'run1', batch: 0, chunks: [chunk('c1', 0, 'quokka island harbour lantern', [1, 0])], recordedAt: at } },
  {
    type: 'KnowledgeSourceProcessed',
    data: { ...common, runId: 'run1', chunkCount: 1, tokenCount: 2, batchCount: 1, embeddedCount: 1, embeddingModel: 'fake-embed', processedAt: at },
  },
  { type: 'KnowledgeSourceReprocessRequested', data: { ...common, requestId: 'r2', chunkSize: 16, chunkOverlap: 0, requestedAt: at } },
  { type: 'KnowledgeSourceProcessingStarted', data: { ...common, requestId: 'r2', runId: 'run2', chunkSize: 16, chunkOverlap: 0, startedAt: at } },
  { type: 'KnowledgeChunksRecorded', data: { ...common, runId: 'run2', batch: 0, chunks: [chunk('c2', 0, 'quokka island', [0, 1]), chunk('c3', 1, 'harbour lantern', null)], recordedAt: at } },
  // A late batch of the superseded run is not the source's.
  { type: 'KnowledgeChunksRecorded', data: { ...common, runId: 'run1', batch: 1, chunks: [chunk('c9', 1, 'stale', null)], recordedAt: at } },
  {
    type: 'KnowledgeSourceProcessed',
    data: { ...common, runId: 'run2', chunkCount: 2, tokenCount: 4, batchCount: 1, embeddedCount: 1, embeddingModel: 'fake-embed', processedAt: at },
  },
];
const events: RecordedEvent[] = history.map((event, i) => ({
  ...event,
  stream: event.type === 'KnowledgeChunksRecorded' ? `knowledgechunks-${event.data.runId}-${event.data.batch}` : 'knowledge-s1',
  id: `e${i}`,
  revision: i,
  position: i + 1,
  recordedAt: at,
  metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
}));

async function project(name: string, times: number, extra: RecordedEvent[] = []): Promise<ReadStore> {
  const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
  await knowledgeProjection.setup?.(store);
  for (const event of [...events, ...extra]) for (let i = 0; i < times; i++) await knowledgeProjection.apply(event, store);
  return store;
}

async function view(store: ReadStore) {
  return {
    sources: await knowledgeSourcesOf(store, kinId),
    chunks: await chunksOfSource(store, 's1'),
    index: await Promise.all(['c1', 'c2', 'c3', 'c9'].map((id) => knowledgeIndex(store).get(id))),
  };
}

describe('knowledge projection', () => {
  it('keeps the latest run’s chunks only, indexed with their vectors, and applying twice changes nothing', async () => {
    const once = await project('once', 1);
    const twice = await project('twice', 2);
    const seen = await view(once);
    expect(await view(twice)).toEqual(seen);
    expect(seen.sources).toEqual([
      expect.objectContaining({ id: 's1', status: 'ready', chunkCount: 2, tokenCount: 4, runId: 'run2', metadata: expect.objectContaining({ chunkSize: 16, chunkOverlap: 0 }) }),
    ]);
    expect(seen.chunks.map((c) => [c.id, c.position, c.metadata.embedded])).toEqual([
      ['c2', 0, true],
      ['c3', 1, false],
    ]);
    expect(seen.index.map((entry) => entry && { id: entry.id, fields: entry.fields, hasVector: entry.vector !== null })).toEqual([
      null,
      // Chunks recorded without their vector's model get their run's (KnowledgeSourceProcessed).
      { id: 'c2', fields: { kinId, sourceId: 's1', embeddingModel: 'fake-embed' }, hasVector: true },
      { id: 'c3', fields: { kinId, sourceId: 's1', embeddingModel: null }, hasVector: false },
      null,
    ]);
    expect(seen.chunks.map((c) => c.embeddingModel)).toEqual(['fake-embed', null]);
    expect((await knowledgeIndex(once).textSearch('harbour', { filter: { kinId }, limit: 5 })).map((hit) => hit.id)).toEqual(['c3']);
    expect((await knowledgeIndex(once).vectorSearch([0, 1], { filter: { kinId }, limit: 5, minSimilarity: 0.7 })).map((hit) => hit.id)).toEqual(['c2']);
    // A vector of another model is never compared with them.
    const otherModel = { filter: { kinId, embeddingModel: 'another-embed' }, limit: 5, minSimilarity: 0.7 };
    expect(await knowledgeIndex(once).vectorSearch([0, 1], otherModel)).toEqual([]);
  });

  it('indexes a chunk under the model its event names', async () => {
    const named: RecordedEvent = {
      ...events[6]!,
      id: 'n1',
      position: 100,
      data: { ...common, runId: 'run2', batch: 1, chunks: [{ ...chunk('c4', 2, 'lantern keeper', [1, 1]), embeddingModel: 'named-embed' }], recordedAt: at },
    };
    const store = await project('named', 1, [named]);
    expect((await knowledgeIndex(store).get('c4'))?.fields).toEqual({ kinId, sourceId: 's1', embeddingModel: 'named-embed' });
  });

  it('drops the chunks of a failed run and of a deleted source or Kin', async () => {
    const failed = await project('failed', 1, [
      { ...events[0]!, id: 'f1', position: 100, type: 'KnowledgeSourceFailed', data: { ...common, runId: 'run2', errorMessage: 'boom', failedAt: at } },
    ]);
    expect(await knowledgeSource(failed, 's1')).toMatchObject({ status: 'error', errorMessage: 'boom', chunkCount: 0 });
    expect(await chunksOfSource(failed, 's1')).toEqual([]);
    expect(await knowledgeIndex(failed).count({ sourceId: 's1' })).toBe(0);

    const kinDeleted = await project('kin-deleted', 1, [
      { ...events[0]!, id: 'k1', position: 100, stream: 'kin-k1', type: 'KinDeleted', data: { kinId, deletedAt: at } },
    ]);
    expect(await knowledgeSourcesOf(kinDeleted, kinId)).toEqual([]);
    expect(await knowledgeIndex(kinDeleted).count({ kinId })).toBe(0);
  });

  it('maps the lifecycle to knowledge:source-* messages in the documented envelope', async () => {
    const messages = (await Promise.all(events.map((event) => knowledgeLiveMessages(event, null as never)))).flat();
    expect(messages.map((m) => [m.type, m.data.status ?? null])).toEqual([
      ['knowledge:source-created', null],
      ['knowledge:source-updated', 'processing'],
      ['knowledge:source-updated', 'ready'],
      ['knowledge:source-updated', 'pending'],
      ['knowledge:source-updated', 'processing'],
      ['knowledge:source-updated', 'ready'],
    ]);
    expect(messages[0]).toEqual({ type: 'knowledge:source-created', kinId, data: { sourceId: 's1', name: 'Notes', type: 'text' } });
  });
});
