import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { conflict, notFound } from '../es/errors.js';
import {
  knowledgeChunkBatchStream,
  knowledgeStream,
  parseKnowledgeEvent,
  type KnowledgeEvent,
  type KnowledgeSourceType,
  type RecordedChunk,
} from '../events/knowledge.js';

/**
 * A knowledge source's life: added (pending) → a processing run started → its chunks recorded (in
 * batch streams of their own) → processed (ready) or failed (error); a reprocess request starts
 * that over. Each request is processed by one run at a time: a newer request, or the source's
 * deletion, supersedes the run in progress, which can then no longer finish (RUN_SUPERSEDED) and
 * whose recorded chunks the read model ignores.
 */

export type KnowledgeSourceFields = {
  kinId: string;
  name: string;
  type: KnowledgeSourceType;
  originalFilename: string | null;
  mimeType: string | null;
  sourceUrl: string | null;
  rawContent: string | null;
  blob: { hash: string; size: number; contentType: string } | null;
  chunkSize: number;
  chunkOverlap: number;
};

type Run = { runId: string; requestId: string; finished: boolean };

export type KnowledgeState =
  | { status: 'none' }
  | { status: 'active'; source: KnowledgeSourceFields; requestId: string; run: Run | null }
  | { status: 'deleted' };

export type ChunkingChange = { chunkSize?: number; chunkOverlap?: number };

export type KnowledgeCommand =
  | { type: 'AddSource'; sourceId: string; requestId: string; fields: KnowledgeSourceFields; createdBy: string | null; now: Date }
  | { type: 'RequestReprocess'; sourceId: string; requestId: string; chunking: ChunkingChange; now: Date }
  | { type: 'StartProcessing'; sourceId: string; requestId: string; runId: string; now: Date }
  | {
      type: 'FinishProcessing';
      sourceId: string;
      runId: string;
      chunkCount: number;
      tokenCount: number;
      batchCount: number;
      embeddedCount: number;
      embeddingModel: string | null;
      now: Date;
    }
  | { type: 'FailProcessing'; sourceId: string; runId: string; errorMessage: string; now: Date }
  | { type: 'DeleteSource'; sourceId: string; now: Date };

export const knowledgeSourceNotFound = () => notFound('NOT_FOUND', 'Knowledge source not found');
export const runSuperseded = () => conflict('RUN_SUPERSEDED', 'This processing run was superseded by a newer request or a deletion');

export const initialKnowledgeState = (): KnowledgeState => ({ status: 'none' });

