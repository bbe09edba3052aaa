import type { LiveMapper, LiveMessage } from './feed.js';
import { CONVERSATION_CLEARED, DEPOSITED, parseConversationEvent, parseDepositEvent, parseMessageEvent } from '../events/messages.js';
import { avatarUrlOf, KINS, type KinDoc } from '../projections/kins.js';
import { QUEUE, type QueueItemDoc } from '../projections/messages.js';
import type { ReadStore } from '../es/readStore.js';
import { NO_PROVIDER } from '../agents/turn.js';
import { COMPACTING_MESSAGE_THRESHOLD, countNonCompacted } from '../agents/compacting.js';
import { activeCompaction } from '../projections/compacting.js';

/**
 * The main conversation's queue (quick sessions and tasks have their own) with the compaction
 * figures of /context-usage; `extra` adds to the payload.
 */
export async function queueUpdate(readStore: ReadStore, kinId: string, extra: Record<string, unknown> = {}): Promise<LiveMessage> {
  const queue = readStore.collection<QueueItemDoc>(QUEUE);
  const queueSize = await queue.count({ kinId, sessionId: null, taskId: null, status: 'pending' });
  const isProcessing = (await queue.count({ kinId, sessionId: null, taskId: null, status: 'processing' })) > 0;
  const compactingMessages = await countNonCompacted(readStore, kinId, (await activeCompaction(readStore, kinId))?.boundary ?? null);
  const compacting = { compactingMessages, compactingMessageThreshold: COMPACTING_MESSAGE_THRESHOLD };
  return { type: 'queue:update', kinId, data: { kinId, queueSize, isProcessing, ...compacting, ...extra } };
}

/**
 * queue:update as messages are queued, started and answered; chat:message for messages that the
 * web client did not write itself; chat:done with the recorded answer; kin:error on failures;
 * chat:cleared when the main conversation is cleared.
 * Tokens are not events: the turn publishes them directly.
 */
export const messageLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (recorded.type === CONVERSATION_CLEARED) {
    const { kinId } = parseConversationEvent(recorded).data;
    return [{ type: 'chat:cleared', kinId, data: { kinId } }];
  }
  if (recorded.type === DEPOSITED) {
    const { messageId, kinId, taskId, content, sourceType, sourceId, metadata, createdAt } = parseDepositEvent(recorded).data;
    const resolvedTaskId = metadata.resolvedTaskId ?? metadata.relatedTaskId ?? null;
    const message = { id: messageId, role: 'user', content, sourceType, sourceId, files: [], resolvedTaskId, createdAt: Date.parse(createdAt), ...(taskId ? { taskId } : {}) };
    return [{ type: 'chat:message', kinId, data: message }];
  }
  if (!recorded.stream.startsWith('turn-')) return [];
  const event = parseMessageEvent(recorded);
  const { kinId, queueItemId } = event.data;
  const item = await readStore.collection<QueueItemDoc>(QUEUE).get(queueItemId);
  const sessionId = item?.sessionId ?? null;
  const taskId = item?.taskId ?? null;
  const scope = sessionId ? { sessionId } : taskId ? { taskId } : {};
  const main = sessionId === null && taskId === null;
  switch (event.type) {
    case 'MessageQueued':
    case 'QueuedMessageRemoved':
      return main ? [await queueUpdate(readStore, kinId)] : [];
    case 'TurnStarted': {
      const out: LiveMessage[] = main ? [await queueUpdate(readStore, kinId)] : [];
      if (item && item.sourceType !== 'user') {
        const { content, sourceType, sourceId } = item;
        const resolvedTaskId = item.metadata?.resolvedTaskId ?? item.metadata?.relatedTaskId ?? null;
        const message = { id: event.data.userMessageId, role: 'user', content, sourceType, sourceId, sourceName: null, sourceAvatarUrl: null, files: [], resolvedTaskId, createdAt: Date.parse(event.data.startedAt), ...scope };
        out.push({ type: 'chat:message', kinId, data: message });
      }
      return out;
    }
    case 'AssistantMessageRecorded': {
      const kin = await readStore.collection<KinDoc>(KINS).get(kinId);
      const { messageId, content, metadata } = event.data;
      const source = main && kin ? { sourceType: 'kin', sourceId: kinId, sourceName: kin.name, sourceAvatarUrl: avatarUrlOf(kin) } : {};
      const done = {
        type: 'chat:done',
        kinId,
        data: { messageId, content, ...source, ...(metadata.stepLimitReached ? { stepLimitReached: true } : {}), ...scope },
      };
      return main ? [done, await queueUpdate(readStore, kinId)] : [done];
    }
    case 'TurnFailed': {
      const { messageId, error, createdAt } = event.data;
      const notice = { id: messageId, role: 'assistant', content: `⚠️ ${error}`, sourceType: 'system', createdAt: Date.parse(createdAt), ...scope };
      const out: LiveMessage[] = [{ type: 'chat:message', kinId, data: notice }];
      if (main) out.push({ type: 'kin:error', kinId, data: { error } }, await queueUpdate(readStore, kinId));
      else if (error === NO_PROVIDER) out.push({ type: 'kin:error', kinId, data: { error, sessionId } });
      return out;
    }
  }
};
