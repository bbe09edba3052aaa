import { generateText } from 'ai';
import { v7 as uuidv7 } from 'uuid';
import { runCompactionCommand, type Boundary } from '../commands/compacting.js';
import { kinNotFound } from '../commands/kins.js';
import type { CommandMetadata } from '../es/decider.js';
import { conflict, DomainError } from '../es/errors.js';
import type { Filter, ReadStore } from '../es/readStore.js';
import { activeCompaction } from '../projections/compacting.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { MESSAGES, type MessageDoc } from '../projections/messages.js';
import { readSettings } from '../projections/settings.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { Services } from '../services.js';
import type { ContextUsage } from './contextUsage.js';
import { contextWindowOf, estimateTokens } from './contextWindow.js';
import { resolveLanguageModel } from './providers.js';
import type { SnapshotMemoriesRef } from './snapshotMemories.js';

/** messages.md §7: a run summarizes at most this many of the oldest non-compacted messages… */
export const COMPACTING_BATCH_SIZE = 20;
/** …and always leaves this many recent ones out of the summary (they stay raw context). */
export const COMPACTING_MIN_KEEP = 15;
/** More non-compacted messages than this triggers a compaction after a turn. */
export const COMPACTING_MESSAGE_THRESHOLD = COMPACTING_BATCH_SIZE + COMPACTING_MIN_KEEP;
/** One message's text in the summary request is cut beyond this, so that a batch fits small models. */
const MESSAGE_CHARS_FOR_SUMMARY = 8_000;
/** kins.md: the estimate's allowance for the platform's part of the system prompt. */
const SYSTEM_PROMPT_OVERHEAD = 1500;
const ESTIMATE_WINDOW = 50;

// ── The conversation beyond the boundary ──────────────────────────────────────────────────────

/**
 * "Non-compacted messages": the main conversation after the active boundary, as the model sees it
 * (the same rows `isConversational` keeps in src/agents/history.ts: no system rows, no error
 * notices, no compaction traces).
 */
function nonCompactedFilter(kinId: string, boundary: Boundary | null): Filter {
  return {
    kinId,
    sessionId: null,
    taskId: null,
    role: { $ne: 'system' },
    sourceType: { $nin: ['system', 'compacting'] },
    ...(boundary ? { $or: [{ createdAt: { $gt: boundary.createdAt } }, { createdAt: boundary.createdAt, id: { $gt: boundary.id } }] } : {}),
  };
}

export const countNonCompacted = (readStore: ReadStore, kinId: string, boundary: Boundary | null) =>
  readStore.collection<MessageDoc>(MESSAGES).count(nonCompactedFilter(kinId, boundary));

// ── The trigger ───────────────────────────────────────────────────────────────────────────────

export type TriggerInput = {
  nonCompacted: number;
  /** What the Kin's last turn sent to its model (null: no turn since start). */
  usage: Pick<ContextUsage, 'contextTokens' | 'contextWindow'> | null;
  thresholdPercent: number;
};

/**
 * Whether to compact after a turn (DECISIONS.md §9): too many raw messages (> batch + keep), or a
 * context fuller than the threshold while there is something to summarize (> keep).
 */
export function compactionTrigger({ nonCompacted, usage, thresholdPercent }: TriggerInput): 'messages' | 'context' | null {
  if (nonCompacted > COMPACTING_MESSAGE_THRESHOLD) return 'messages';
  if (nonCompacted <= COMPACTING_MIN_KEEP || !usage) return null;
  return usage.contextTokens > (usage.contextWindow * thresholdPercent) / 100 ? 'context' : null;
}

// ── The summary ───────────────────────────────────────────────────────────────────────────────

export const SUMMARY_INSTRUCTIONS = [
  'You maintain the running summary of a conversation between a Kin (an AI agent) and the people and agents it talks with.',
  'Write the updated summary: merge the previous summary, if any, with the new messages, dropping nothing that still matters.',
  'Be factual and concise. Use these Markdown sections:',
  '## Key facts and decisions (say who said or decided what)',
  '## Completed work',
  '## Open threads',
  '## Conversation dynamics',
  'Answer with the summary only.',
].join('\n');

/** The messages as the models read them: `[ISO time] <pseudonym|Kin name|source>: content`. */
export async function transcriptLines(readStore: ReadStore, kin: KinDoc, messages: MessageDoc[]): Promise<string[]> {
  const userIds = [...new Set(messages.filter((m) => m.sourceType === 'user' && m.sourceId).map((m) => m.sourceId!))];
  const users = userIds.length ? await readStore.collection<UserDoc>(USERS).find({ id: { $in: userIds } }) : [];
  const names = new Map(users.map((user) => [user.id, user.name]));
  return messages.map((message) => {
    const speaker =
      message.role === 'assistant' ? kin.name : message.sourceType === 'user' ? (names.get(message.sourceId ?? '') ?? 'user') : message.sourceType;
    const text = message.content ?? '';
    const shown = text.length > MESSAGE_CHARS_FOR_SUMMARY ? `${text.slice(0, MESSAGE_CHARS_FOR_SUMMARY)}… [truncated]` : text;
    const tools = message.toolCalls?.length ? ` [used tools: ${message.toolCalls.map((call) => call.name).join(', ')}]` : '';
    return `[${message.createdAt}] ${speaker}: ${shown}${tools}`;
  });
}

