import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * One stream per queued message: `turn-<queueItemId>`. A turn is queued, started (the user's
 * message becomes part of the conversation), and closed exactly once: by the assistant's message or
 * by a visible error. Deciding on that small stream is what guarantees that a message is never
 * answered twice, even when a turn cut by a crash is run again.
 */
export const turnStream = (queueItemId: string) => `turn-${queueItemId}`;

export const sourceTypeSchema = z.enum(['user', 'kin', 'task', 'system', 'webhook', 'channel', 'compacting', 'cron']);
export type SourceType = z.infer<typeof sourceTypeSchema>;

export const toolCallSchema = z.object({
  id: z.string(),
  name: z.string(),
  args: z.unknown(),
  result: z.unknown().optional(),
  /** Length of the assistant's text when the call happened (the UI interleaves tool cards). */
  offset: z.number().int(),
});
export type ToolCall = z.infer<typeof toolCallSchema>;

export const usageSchema = z.object({ inputTokens: z.number(), outputTokens: z.number(), totalTokens: z.number() });

export const messageEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('MessageQueued'),
    data: z.object({
      queueItemId: z.string(),
      kinId: z.string(),
      sessionId: z.string().nullable(),
      content: z.string(),
      fileIds: z.array(z.string()),
      sourceType: sourceTypeSchema,
      sourceId: z.string().nullable(),
      /** Higher first: user and channel 100, kin/task/webhook 50. */
      priority: z.number().int(),
      queuedAt: z.string(),
      /** The task whose conversation this turn belongs to (kinId is then the task's parent Kin). */
      taskId: z.string().nullable().default(null),
      /** Carried to the user message: resolvedTaskId / relatedTaskId, inter-Kin requestId / inReplyTo. */
      metadata: z.record(z.string(), z.unknown()).default({}),
    }),
  }),
  z.object({ type: z.literal('QueuedMessageRemoved'), data: z.object({ queueItemId: z.string(), kinId: z.string(), removedAt: z.string() }) }),
  z.object({
    type: z.literal('TurnStarted'),
    data: z.object({ queueItemId: z.string(), kinId: z.string(), userMessageId: z.string(), startedAt: z.string() }),
  }),
  z.object({
    type: z.literal('AssistantMessageRecorded'),
    data: z.object({
      queueItemId: z.string(),
      kinId: z.string(),
      messageId: z.string(),
      content: z.string(),
      toolCalls: z.array(toolCallSchema),
      model: z.string(),
      providerId: z.string().nullable(),
      usage: usageSchema.nullable(),
      /** The user stopped the generation: `content` is what had been produced. */
      aborted: z.boolean(),
      metadata: z.record(z.string(), z.unknown()),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('TurnFailed'),
    data: z.object({ queueItemId: z.string(), kinId: z.string(), messageId: z.string(), error: z.string(), createdAt: z.string() }),
  }),
]);

export type MessageEvent = z.infer<typeof messageEventSchema>;
export const messageEventTypes = ['MessageQueued', 'QueuedMessageRemoved', 'TurnStarted', 'AssistantMessageRecorded', 'TurnFailed'] as const;

export const parseMessageEvent = (recorded: RecordedEvent): MessageEvent =>
  messageEventSchema.parse({ type: recorded.type, data: recorded.data });

/**
 * A message put in a conversation without a turn (an informational message: an async task's
 * result, an inter-Kin "inform"). Its own stream, `message-<messageId>`, so recording it is idempotent.
 */
export const depositStream = (messageId: string) => `message-${messageId}`;

export const depositEventSchema = z.object({
  type: z.literal('InformationalMessageDeposited'),
  data: z.object({
    messageId: z.string(),
    kinId: z.string(),
    taskId: z.string().nullable(),
    content: z.string(),
    sourceType: sourceTypeSchema,
    sourceId: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
  }),
});
export type DepositEvent = z.infer<typeof depositEventSchema>;
export const DEPOSITED = 'InformationalMessageDeposited';

export const parseDepositEvent = (recorded: RecordedEvent): DepositEvent =>
  depositEventSchema.parse({ type: recorded.type, data: recorded.data });

/**
 * A Kin's main conversation as a whole: `conversation-<kinId>`. Clearing it is an event, so the
 * cleared messages stay in the log (audit, replay) while the read model and the model's context
 * start over from it.
 */
export const conversationStream = (kinId: string) => `conversation-${kinId}`;

export const conversationEventSchema = z.object({
  type: z.literal('ConversationCleared'),
  data: z.object({ kinId: z.string(), clearedAt: z.string() }),
});
export type ConversationEvent = z.infer<typeof conversationEventSchema>;
export const CONVERSATION_CLEARED = 'ConversationCleared';

export const parseConversationEvent = (recorded: RecordedEvent): ConversationEvent =>
  conversationEventSchema.parse({ type: recorded.type, data: recorded.data });
