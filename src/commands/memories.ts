import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, notFound } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { ReadStore } from '../es/readStore.js';
import type { Secrets } from '../lib/secrets.js';
import {
  memoryRetrievalStream,
  memoryStream,
  parseMemoryEvent,
  parseRetrievalEvent,
  parseSnapshotMemoriesEvent,
  snapshotMemoriesStream,
  type MemoryCategory,
  type MemoryChanges,
  type MemoryEvent,
  type MemoryScope,
  type RetrievalEvent,
  type SnapshotMemoriesEvent,
  type SourceChannel,
} from '../events/memories.js';
import { embedText } from '../agents/embeddings.js';
import { kinNotFound } from './kins.js';
import { KINS } from '../projections/kins.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';

// ── The memory stream ─────────────────────────────────────────────────────────────────────────

type MemoryFields = {
  kinId: string;
  content: string;
  category: MemoryCategory;
  subject: string | null;
  scope: MemoryScope;
  sourceContext: string | null;
  importance: number | null;
};

export type MemoryState = { status: 'none' } | { status: 'active'; memory: MemoryFields } | { status: 'deleted' };

export type Embedded = { embedding: number[] | null; embeddingModel: string | null };

export type NewMemory = MemoryFields & {
  sourceChannel: SourceChannel;
  sourceMessageId: string | null;
  consolidationGeneration: number;
  consolidatedFromIds: string[] | null;
};

export type MemoryCommand =
  | { type: 'CreateMemory'; memoryId: string; memory: NewMemory; embedded: Embedded; now: Date }
  | {
      type: 'UpdateMemory';
      memoryId: string;
      kinId: string;
      changes: MemoryChanges;
      /** The new content's vector; absent when the caller did not embed it (it is then dropped). */
      embedded?: Embedded;
      /** false: updatedAt stays as it is (importance backfill). */
      touch: boolean;
      now: Date;
    }
  | { type: 'ReembedMemory'; memoryId: string; embedded: Embedded; now: Date }
  | { type: 'DeleteMemory'; memoryId: string; kinId: string; now: Date };

export const memoryNotFound = () => notFound('MEMORY_NOT_FOUND', 'Memory not found');

