import { stepCountIs, streamText, tool, type LanguageModel, type ModelMessage, type ToolSet } from 'ai';
import { v7 as uuidv7 } from 'uuid';
import type { CommandMetadata } from '../es/decider.js';
import { runTurnCommand } from '../commands/messages.js';
import type { ToolCall } from '../events/messages.js';
import { avatarUrlOf, KINS, type KinDoc } from '../projections/kins.js';
import type { QueueItemDoc } from '../projections/messages.js';
import type { Services } from '../services.js';
import { loadHistory, toModelMessages } from './history.js';
import { buildSystemPrompt } from './systemPrompt.js';
import { isToolEnabled, modelInputSchema, nativeTools, type ToolContext } from './tools.js';
import { excludedTools, prepareTaskTurn } from './taskTurn.js';
import { contextBreakdown, type ContextUsage } from './contextUsage.js';
import type { InjectedMemory } from './memorySearch.js';
import type { TurnKnowledge } from './knowledgeSearch.js';

export type ResolvedModel = { model: LanguageModel; modelId: string; providerId: string | null };

/** What a turn needs beyond the stores; assembled once in services.ts. */
export type TurnDeps = {
  services: Services;
  resolveModel: (kin: KinDoc) => Promise<ResolvedModel | null>;
  globalPrompt: () => Promise<string>;
  /** The active compaction: its summary replaces the messages up to its boundary. */
  compaction: (kinId: string) => Promise<{ summary: string; boundary: { createdAt: string; id: string } } | null>;
  /** Extra parts (attachments) of a user message for the model. */
  attachments: (fileIds: string[]) => Promise<Exclude<Extract<ModelMessage, { role: 'user' }>['content'], string>>;
  rememberContextUsage: (kinId: string, usage: ContextUsage) => void;
  /**
   * The memories relevant to a main turn's incoming text, counted as retrieved once per
   * `retrievalId` (the queue item); [] when there are none or memory search is unavailable.
   */
  recall: (kin: KinDoc, userText: string, retrievalId: string) => Promise<InjectedMemory[]>;
  /** The knowledge-base chunks most relevant to a main turn's incoming text (memory-knowledge.md §5: top 5). */
  knowledge: (kin: KinDoc, userText: string) => Promise<TurnKnowledge[]>;
  /** After an answered main-conversation turn (the compaction check); runs before the next turn may start. */
  afterTurn: (kinId: string, position: number | null) => Promise<void>;
  onKinError: (kin: KinDoc | null, kinId: string, error: string) => Promise<void>;
  /** A turn whose model sends nothing for this long is ended with an error. */
  idleTimeoutMs: number;
  maxSteps: number;
};

export const NO_PROVIDER = 'No LLM provider available for this model';
const STOPPED = 'stopped';
export const SHUTDOWN = 'shutdown';

const systemMetadata = (item: QueueItemDoc): CommandMetadata => ({
  actor: { kind: 'system', id: 'turn-runner' },
  correlationId: item.id,
  now: new Date(),
});

/**
 * The model's tools for this Kin: enabled native tools (fewer in a quick session), executed with
 * the Kin's context. Which are enabled is read from the Kin's tool configuration at every turn;
 * their schemas are converted once (tools.ts), so this only binds them to the turn.
 */
function toolSet(kin: KinDoc, context: ToolContext, excluded: ReadonlySet<string>): ToolSet {
  const tools: ToolSet = {};
  for (const native of nativeTools) {
    if (!isToolEnabled(native, kin.toolConfig)) continue;
    if (excluded.has(native.name)) continue;
    tools[native.name] = tool({
      description: native.description,
      inputSchema: modelInputSchema(native),
      execute: async (input: unknown) => native.execute(input as never, context),
    });
  }
  return tools;
}

