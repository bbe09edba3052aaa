import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { conflict, notFound } from '../es/errors.js';
import {
  conversationStream,
  depositStream,
  parseConversationEvent,
  parseDepositEvent,
  parseMessageEvent,
  turnStream,
  type ConversationEvent,
  type DepositEvent,
  type MessageEvent,
  type SourceType,
  type ToolCall,
} from '../events/messages.js';
import { purgeCompaction } from './compacting.js';

/** The life of one queued message: queued → started → closed (answered or failed), or removed. */
export type TurnState =
  | { status: 'none' }
  | { status: 'queued' | 'started' | 'closed' | 'removed'; kinId: string; sessionId: string | null; userMessageId: string | null };

type Base = { queueItemId: string; now: Date };

export type TurnCommand =
  | (Base & {
      type: 'QueueMessage';
      kinId: string;
      sessionId: string | null;
      content: string;
      fileIds: string[];
      sourceType: SourceType;
      sourceId: string | null;
      priority: number;
      taskId?: string | null;
      metadata?: Record<string, unknown>;
    })
  | (Base & { type: 'RemoveQueuedMessage' })
  | (Base & { type: 'StartTurn'; userMessageId: string })
  | (Base & {
      type: 'RecordAssistantMessage';
      messageId: string;
      content: string;
      toolCalls: ToolCall[];
      model: string;
      providerId: string | null;
      usage: { inputTokens: number; outputTokens: number; totalTokens: number } | null;
      aborted: boolean;
      metadata: Record<string, unknown>;
    })
  | (Base & { type: 'FailTurn'; messageId: string; error: string });

export const PRIORITY = { user: 100, channel: 100, promptAnswer: 100, kin: 50, task: 50, webhook: 50, system: 50 } as const;