export function evolveMemory(state: MemoryState, event: MemoryEvent): MemoryState {
  switch (event.type) {
    case 'MemoryCreated': {
      const { kinId, content, category, subject, scope, sourceContext, importance } = event.data;
      return { status: 'active', memory: { kinId, content, category, subject, scope, sourceContext, importance } };
    }
    case 'MemoryUpdated':
      return state.status === 'active' ? { status: 'active', memory: { ...state.memory, ...event.data.changes } } : state;
    case 'MemoryReembedded':
      return state;
    case 'MemoryDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** Keeps only the fields whose value differs from the current one. */
function changedFields(changes: MemoryChanges, memory: MemoryFields): MemoryChanges {
  return Object.fromEntries(
    Object.entries(changes).filter(([key, value]) => value !== undefined && value !== memory[key as keyof MemoryFields]),
  );
}

export function decideMemory(command: MemoryCommand, state: MemoryState): MemoryEvent[] {
  const { memoryId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreateMemory') {
    if (state.status !== 'none') throw conflict('MEMORY_EXISTS', 'A memory with this id already exists');
    return [{ type: 'MemoryCreated', data: { memoryId, ...command.memory, ...command.embedded, createdAt: at } }];
  }
  if (state.status !== 'active') throw memoryNotFound();
  const { kinId } = state.memory;
  switch (command.type) {
    case 'UpdateMemory': {
      if (command.kinId !== kinId) throw memoryNotFound();
      const changes = changedFields(command.changes, state.memory);
      if (Object.keys(changes).length === 0) return [];
      // A vector of the old text would find the memory for what it no longer says.
      const vector = changes.content !== undefined ? (command.embedded ?? { embedding: null, embeddingModel: null }) : {};
      return [{ type: 'MemoryUpdated', data: { memoryId, kinId, changes, ...vector, updatedAt: command.touch ? at : null } }];
    }
    case 'ReembedMemory':
      return [{ type: 'MemoryReembedded', data: { memoryId, kinId, ...command.embedded, reembeddedAt: at } }];
    case 'DeleteMemory':
      if (command.kinId !== kinId) throw memoryNotFound();
      return [{ type: 'MemoryDeleted', data: { memoryId, kinId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const memoryDecider: Decider<MemoryState, MemoryCommand, MemoryEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveMemory,
  decide: decideMemory,
};

// ── Retrievals (one stream per retrieval) ─────────────────────────────────────────────────────

export type RetrievalCommand = { type: 'RecordRetrieval'; retrievalId: string; kinId: string; memoryIds: string[]; now: Date };

export const retrievalDecider: Decider<{ recorded: boolean }, RetrievalCommand, RetrievalEvent> = {
  initialState: () => ({ recorded: false }),
  evolve: () => ({ recorded: true }),
  // Recording a retrieval twice (a resumed turn) counts it once.
  decide: (command, state) =>
    state.recorded || command.memoryIds.length === 0
      ? []
      : [
          {
            type: 'MemoriesRetrieved',
            data: { retrievalId: command.retrievalId, kinId: command.kinId, memoryIds: command.memoryIds, retrievedAt: command.now.toISOString() },
          },
        ],
};

// ── Handlers: the decisions above, run against the stores ──────────────────────────────────────

/** What the handlers need; `secrets` decrypts the embedding provider's configuration. */
export type MemoryDeps = { runCommand: RunCommand; readStore: ReadStore; secrets: Secrets };

const runMemory = (deps: MemoryDeps, command: MemoryCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: memoryStream(command.memoryId), decider: memoryDecider, parse: parseMemoryEvent, command, metadata });

export type CreateMemoryInput = {
  kinId: string;
  content: string;
  category: MemoryCategory;
  subject?: string | null;
  scope?: MemoryScope;
  /** `explicit` (user, tool, API) unless said. */
  sourceChannel?: SourceChannel;
  sourceMessageId?: string | null;
  sourceContext?: string | null;
  importance?: number | null;
  consolidationGeneration?: number;
  consolidatedFromIds?: string[] | null;
  /** A caller that may retry (a reactor) passes a derived id, so that a retry creates nothing new. */
  memoryId?: string;
  /** The content's vector when the caller already has it (the near-duplicate check of extraction). */
  embedded?: Embedded;
};

const required = () => badRequest('INVALID_INPUT', 'Content and category are required');

/** Creates a memory, embedding its content first (without a vector when that fails). */
export async function createMemory(deps: MemoryDeps, input: CreateMemoryInput, metadata: CommandMetadata) {
  const content = input.content.trim();
  if (!content || !input.category) throw required();
  if (!(await deps.readStore.collection(KINS).get(input.kinId))) throw kinNotFound();
  const memoryId = input.memoryId ?? uuidv7();
  const memory: NewMemory = {
    kinId: input.kinId,
    content,
    category: input.category,
    subject: input.subject ?? null,
    scope: input.scope ?? 'private',
    sourceChannel: input.sourceChannel ?? 'explicit',
    sourceMessageId: input.sourceMessageId ?? null,
    sourceContext: input.sourceContext ?? null,
    importance: input.importance ?? null,
    consolidationGeneration: input.consolidationGeneration ?? 0,
    consolidatedFromIds: input.consolidatedFromIds ?? null,
  };
  const embedded = input.embedded ?? (await embedText(deps, content));
  const result = await runMemory(deps, { type: 'CreateMemory', memoryId, memory, embedded, now: metadata.now }, metadata);
  return { memoryId, position: result.position };
}

export type UpdateMemoryInput = { memoryId: string; kinId: string; changes: MemoryChanges; touch?: boolean };

/** Changes a memory of this Kin (404 otherwise); new content is embedded again. */
export async function updateMemory(deps: MemoryDeps, input: UpdateMemoryInput, metadata: CommandMetadata) {
  const changes = { ...input.changes };
  if (changes.content !== undefined) {
    changes.content = changes.content.trim();
    if (!changes.content) throw badRequest('INVALID_INPUT', 'Content cannot be empty');
  }
  const current = await deps.readStore.collection<MemoryDoc>(MEMORIES).get(input.memoryId);
  if (!current || current.kinId !== input.kinId) throw memoryNotFound();
  const embedded = changes.content !== undefined && changes.content !== current.content ? await embedText(deps, changes.content) : undefined;
  const command = { type: 'UpdateMemory', memoryId: input.memoryId, kinId: input.kinId, changes, embedded, touch: input.touch ?? true, now: metadata.now } as const;
  const result = await runMemory(deps, command, metadata);
  return { position: result.position, changed: result.events.length > 0 };
}

/**
 * Replaces a memory's vector with one from the current embedding model (POST /api/memories/reembed).
 * `precomputed`: a vector the caller made in a batch, used if the memory still says `content`.
 * When the text cannot be embedded nothing is recorded: the old vector is better than none.
 */
export async function reembedMemory(
  deps: MemoryDeps,
  memoryId: string,
  metadata: CommandMetadata,
  precomputed?: { content: string; embedded: Embedded },
) {
  const current = await deps.readStore.collection<MemoryDoc>(MEMORIES).get(memoryId);
  if (!current) throw memoryNotFound();
  const embedded = precomputed?.content === current.content ? precomputed.embedded : await embedText(deps, current.content);
  if (embedded.embedding === null) return { position: null, embedded: false };
  const result = await runMemory(deps, { type: 'ReembedMemory', memoryId, embedded, now: metadata.now }, metadata);
  return { position: result.position, embedded: true };
}

export async function deleteMemory(deps: MemoryDeps, input: { memoryId: string; kinId: string }, metadata: CommandMetadata) {
  const result = await runMemory(deps, { type: 'DeleteMemory', ...input, now: metadata.now }, metadata);
  return { position: result.position };
}

/** Counts one injection of these memories into a prompt (memory-knowledge.md §4 step 5). */
export async function recordRetrieval(
  deps: Pick<MemoryDeps, 'runCommand'>,
  input: { retrievalId: string; kinId: string; memoryIds: string[] },
  metadata: CommandMetadata,
) {
  const result = await deps.runCommand({
    stream: memoryRetrievalStream(input.retrievalId),
    decider: retrievalDecider,
    parse: parseRetrievalEvent,
    command: { type: 'RecordRetrieval', ...input, now: metadata.now },
    metadata,
  });
  return { position: result.position };
}

// ── What a compaction snapshot gave the memories (one stream per snapshot) ─────────────────────

export type SnapshotMemoryCounts = { memoriesExtracted: number; memoriesConsolidated: number; memoriesPruned: number };

type SnapshotMemoriesState = { recorded: SnapshotMemoryCounts | null };

export type RecordSnapshotMemories = { type: 'RecordSnapshotMemories'; snapshotId: string; kinId: string; counts: SnapshotMemoryCounts; now: Date };

export const snapshotMemoriesDecider: Decider<SnapshotMemoriesState, RecordSnapshotMemories, SnapshotMemoriesEvent> = {
  initialState: () => ({ recorded: null }),
  evolve: (_state, event) => {
    const { memoriesExtracted, memoriesConsolidated, memoriesPruned } = event.data;
    return { recorded: { memoriesExtracted, memoriesConsolidated, memoriesPruned } };
  },
  // The first record stands: a second run for the same snapshot (a redelivery) found its work done.
  decide: (command, state) =>
    state.recorded
      ? []
      : [
          {
            type: 'SnapshotMemoriesProcessed',
            data: { snapshotId: command.snapshotId, kinId: command.kinId, ...command.counts, processedAt: command.now.toISOString() },
          },
        ],
};

/** The counts recorded for this snapshot, or null when its memories were not processed yet. */
export async function snapshotMemoriesRecorded(deps: { eventStore: EventStore }, snapshotId: string): Promise<SnapshotMemoryCounts | null> {
  const [first] = await deps.eventStore.readStream(snapshotMemoriesStream(snapshotId), { limit: 1 });
  return first ? snapshotMemoriesDecider.evolve({ recorded: null }, parseSnapshotMemoriesEvent(first)).recorded : null;
}

/** Records the counts once; returns the counts that stand (the first recorded ones). */
export async function recordSnapshotMemories(
  deps: Pick<MemoryDeps, 'runCommand'>,
  input: { snapshotId: string; kinId: string; counts: SnapshotMemoryCounts },
  metadata: CommandMetadata,
) {
  const result = await deps.runCommand({
    stream: snapshotMemoriesStream(input.snapshotId),
    decider: snapshotMemoriesDecider,
    parse: parseSnapshotMemoriesEvent,
    command: { type: 'RecordSnapshotMemories', ...input, now: metadata.now },
    metadata,
  });
  return { position: result.position, counts: result.state.recorded ?? input.counts };
}