const friendly = (thrown: unknown): string => {
  // After retries the SDK wraps the provider's error; the last one is what the user needs.
  const error = (thrown as { lastError?: unknown }).lastError ?? thrown;
  const status = (error as { statusCode?: number }).statusCode;
  const message = error instanceof Error ? error.message : String(error);
  return status ? `The model provider answered ${status}: ${message}` : `The model call failed: ${message}`;
};

/**
 * Runs one queued message through the model and closes its turn exactly once: with the assistant's
 * message (streamed to the live feed token by token meanwhile) or with a visible error. A turn
 * aborted by a shutdown records nothing, so that it is resumed at the next start.
 */
export async function runTurn(deps: TurnDeps, item: QueueItemDoc, signal: AbortSignal): Promise<void> {
  const { services } = deps;
  const metadata = systemMetadata(item);
  /** The Kin's main conversation (not a quick session, not a task's conversation). */
  const main = !item.sessionId && !item.taskId;
  const fail = async (error: string, kin: KinDoc | null) => {
    await runTurnCommand(services, { type: 'FailTurn', queueItemId: item.id, messageId: uuidv7(), error, now: new Date() }, metadata);
    // A quick session or a task shows its own errors; only a missing provider concerns everyone.
    if (main || error === NO_PROVIDER) await deps.onKinError(kin, item.kinId, error);
  };

  // A task's turn runs as its executing Kin, in its parent Kin's conversation (item.kinId).
  const task = item.taskId ? await prepareTaskTurn(services, item) : null;
  if (task && !task.ok) return fail(task.error, null);
  const kin = task?.ok ? task.kin : await services.readStore.collection<KinDoc>(KINS).get(item.kinId);
  if (!kin) return fail('This Kin no longer exists', null);
  const resolved = await deps.resolveModel(kin);
  if (!resolved) return fail(NO_PROVIDER, kin);

  // What a turn reads before calling the model does not depend on each other (but the history on
  // the compaction's boundary): read together, the searches' embedding calls overlap the reads.
  const compacted = main ? deps.compaction(kin.id) : Promise.resolve(null);
  const [compaction, memories, knowledge, globalPrompt, stored] = await Promise.all([
    compacted,
    item.sessionId ? [] : deps.recall(kin, item.content, item.id),
    item.sessionId ? [] : deps.knowledge(kin, item.content),
    deps.globalPrompt(),
    compacted.then((active) =>
      loadHistory(services.readStore, { kinId: item.kinId, sessionId: item.sessionId, taskId: item.taskId ?? null, after: active?.boundary }),
    ),
  ]);

  const prompt = buildSystemPrompt({
    kin,
    globalPrompt,
    summary: compaction?.summary ?? null,
    now: new Date(),
    sessionId: item.sessionId,
    memories,
    knowledge,
  });
  const system = task?.ok ? `${prompt}\n\n${task.instructions}` : prompt;
  const messages = await toModelMessages(services.readStore, stored, (message) => deps.attachments(message.fileIds));
  // What tools record is done by the Kin.
  const toolMetadata = { ...metadata, actor: { kind: 'kin' as const, id: kin.id } };
  const toolContext: ToolContext = { kinId: kin.id, readStore: services.readStore, services, metadata: toolMetadata, taskId: item.taskId ?? null };
  const tools = toolSet(kin, toolContext, task?.ok ? task.excluded : excludedTools(item));
  const usage = contextBreakdown({ system, messages, tools, summary: compaction?.summary ?? null, model: resolved.modelId });
  // /context-usage describes the main conversation; a quick session or a task must not overwrite it.
  if (main) deps.rememberContextUsage(kin.id, usage);
  const scope = item.sessionId ? { sessionId: item.sessionId } : item.taskId ? { taskId: item.taskId } : {};
  const publish = (type: string, data: Record<string, unknown>) => services.live.publish({ type, kinId: item.kinId, data: { ...data, ...scope } });
  if (main) publish('queue:update', { kinId: kin.id, queueSize: 0, isProcessing: true, ...usage });

  const messageId = uuidv7();
  const idle = new AbortController();
  let idleTimer = setTimeout(() => idle.abort('idle'), deps.idleTimeoutMs);
  const touch = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort('idle'), deps.idleTimeoutMs);
  };
  let text = '';
  let sentToken = false;
  const toolCalls: ToolCall[] = [];
  let totals: { inputTokens: number; outputTokens: number; totalTokens: number } | null = null;
  let finishReason: string | null = null;
  let failure: unknown = null;
  try {
    const result = streamText({
      model: resolved.model,
      system,
      messages,
      tools,
      stopWhen: stepCountIs(deps.maxSteps),
      maxRetries: 1,
      abortSignal: AbortSignal.any([signal, idle.signal]),
      // Stream errors arrive as 'error' parts below; the SDK's default would print them too.
      onError: () => {},
    });
    for await (const part of result.fullStream) {
      touch();
      switch (part.type) {
        case 'text-delta': {
          const first = !sentToken;
          sentToken = true;
          text += part.text;
          const source = first && !item.sessionId
            ? { sourceType: 'kin', sourceId: kin.id, sourceName: kin.name, sourceAvatarUrl: avatarUrlOf(kin) }
            : {};
          publish('chat:token', { messageId, token: part.text, ...source });
          break;
        }
        case 'tool-input-start':
          publish('chat:tool-call-start', { messageId, toolCallId: part.id, toolName: part.toolName, contentOffset: text.length });
          break;
        case 'tool-call':
          toolCalls.push({ id: part.toolCallId, name: part.toolName, args: part.input, offset: text.length });
          publish('chat:tool-call', { messageId, toolCallId: part.toolCallId, toolName: part.toolName, args: part.input, contentOffset: text.length });
          break;
        case 'tool-result':
        case 'tool-error': {
          const result = part.type === 'tool-result' ? part.output : { error: part.error instanceof Error ? part.error.message : String(part.error) };
          const call = toolCalls.find((c) => c.id === part.toolCallId);
          if (call) call.result = result;
          publish('chat:tool-result', { messageId, toolCallId: part.toolCallId, toolName: part.toolName, result });
          break;
        }
        case 'finish': {
          const { inputTokens = 0, outputTokens = 0, totalTokens = 0 } = part.totalUsage;
          totals = { inputTokens, outputTokens, totalTokens };
          finishReason = part.finishReason;
          break;
        }
        case 'error':
          failure = part.error;
          break;
      }
    }
  } catch (error) {
    failure = error;
  } finally {
    clearTimeout(idleTimer);
  }

  if (signal.aborted && signal.reason === SHUTDOWN) return;
  if (idle.signal.aborted) return fail(`The model sent nothing for ${Math.round(deps.idleTimeoutMs / 1000)} s; the turn was stopped`, kin);
  const stopped = signal.aborted && signal.reason === STOPPED;
  if (failure && !stopped) return fail(friendly(failure), kin);

  const metadataOut: Record<string, unknown> = { toolCallCount: toolCalls.length };
  if (memories.length > 0) metadataOut.injectedMemories = memories;
  if (!stopped && !text && toolCalls.length && finishReason === 'tool-calls') {
    text = `(Completed ${toolCalls.length} tool call(s) but the response was truncated due to the tool step limit of ${deps.maxSteps}.)`;
    metadataOut.stepLimitReached = true;
    metadataOut.maxSteps = deps.maxSteps;
    publish('chat:token', { messageId, token: text, isFirst: true });
  }
  const recorded = await runTurnCommand(
    services,
    {
      type: 'RecordAssistantMessage',
      queueItemId: item.id,
      messageId,
      content: text,
      toolCalls,
      model: resolved.modelId,
      providerId: resolved.providerId,
      usage: totals,
      aborted: stopped,
      metadata: metadataOut,
      now: new Date(),
    },
    metadata,
  );
  if (!stopped && main) await deps.afterTurn(kin.id, recorded.position);
}

export const STOP_REASON = STOPPED;
