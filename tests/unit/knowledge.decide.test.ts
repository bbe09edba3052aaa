import { describe, expect, it } from 'vitest';
import {
  chunkBatchDecider,
  decideKnowledge,
  evolveKnowledge,
  initialKnowledgeState,
  type KnowledgeCommand,
  type KnowledgeSourceFields,
} from '../../src/commands/knowledge.js';
import { decodeVector, encodeVector, type KnowledgeEvent } from '../../src/events/knowledge.js';
import type { DomainError } from '../../src/es/errors.js';

const sourceId = 'src-1';
const kinId = 'kin-1';
const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const fields: KnowledgeSourceFields = {
  kinId,
  name: 'Notes',
  type: 'text',
  originalFilename: null,
  mimeType: null,
  sourceUrl: null,
  rawContent: 'Hello',
  blob: null,
  chunkSize: 512,
  chunkOverlap: 50,
};

const added: KnowledgeEvent = {
  type: 'KnowledgeSourceAdded',
  data: { sourceId, requestId: 'r1', ...fields, createdBy: 'u1', createdAt: at },
};
const started = (runId: string, requestId = 'r1', chunkSize = 512): KnowledgeEvent => ({
  type: 'KnowledgeSourceProcessingStarted',
  data: { sourceId, kinId, requestId, runId, chunkSize, chunkOverlap: 50, startedAt: at },
});
const processed = (runId: string): KnowledgeEvent => ({
  type: 'KnowledgeSourceProcessed',
  data: { sourceId, kinId, runId, chunkCount: 1, tokenCount: 2, batchCount: 1, embeddedCount: 0, embeddingModel: null, processedAt: at },
});
const reprocessRequested = (requestId: string, chunkSize = 512): KnowledgeEvent => ({
  type: 'KnowledgeSourceReprocessRequested',
  data: { sourceId, kinId, requestId, chunkSize, chunkOverlap: 50, requestedAt: at },
});

const start = (requestId: string, runId: string): KnowledgeCommand => ({ type: 'StartProcessing', sourceId, requestId, runId, now });
const finish = (runId: string): KnowledgeCommand => ({
  type: 'FinishProcessing',
  sourceId,
  runId,
  chunkCount: 1,
  tokenCount: 2,
  batchCount: 1,
  embeddedCount: 0,
  embeddingModel: null,
  now,
});

/** Given events, when command, then events (or the error's code). */
function given(...events: KnowledgeEvent[]) {
  const state = events.reduce(evolveKnowledge, initialKnowledgeState());
  return {
    when(command: KnowledgeCommand): KnowledgeEvent[] | string {
      try {
        return decideKnowledge(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
  };
}

describe('knowledge source decisions', () => {
  it('adds a source once', () => {
    const add: KnowledgeCommand = { type: 'AddSource', sourceId, requestId: 'r1', fields, createdBy: 'u1', now };
    expect(given().when(add)).toEqual([added]);
    expect(given(added).when(add)).toBe('SOURCE_EXISTS');
  });

  it('starts a run for the pending request, and skips a request already processed or superseded', () => {
    expect(given(added).when(start('r1', 'run1'))).toEqual([started('run1')]);
    expect(given(added, started('run1'), processed('run1')).when(start('r1', 'run2'))).toEqual([]);
    expect(given(added, reprocessRequested('r2')).when(start('r1', 'run1'))).toEqual([]);
    expect(given(added, { type: 'KnowledgeSourceDeleted', data: { sourceId, kinId, deletedAt: at } }).when(start('r1', 'run1'))).toEqual([]);
  });

  it('starts the request over when its run was cut short (a crash): the new run supersedes the old', () => {
    expect(given(added, started('run1')).when(start('r1', 'run2'))).toEqual([started('run2')]);
    expect(given(added, started('run1'), started('run2')).when(finish('run1'))).toBe('RUN_SUPERSEDED');
    expect(given(added, started('run1'), started('run2')).when(finish('run2'))).toEqual([processed('run2')]);
  });

  it('refuses to finish a run once a newer request exists or the source is deleted', () => {
    expect(given(added, started('run1'), reprocessRequested('r2')).when(finish('run1'))).toBe('RUN_SUPERSEDED');
    expect(given(added, started('run1'), { type: 'KnowledgeSourceDeleted', data: { sourceId, kinId, deletedAt: at } }).when(finish('run1'))).toBe(
      'RUN_SUPERSEDED',
    );
    expect(given(added, started('run1'), processed('run1')).when(finish('run1'))).toBe('RUN_SUPERSEDED');
  });

  it('keeps the chunk size of a reprocess request for later runs, and the overlap below it', () => {
    const reprocess: KnowledgeCommand = { type: 'RequestReprocess', sourceId, requestId: 'r2', chunking: { chunkSize: 40 }, now };
    expect(given(added, started('run1'), processed('run1')).when(reprocess)).toEqual([
      { type: 'KnowledgeSourceReprocessRequested', data: { sourceId, kinId, requestId: 'r2', chunkSize: 40, chunkOverlap: 39, requestedAt: at } },
    ]);
    expect(given(added, reprocessRequested('r2', 128)).when(start('r2', 'run9'))).toEqual([started('run9', 'r2', 128)]);
  });

  it('answers NOT_FOUND to reprocessing or deleting an unknown or deleted source', () => {
    const deleted: KnowledgeEvent = { type: 'KnowledgeSourceDeleted', data: { sourceId, kinId, deletedAt: at } };
    expect(given().when({ type: 'RequestReprocess', sourceId, requestId: 'r2', chunking: {}, now })).toBe('NOT_FOUND');
    expect(given(added, deleted).when({ type: 'DeleteSource', sourceId, now })).toBe('NOT_FOUND');
    expect(given(added).when({ type: 'DeleteSource', sourceId, now })).toEqual([deleted]);
  });

  it('records a chunk batch once', () => {
    const command = { type: 'RecordChunkBatch' as const, sourceId, kinId, runId: 'run1', batch: 0, chunks: [], now };
    const events = chunkBatchDecider.decide(command, chunkBatchDecider.initialState());
    expect(events).toHaveLength(1);
    expect(chunkBatchDecider.decide(command, events.reduce(chunkBatchDecider.evolve, chunkBatchDecider.initialState()))).toEqual([]);
  });
});

describe('vector encoding', () => {
  it('round-trips float32 vectors through base64', () => {
    const vector = [0.5, -1.25, 3e-8, 0];
    expect(decodeVector(encodeVector(vector))).toEqual(Array.from(Float32Array.from(vector)));
    expect(encodeVector(vector)).toHaveLength(Math.ceil((vector.length * 4) / 3) * 4);
  });
});