async function summaryRequest(readStore: ReadStore, kin: KinDoc, previous: string | null, messages: MessageDoc[]): Promise<string> {
  const lines = await transcriptLines(readStore, kin, messages);
  return [`## Previous summary\n${previous ?? '(none)'}`, `## New messages\n${lines.join('\n')}`].join('\n\n');
}

/**
 * The messages a snapshot summarized: the last `count` conversational messages up to its boundary
 * (a snapshot summarizes the oldest ones after the previous boundary, ending at its own), oldest
 * first. How memory extraction finds them again from the SnapshotTaken event alone.
 */
export async function summarizedMessages(readStore: ReadStore, kinId: string, upTo: Boundary, count: number): Promise<MessageDoc[]> {
  const upToBoundary = { $or: [{ createdAt: { $lt: upTo.createdAt } }, { createdAt: upTo.createdAt, id: { $lte: upTo.id } }] };
  const latest = await readStore
    .collection<MessageDoc>(MESSAGES)
    .find({ $and: [nonCompactedFilter(kinId, null), upToBoundary] }, { sort: { createdAt: -1, id: -1 }, limit: count });
  return latest.reverse();
}

const failureText = (thrown: unknown): string => {
  const error = (thrown as { lastError?: unknown }).lastError ?? thrown;
  const status = (error as { statusCode?: number }).statusCode;
  const message = error instanceof Error ? error.message : String(error);
  return status ? `the model provider answered ${status}: ${message}` : message;
};

const nothingToCompact = () => new DomainError(422, 'NOTHING_TO_COMPACT', 'Not enough messages to compact');

// ── The compactor: one run at a time per Kin, with its main queue paused ───────────────────────

export type CompactionResult = { summary: string; memoriesExtracted: number };

export type Compactor = {
  /** While true the turn runner leaves the Kin's main queue alone. */
  isCompacting(kinId: string): boolean;
  /** POST /compacting/run: ignores the message trigger, still needs more than `minKeep` messages. */
  run(kinId: string, metadata: CommandMetadata): Promise<CompactionResult>;
  /** The post-turn check: starts a compaction in the background when the trigger says so. */
  afterTurn(kinId: string, position: number | null): Promise<void>;
  stop(): Promise<void>;
};