export function evolveTurn(state: TurnState, event: MessageEvent): TurnState {
  switch (event.type) {
    case 'MessageQueued':
      return { status: 'queued', kinId: event.data.kinId, sessionId: event.data.sessionId, userMessageId: null };
    case 'QueuedMessageRemoved':
      return state.status === 'none' ? state : { ...state, status: 'removed' };
    case 'TurnStarted':
      return state.status === 'none' ? state : { ...state, status: 'started', userMessageId: event.data.userMessageId };
    case 'AssistantMessageRecorded':
    case 'TurnFailed':
      return state.status === 'none' ? state : { ...state, status: 'closed' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

const queueItemNotFound = () => notFound('QUEUE_ITEM_NOT_FOUND', 'Queue item not found');

export function decideTurn(command: TurnCommand, state: TurnState): MessageEvent[] {
  const { queueItemId } = command;
  const at = command.now.toISOString();
  if (command.type === 'QueueMessage') {
    if (state.status !== 'none') return [];
    const { kinId, sessionId, content, fileIds, sourceType, sourceId, priority } = command;
    const extra = { taskId: command.taskId ?? null, metadata: command.metadata ?? {} };
    return [{ type: 'MessageQueued', data: { queueItemId, kinId, sessionId, content, fileIds, sourceType, sourceId, priority, queuedAt: at, ...extra } }];
  }
  if (state.status === 'none') throw queueItemNotFound();
  const { kinId } = state;
  switch (command.type) {
    case 'RemoveQueuedMessage':
      if (state.status !== 'queued') throw queueItemNotFound();
      return [{ type: 'QueuedMessageRemoved', data: { queueItemId, kinId, removedAt: at } }];
    case 'StartTurn':
      // Starting again is how a turn cut by a crash is resumed: nothing new to record.
      if (state.status === 'started') return [];
      if (state.status !== 'queued') throw conflict('TURN_CLOSED', 'This message was already answered or removed');
      return [{ type: 'TurnStarted', data: { queueItemId, kinId, userMessageId: command.userMessageId, startedAt: at } }];
    case 'RecordAssistantMessage': {
      if (state.status !== 'started') throw conflict('TURN_CLOSED', 'This turn is not in progress');
      const { messageId, content, toolCalls, model, providerId, usage, aborted, metadata } = command;
      return [
        {
          type: 'AssistantMessageRecorded',
          data: { queueItemId, kinId, messageId, content, toolCalls, model, providerId, usage, aborted, metadata, createdAt: at },
        },
      ];
    }
    case 'FailTurn':
      if (state.status === 'closed' || state.status === 'removed') return [];
      return [{ type: 'TurnFailed', data: { queueItemId, kinId, messageId: command.messageId, error: command.error, createdAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const turnDecider: Decider<TurnState, TurnCommand, MessageEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveTurn,
  decide: decideTurn,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

type Deps = { runCommand: RunCommand };

export const runTurnCommand = (deps: Deps, command: TurnCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: turnStream(command.queueItemId), decider: turnDecider, parse: parseMessageEvent, command, metadata });

export type QueueInput = {
  kinId: string;
  sessionId?: string | null;
  content: string;
  fileIds?: string[];
  sourceType: SourceType;
  sourceId: string | null;
  priority: number;
  taskId?: string | null;
  metadata?: Record<string, unknown>;
};

/** Puts a message in a Kin's queue; the turn runner answers it when the Kin is free. */
export async function queueMessage(deps: Deps, input: QueueInput, metadata: CommandMetadata) {
  const queueItemId = uuidv7();
  const result = await runTurnCommand(
    deps,
    {
      type: 'QueueMessage',
      queueItemId,
      kinId: input.kinId,
      sessionId: input.sessionId ?? null,
      content: input.content,
      fileIds: input.fileIds ?? [],
      sourceType: input.sourceType,
      sourceId: input.sourceId,
      priority: input.priority,
      taskId: input.taskId ?? null,
      metadata: input.metadata ?? {},
      now: metadata.now,
    },
    metadata,
  );
  return { queueItemId, position: result.position };
}

// ── Informational messages (no turn) ──────────────────────────────────────────────────────────

export type DepositInput = {
  /** Derived by the caller from what causes it, so that depositing again records nothing new. */
  messageId: string;
  kinId: string;
  taskId?: string | null;
  content: string;
  sourceType: SourceType;
  sourceId: string | null;
  metadata?: Record<string, unknown>;
};

type DepositCommand = DepositInput & { now: Date };

const depositDecider: Decider<{ deposited: boolean }, DepositCommand, DepositEvent> = {
  initialState: () => ({ deposited: false }),
  evolve: () => ({ deposited: true }),
  decide: (command, state) =>
    state.deposited
      ? []
      : [
          {
            type: 'InformationalMessageDeposited',
            data: {
              messageId: command.messageId,
              kinId: command.kinId,
              taskId: command.taskId ?? null,
              content: command.content,
              sourceType: command.sourceType,
              sourceId: command.sourceId,
              metadata: command.metadata ?? {},
              createdAt: command.now.toISOString(),
            },
          },
        ],
};

/** Puts a user-role message in a conversation without asking the Kin to answer it (SSE chat:message). */
export const depositMessage = (deps: Deps, input: DepositInput, metadata: CommandMetadata) =>
  deps.runCommand({
    stream: depositStream(input.messageId),
    decider: depositDecider,
    parse: parseDepositEvent,
    command: { ...input, now: metadata.now },
    metadata,
  });

// ── Clearing the main conversation ────────────────────────────────────────────────────────────

export type ConversationState = { lastClearedAt: string | null };
export type ConversationCommand = { type: 'ClearConversation'; kinId: string; now: Date };

export const evolveConversation = (_state: ConversationState, event: ConversationEvent): ConversationState => ({
  lastClearedAt: event.data.clearedAt,
});

/** Always clears: a conversation cleared twice is simply empty, and the decider cannot see messages. */
export const decideConversation = (command: ConversationCommand, _state: ConversationState): ConversationEvent[] => [
  { type: 'ConversationCleared', data: { kinId: command.kinId, clearedAt: command.now.toISOString() } },
];

export const conversationDecider: Decider<ConversationState, ConversationCommand, ConversationEvent> = {
  initialState: () => ({ lastClearedAt: null }),
  evolve: evolveConversation,
  decide: decideConversation,
};

/**
 * Clears a Kin's main conversation (messages.md §6): the active compaction summary first, so that
 * nothing of the old conversation is given to the model even if the second step never happens,
 * then the messages. Quick sessions and tasks keep theirs.
 */
export async function clearConversation(deps: Deps, kinId: string, metadata: CommandMetadata) {
  await purgeCompaction(deps, kinId, metadata);
  return deps.runCommand({
    stream: conversationStream(kinId),
    decider: conversationDecider,
    parse: parseConversationEvent,
    command: { type: 'ClearConversation', kinId, now: metadata.now },
    metadata,
  });
}
