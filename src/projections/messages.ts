import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import {
  CONVERSATION_CLEARED,
  DEPOSITED,
  messageEventTypes,
  parseConversationEvent,
  parseDepositEvent,
  parseMessageEvent,
  type SourceType,
  type ToolCall,
} from '../events/messages.js';
import { parseQuickSessionEvent } from '../events/quickSessions.js';

export const MESSAGES = 'messages';
export const QUEUE = 'queue_items';

/** A message of a conversation (main: sessionId and taskId null). Ordered by (createdAt, id). */
export type MessageDoc = Doc & {
  id: string;
  kinId: string;
  sessionId: string | null;
  taskId: string | null;
  queueItemId: string | null;
  role: 'user' | 'assistant' | 'system';
  content: string | null;
  sourceType: SourceType;
  sourceId: string | null;
  toolCalls: ToolCall[] | null;
  fileIds: string[];
  metadata: Record<string, unknown>;
  createdAt: string;
};

export type QueueItemDoc = Doc & {
  id: string;
  kinId: string;
  sessionId: string | null;
  status: 'pending' | 'processing' | 'done' | 'failed' | 'removed';
  priority: number;
  content: string;
  fileIds: string[];
  sourceType: SourceType;
  sourceId: string | null;
  userMessageId: string | null;
  queuedAt: string;
  /** A task's turn (its messages carry the taskId); absent on items queued before tasks existed. */
  taskId?: string | null;
  metadata?: Record<string, unknown>;
  /** The conversation was cleared while this turn ran: its answer belongs to what was cleared. */
  cleared?: boolean;
};

/** Closes a turn's queue item and records the assistant's row (its answer, or the error notice). */
async function closeTurn(
  store: ReadStore,
  queueItemId: string,
  status: 'done' | 'failed',
  message: Pick<MessageDoc, 'id' | 'kinId' | 'content' | 'sourceType' | 'sourceId' | 'toolCalls' | 'metadata' | 'createdAt'>,
) {
  const queue = store.collection<QueueItemDoc>(QUEUE);
  const item = await queue.get(queueItemId);
  await queue.update({ id: queueItemId }, { $set: { status } });
  if (item?.cleared) return;
  // A task's turn speaks as the Kin that executes the task (recorded on the turn when it was queued).
  const speaker = message.sourceType === 'kin' ? item?.metadata?.executingKinId : undefined;
  await store.collection<MessageDoc>(MESSAGES).replace({
    ...message,
    ...(typeof speaker === 'string' ? { sourceId: speaker } : {}),
    sessionId: item?.sessionId ?? null,
    taskId: item?.taskId ?? null,
    queueItemId,
    role: 'assistant',
    fileIds: [],
  });
}

export const messagesProjection: Projection = {
  name: 'messages',
  version: 2,
  // A purged quick session takes its messages and queue items with it; a cleared conversation its messages.
  handles: [...messageEventTypes, DEPOSITED, 'QuickSessionPurged', CONVERSATION_CLEARED],
  collections: [MESSAGES, QUEUE],
  async setup(store) {
    await store.collection(MESSAGES).ensureIndex({ fields: { kinId: 1, sessionId: 1, createdAt: 1 } });
    await store.collection(MESSAGES).ensureIndex({ fields: { taskId: 1, createdAt: 1 } });
    await store.collection(QUEUE).ensureIndex({ fields: { kinId: 1, status: 1 } });
    await store.collection(QUEUE).ensureIndex({ fields: { status: 1 } });
  },
  async apply(recorded, store) {
    const messages = store.collection<MessageDoc>(MESSAGES);
    const queue = store.collection<QueueItemDoc>(QUEUE);
    if (recorded.type === 'QuickSessionPurged') {
      const purged = parseQuickSessionEvent(recorded);
      if (purged.type !== 'QuickSessionPurged') return;
      await messages.delete({ kinId: purged.data.kinId, sessionId: purged.data.sessionId });
      await queue.delete({ kinId: purged.data.kinId, sessionId: purged.data.sessionId });
      return;
    }
    if (recorded.type === CONVERSATION_CLEARED) {
      const { kinId } = parseConversationEvent(recorded).data;
      await messages.delete({ kinId, sessionId: null, taskId: null });
      // Messages still queued are kept: they start the new conversation.
      await queue.update({ kinId, sessionId: null, taskId: null, status: 'processing' }, { $set: { cleared: true } });
      return;
    }
    if (recorded.type === DEPOSITED) {
      const { messageId, kinId, taskId, content, sourceType, sourceId, metadata, createdAt } = parseDepositEvent(recorded).data;
      const message = { id: messageId, kinId, sessionId: null, taskId, queueItemId: null, role: 'user' as const, content, sourceType, sourceId };
      await messages.replace({ ...message, toolCalls: null, fileIds: [], metadata, createdAt });
      return;
    }
    const event = parseMessageEvent(recorded);
    switch (event.type) {
      case 'MessageQueued': {
        const { queueItemId, kinId, sessionId, content, fileIds, sourceType, sourceId, priority, queuedAt, taskId, metadata } = event.data;
        const item = { id: queueItemId, kinId, sessionId, content, fileIds, sourceType, sourceId, priority, queuedAt, taskId, metadata };
        await queue.replace({ ...item, status: 'pending', userMessageId: null });
        return;
      }
      case 'QueuedMessageRemoved':
        await queue.update({ id: event.data.queueItemId }, { $set: { status: 'removed' } });
        return;
      case 'TurnStarted': {
        const item = await queue.get(event.data.queueItemId);
        if (!item) return;
        await queue.update({ id: item.id }, { $set: { status: 'processing', userMessageId: event.data.userMessageId } });
        await messages.replace({
          id: event.data.userMessageId,
          kinId: item.kinId,
          sessionId: item.sessionId,
          taskId: item.taskId ?? null,
          queueItemId: item.id,
          role: 'user',
          content: item.content,
          sourceType: item.sourceType,
          sourceId: item.sourceId,
          toolCalls: null,
          fileIds: item.fileIds,
          metadata: item.metadata ?? {},
          createdAt: event.data.startedAt,
        });
        return;
      }
      case 'AssistantMessageRecorded': {
        const { queueItemId, kinId, messageId, content, toolCalls, metadata, createdAt, model, usage, aborted } = event.data;
        await closeTurn(store, queueItemId, 'done', {
          id: messageId,
          kinId,
          content,
          sourceType: 'kin',
          sourceId: kinId,
          toolCalls: toolCalls.length ? toolCalls : null,
          metadata: { ...metadata, model, usage, ...(aborted ? { aborted } : {}) },
          createdAt,
        });
        return;
      }
      case 'TurnFailed': {
        const { queueItemId, kinId, messageId, error, createdAt } = event.data;
        await closeTurn(store, queueItemId, 'failed', {
          id: messageId,
          kinId,
          content: `⚠️ ${error}`,
          sourceType: 'system',
          sourceId: null,
          toolCalls: null,
          metadata: { error },
          createdAt,
        });
        return;
      }
    }
  },
};