export function evolveKnowledge(state: KnowledgeState, event: KnowledgeEvent): KnowledgeState {
  switch (event.type) {
    case 'KnowledgeSourceAdded': {
      const { sourceId: _s, requestId, createdBy: _c, createdAt: _a, ...source } = event.data;
      return { status: 'active', source, requestId, run: null };
    }
    case 'KnowledgeSourceReprocessRequested': {
      if (state.status !== 'active') return state;
      const { chunkSize, chunkOverlap, requestId } = event.data;
      return { ...state, source: { ...state.source, chunkSize, chunkOverlap }, requestId };
    }
    case 'KnowledgeSourceProcessingStarted':
      return state.status === 'active' ? { ...state, run: { runId: event.data.runId, requestId: event.data.requestId, finished: false } } : state;
    // Recorded in the batch streams, never in this one.
    case 'KnowledgeChunksRecorded':
      return state;
    case 'KnowledgeSourceProcessed':
    case 'KnowledgeSourceFailed':
      return state.status === 'active' && state.run?.runId === event.data.runId ? { ...state, run: { ...state.run, finished: true } } : state;
    case 'KnowledgeSourceDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** The run may still record: it is the latest, unfinished, and for the latest request. */
function assertCurrentRun(state: KnowledgeState, runId: string): asserts state is Extract<KnowledgeState, { status: 'active' }> {
  if (state.status !== 'active' || !state.run || state.run.runId !== runId || state.run.finished || state.run.requestId !== state.requestId) {
    throw runSuperseded();
  }
}

export function decideKnowledge(command: KnowledgeCommand, state: KnowledgeState): KnowledgeEvent[] {
  const { sourceId } = command;
  const at = command.now.toISOString();
  switch (command.type) {
    case 'AddSource': {
      if (state.status !== 'none') throw conflict('SOURCE_EXISTS', 'A knowledge source with this id already exists');
      const { requestId, fields, createdBy } = command;
      return [{ type: 'KnowledgeSourceAdded', data: { sourceId, requestId, ...fields, createdBy, createdAt: at } }];
    }
    case 'RequestReprocess': {
      if (state.status !== 'active') throw knowledgeSourceNotFound();
      const chunkSize = command.chunking.chunkSize ?? state.source.chunkSize;
      // An overlap as large as the chunk would repeat whole chunks.
      const chunkOverlap = Math.min(command.chunking.chunkOverlap ?? state.source.chunkOverlap, chunkSize - 1);
      const { kinId } = state.source;
      return [{ type: 'KnowledgeSourceReprocessRequested', data: { sourceId, kinId, requestId: command.requestId, chunkSize, chunkOverlap, requestedAt: at } }];
    }
    case 'StartProcessing': {
      // Deleted, superseded by a newer request, or already done: nothing to do (a redelivery).
      if (state.status !== 'active' || state.requestId !== command.requestId) return [];
      if (state.run?.requestId === command.requestId && state.run.finished) return [];
      const { kinId, chunkSize, chunkOverlap } = state.source;
      const { requestId, runId } = command;
      return [{ type: 'KnowledgeSourceProcessingStarted', data: { sourceId, kinId, requestId, runId, chunkSize, chunkOverlap, startedAt: at } }];
    }
    case 'FinishProcessing': {
      assertCurrentRun(state, command.runId);
      const { runId, chunkCount, tokenCount, batchCount, embeddedCount, embeddingModel } = command;
      const data = { sourceId, kinId: state.source.kinId, runId, chunkCount, tokenCount, batchCount, embeddedCount, embeddingModel, processedAt: at };
      return [{ type: 'KnowledgeSourceProcessed', data }];
    }
    case 'FailProcessing':
      assertCurrentRun(state, command.runId);
      return [{ type: 'KnowledgeSourceFailed', data: { sourceId, kinId: state.source.kinId, runId: command.runId, errorMessage: command.errorMessage, failedAt: at } }];
    case 'DeleteSource':
      if (state.status !== 'active') throw knowledgeSourceNotFound();
      return [{ type: 'KnowledgeSourceDeleted', data: { sourceId, kinId: state.source.kinId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const knowledgeDecider: Decider<KnowledgeState, KnowledgeCommand, KnowledgeEvent> = {
  initialState: initialKnowledgeState,
  evolve: evolveKnowledge,
  decide: decideKnowledge,
};

export const runKnowledgeCommand = (deps: { runCommand: RunCommand }, command: KnowledgeCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: knowledgeStream(command.sourceId), decider: knowledgeDecider, parse: parseKnowledgeEvent, command, metadata });

// ── Chunk batches ─────────────────────────────────────────────────────────────────────────────

export type ChunkBatchCommand = {
  type: 'RecordChunkBatch';
  sourceId: string;
  kinId: string;
  runId: string;
  batch: number;
  chunks: RecordedChunk[];
  now: Date;
};

/** A batch stream holds one event; recording it again (a retry) records nothing. */
export const chunkBatchDecider: Decider<{ recorded: boolean }, ChunkBatchCommand, KnowledgeEvent> = {
  initialState: () => ({ recorded: false }),
  evolve: (state, event) => (event.type === 'KnowledgeChunksRecorded' ? { recorded: true } : state),
  decide(command, state) {
    if (state.recorded) return [];
    const { sourceId, kinId, runId, batch, chunks } = command;
    return [{ type: 'KnowledgeChunksRecorded', data: { sourceId, kinId, runId, batch, chunks, recordedAt: command.now.toISOString() } }];
  },
};

export const recordChunkBatch = (deps: { runCommand: RunCommand }, command: ChunkBatchCommand, metadata: CommandMetadata) =>
  deps.runCommand({
    stream: knowledgeChunkBatchStream(command.runId, command.batch),
    decider: chunkBatchDecider,
    parse: parseKnowledgeEvent,
    command,
    metadata,
  });

// ── Handlers: the decisions above, run against the stores ──────────────────────────────────────

export async function addKnowledgeSource(
  deps: { runCommand: RunCommand },
  input: { sourceId: string; fields: KnowledgeSourceFields },
  metadata: CommandMetadata,
) {
  const createdBy = metadata.actor.kind === 'system' ? null : metadata.actor.id;
  const command = { type: 'AddSource' as const, sourceId: input.sourceId, requestId: uuidv7(), fields: input.fields, createdBy, now: metadata.now };
  return runKnowledgeCommand(deps, command, metadata);
}

export const requestKnowledgeReprocess = (deps: { runCommand: RunCommand }, sourceId: string, chunking: ChunkingChange, metadata: CommandMetadata) =>
  runKnowledgeCommand(deps, { type: 'RequestReprocess', sourceId, requestId: uuidv7(), chunking, now: metadata.now }, metadata);

export const deleteKnowledgeSource = (deps: { runCommand: RunCommand }, sourceId: string, metadata: CommandMetadata) =>
  runKnowledgeCommand(deps, { type: 'DeleteSource', sourceId, now: metadata.now }, metadata);
