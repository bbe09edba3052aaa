import { describe, expect, it } from 'vitest';
import { decideMemory, evolveMemory, memoryDecider, retrievalDecider, type MemoryCommand, type NewMemory } from '../../src/commands/memories.js';
import type { MemoryEvent } from '../../src/events/memories.js';
import type { DomainError } from '../../src/es/errors.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const later = new Date('2026-11-29T10:00:00.000Z');
const memoryId = 'm1';
const kinId = 'k1';
const memory: NewMemory = {
  kinId,
  content: 'My cat is called Misu',
  category: 'fact',
  subject: 'cat',
  scope: 'private',
  sourceContext: null,
  importance: null,
  sourceChannel: 'explicit',
  sourceMessageId: null,
  consolidationGeneration: 0,
  consolidatedFromIds: null,
};
const vector = { embedding: [0.6, 0.8], embeddingModel: 'fake-embed' };
const created: MemoryEvent = { type: 'MemoryCreated', data: { memoryId, ...memory, ...vector, createdAt: now.toISOString() } };

/** Given events, when command, then events (or the error's code). */
function given(events: MemoryEvent[]) {
  const state = events.reduce(evolveMemory, memoryDecider.initialState());
  return {
    when: (command: MemoryCommand) => {
      try {
        return decideMemory(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
  };
}

const update = (changes: Extract<MemoryCommand, { type: 'UpdateMemory' }>['changes'], extra: Partial<Extract<MemoryCommand, { type: 'UpdateMemory' }>> = {}): MemoryCommand => ({
  type: 'UpdateMemory',
  memoryId,
  kinId,
  changes,
  touch: true,
  now: later,
  ...extra,
});

describe('memory decider', () => {
  it('creates a memory once, with its vector', () => {
    expect(given([]).when({ type: 'CreateMemory', memoryId, memory, embedded: vector, now })).toEqual([created]);
    expect(given([created]).when({ type: 'CreateMemory', memoryId, memory, embedded: vector, now })).toBe('MEMORY_EXISTS');
  });

  it('records only the fields that change, and nothing when none does', () => {
    expect(given([created]).when(update({ category: 'fact', subject: 'cat', scope: 'shared' }))).toEqual([
      { type: 'MemoryUpdated', data: { memoryId, kinId, changes: { scope: 'shared' }, updatedAt: later.toISOString() } },
    ]);
    expect(given([created]).when(update({ content: 'My cat is called Misu' }))).toEqual([]);
  });

  it('carries the new vector with new content, and drops the old one when there is none', () => {
    const newVector = { embedding: [1, 0], embeddingModel: 'fake-embed' };
    expect(given([created]).when(update({ content: 'My cat is called Tom' }, { embedded: newVector }))).toEqual([
      { type: 'MemoryUpdated', data: { memoryId, kinId, changes: { content: 'My cat is called Tom' }, ...newVector, updatedAt: later.toISOString() } },
    ]);
    const [event] = given([created]).when(update({ content: 'My cat is called Tom' })) as MemoryEvent[];
    expect(event!.data).toMatchObject({ embedding: null, embeddingModel: null });
  });

  it('leaves updatedAt alone when asked (importance backfill)', () => {
    const [event] = given([created]).when(update({ importance: 7 }, { touch: false })) as MemoryEvent[];
    expect(event).toEqual({ type: 'MemoryUpdated', data: { memoryId, kinId, changes: { importance: 7 }, updatedAt: null } });
  });

  it("refuses another Kin's memory and a deleted or unknown one as not found", () => {
    expect(given([created]).when(update({ content: 'x' }, { kinId: 'k2' }))).toBe('MEMORY_NOT_FOUND');
    expect(given([created]).when({ type: 'DeleteMemory', memoryId, kinId: 'k2', now })).toBe('MEMORY_NOT_FOUND');
    const deleted: MemoryEvent = { type: 'MemoryDeleted', data: { memoryId, kinId, deletedAt: now.toISOString() } };
    expect(given([created]).when({ type: 'DeleteMemory', memoryId, kinId, now })).toEqual([deleted]);
    expect(given([created, deleted]).when({ type: 'DeleteMemory', memoryId, kinId, now })).toBe('MEMORY_NOT_FOUND');
    expect(given([]).when(update({ content: 'x' }))).toBe('MEMORY_NOT_FOUND');
  });

  it('re-embeds an existing memory', () => {
    expect(given([created]).when({ type: 'ReembedMemory', memoryId, embedded: { embedding: null, embeddingModel: null }, now })).toEqual([
      { type: 'MemoryReembedded', data: { memoryId, kinId, embedding: null, embeddingModel: null, reembeddedAt: now.toISOString() } },
    ]);
  });
});

describe('retrieval decider', () => {
  const command = { type: 'RecordRetrieval' as const, retrievalId: 'q1', kinId, memoryIds: ['m1', 'm2'], now };

  it('records a retrieval once, and nothing for an empty one', () => {
    const [event] = retrievalDecider.decide(command, retrievalDecider.initialState());
    expect(event).toEqual({ type: 'MemoriesRetrieved', data: { retrievalId: 'q1', kinId, memoryIds: ['m1', 'm2'], retrievedAt: now.toISOString() } });
    expect(retrievalDecider.decide(command, retrievalDecider.evolve(retrievalDecider.initialState(), event!))).toEqual([]);
    expect(retrievalDecider.decide({ ...command, memoryIds: [] }, retrievalDecider.initialState())).toEqual([]);
  });
});