/** `services` is a thunk because the turn runner (a service) and the compactor need each other. */
export function createCompactor(services: () => Services): Compactor {
  const running = new Map<string, { controller: AbortController; done: Promise<unknown> }>();
  let stopped = false;

  async function compact(kinId: string, metadata: CommandMetadata, signal: AbortSignal): Promise<CompactionResult> {
    const { readStore, live } = services();
    const kin = await readStore.collection<KinDoc>(KINS).get(kinId);
    if (!kin) throw kinNotFound();
    const active = await activeCompaction(readStore, kinId);
    const boundary = active?.boundary ?? null;
    const summarizable = (await countNonCompacted(readStore, kinId, boundary)) - COMPACTING_MIN_KEEP;
    if (summarizable <= 0) throw nothingToCompact();
    const batch = await readStore
      .collection<MessageDoc>(MESSAGES)
      .find(nonCompactedFilter(kinId, boundary), { sort: { createdAt: 1, id: 1 }, limit: Math.min(COMPACTING_BATCH_SIZE, summarizable) });
    const resolved = await resolveLanguageModel(services(), { providerId: kin.providerId, model: kin.model });
    if (!resolved) throw nothingToCompact();

    const publish = (type: string, data: Record<string, unknown> = {}) => live.publish({ type, kinId, data: { kinId, ...data } });
    publish('compacting:start');
    try {
      let summary: string;
      try {
        const result = await generateText({
          model: resolved.model,
          system: SUMMARY_INSTRUCTIONS,
          prompt: await summaryRequest(readStore, kin, active?.summary ?? null, batch),
          maxRetries: 1,
          abortSignal: signal,
        });
        summary = result.text.trim();
      } catch (error) {
        // A provider failure is not our bug: 502, not 500.
        throw new DomainError(502, 'COMPACTING_FAILED', `The conversation could not be summarized: ${failureText(error)}`);
      }
      if (!summary) throw nothingToCompact();
      const last = batch[batch.length - 1]!;
      const snapshotId = uuidv7();
      const takenAt = new Date();
      const result = await runCompactionCommand(
        services(),
        {
          type: 'TakeSnapshot',
          kinId,
          snapshotId,
          summary,
          upTo: { createdAt: last.createdAt, id: last.id },
          messageCount: batch.length,
          model: kin.model,
          basedOn: active?.snapshotId ?? null,
          now: takenAt,
        },
        metadata,
      );
      await services().settle(result.position);
      // The numbers of the last turn no longer describe what the next one will send.
      services().contextUsage.delete(kinId);
      const memoriesExtracted = await snapshotMemories(
        { snapshotId, kinId, upTo: { createdAt: last.createdAt, id: last.id }, messageCount: batch.length, takenAt: takenAt.toISOString() },
        metadata,
        signal,
      );
      return { summary, memoriesExtracted };
    } catch (error) {
      publish('compacting:error', { error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  /**
   * Step 5 (memory-knowledge.md §3): extraction, consolidation, recalibration and pruning, before
   * the Kin's queue resumes. compacting:done is sent when its outcome is recorded. If it fails
   * here, the snapshot reactor does it again later: the summary itself stands.
   */
  async function snapshotMemories(snapshot: SnapshotMemoriesRef, metadata: CommandMetadata, signal: AbortSignal): Promise<number> {
    try {
      return (await services().memoryJobs.processSnapshot(snapshot, metadata, signal))?.memoriesExtracted ?? 0;
    } catch (error) {
      if (signal.aborted) throw error;
      services().log.error({ err: error, kinId: snapshot.kinId, snapshotId: snapshot.snapshotId }, 'memory extraction after a compaction failed; it will be retried');
      return 0;
    }
  }

  function runExclusive(kinId: string, metadata: CommandMetadata): Promise<CompactionResult> {
    if (stopped) return Promise.reject(conflict('SHUTTING_DOWN', 'The server is shutting down'));
    if (running.has(kinId)) return Promise.reject(conflict('COMPACTING_IN_PROGRESS', 'This Kin is already being compacted'));
    const controller = new AbortController();
    // Set before the first await, so that the turn runner sees the pause from now on.
    const done = compact(kinId, metadata, controller.signal).finally(() => {
      running.delete(kinId);
      if (!stopped) services().turns.kick();
    });
    running.set(kinId, { controller, done: done.catch(() => {}) });
    return done;
  }

  return {
    isCompacting: (kinId) => running.has(kinId),
    run: runExclusive,
    async afterTurn(kinId, position) {
      const { readStore, log, settle, contextUsage } = services();
      try {
        if (stopped || running.has(kinId)) return;
        await settle(position);
        const kin = await readStore.collection<KinDoc>(KINS).get(kinId);
        if (!kin) return;
        const active = await activeCompaction(readStore, kinId);
        const nonCompacted = await countNonCompacted(readStore, kinId, active?.boundary ?? null);
        const thresholdPercent = kin.compactingConfig?.thresholdPercent ?? (await readSettings(readStore)).compactingThresholdPercent;
        const reason = compactionTrigger({ nonCompacted, usage: contextUsage.get(kinId) ?? null, thresholdPercent });
        if (!reason || running.has(kinId)) return;
        const metadata = { actor: { kind: 'system' as const, id: 'compactor' }, correlationId: uuidv7(), now: new Date() };
        runExclusive(kinId, metadata).catch((error: unknown) => log.warn({ err: error, kinId, reason }, 'automatic compaction failed'));
      } catch (error) {
        log.error({ err: error, kinId }, 'post-turn compaction check failed');
      }
    },
    async stop() {
      stopped = true;
      const runs = [...running.values()];
      for (const run of runs) run.controller.abort('shutdown');
      await Promise.all(runs.map((run) => run.done));
    },
  };
}

// ── Context usage (kins.md, GET /api/kins/:id/context-usage) ──────────────────────────────────

/**
 * The numbers of the Kin's last turn when one ran since start (and nothing changed the compaction
 * since), else the documented estimate: identity + overhead + the active summary for the system
 * prompt, the latest 50 messages after the boundary. The estimate's `summary` repeats the summary's
 * share of `systemPrompt`; `total` counts it once.
 */
export async function contextUsageOf(services: Pick<Services, 'readStore' | 'contextUsage'>, kin: KinDoc) {
  const { readStore } = services;
  const active = await activeCompaction(readStore, kin.id);
  const boundary = active?.boundary ?? null;
  const compactingMessages = await countNonCompacted(readStore, kin.id, boundary);
  let usage = services.contextUsage.get(kin.id);
  if (!usage) {
    const summary = active ? estimateTokens(active.summary) : 0;
    const identity = [kin.name, kin.role, kin.character, kin.expertise].join(' ');
    const systemPrompt = estimateTokens(identity) + SYSTEM_PROMPT_OVERHEAD + summary;
    const latest = await readStore
      .collection<MessageDoc>(MESSAGES)
      .find(nonCompactedFilter(kin.id, boundary), { sort: { createdAt: -1, id: -1 }, limit: ESTIMATE_WINDOW });
    const messages = latest.reduce((sum, message) => sum + estimateTokens(message.content ?? ''), 0);
    const total = systemPrompt + messages;
    usage = {
      contextTokens: total,
      contextWindow: contextWindowOf(kin.model),
      contextBreakdown: { systemPrompt, messages, tools: 0, summary, total },
      pipelineStatus: null,
    };
  }
  return { ...usage, compactingMessages, compactingMessageThreshold: COMPACTING_MESSAGE_THRESHOLD };
}
