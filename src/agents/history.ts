import type { ModelMessage } from 'ai';
import type { ReadStore } from '../es/readStore.js';
import { MESSAGES, type MessageDoc } from '../projections/messages.js';
import { USERS, type UserDoc } from '../projections/users.js';
import { KINS, type KinDoc } from '../projections/kins.js';

/** At most this many messages of history go to the model (the spec's window). */
export const HISTORY_WINDOW = 100;
/** Tool results older than the last two tool-using turns are cut to this many characters. */
const MASKED_RESULT_CHARS = 200;

/** A conversation: the main one, a quick session, or a task's (whose messages belong to its parent Kin). */
export type HistoryScope = { kinId: string; sessionId: string | null; taskId?: string | null; after?: { createdAt: string; id: string } | null };

/** The conversation's messages after the compaction boundary, oldest first. */
export async function loadHistory(readStore: ReadStore, scope: HistoryScope, limit = HISTORY_WINDOW): Promise<MessageDoc[]> {
  const boundary = scope.after;
  const newest = await readStore.collection<MessageDoc>(MESSAGES).find(
    {
      kinId: scope.kinId,
      sessionId: scope.sessionId,
      taskId: scope.taskId ?? null,
      ...(boundary
        ? { $or: [{ createdAt: { $gt: boundary.createdAt } }, { createdAt: boundary.createdAt, id: { $gt: boundary.id } }] }
        : {}),
    },
    { sort: { createdAt: -1, id: -1 }, limit },
  );
  return newest.reverse();
}

/**
 * Error notices and compaction traces are for people, not for the model. In a task, the platform's
 * own messages to the Kin (the task description, a nudge) are user messages from `system`: kept.
 */
export const isConversational = (message: MessageDoc) =>
  message.role !== 'system' &&
  message.sourceType !== 'compacting' &&
  (message.sourceType !== 'system' || (message.role === 'user' && Boolean(message.taskId)));

const stringify = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value ?? null));

/** Who said it, as the model should read it: `[Ada] hello`, `[Kin Scout] …`. */
async function speakerNames(readStore: ReadStore, messages: MessageDoc[]) {
  const userIds = [...new Set(messages.filter((m) => m.sourceType === 'user' && m.sourceId).map((m) => m.sourceId!))];
  const kinIds = [...new Set(messages.filter((m) => m.sourceType === 'kin' && m.role === 'user' && m.sourceId).map((m) => m.sourceId!))];
  const users = userIds.length ? await readStore.collection<UserDoc>(USERS).find({ id: { $in: userIds } }) : [];
  const kins = kinIds.length ? await readStore.collection<KinDoc>(KINS).find({ id: { $in: kinIds } }) : [];
  return new Map([...users.map((u) => [u.id, u.name] as const), ...kins.map((k) => [k.id, `Kin ${k.name}`] as const)]);
}

/**
 * Turns stored messages into the model's messages: user text prefixed with the speaker, assistant
 * text with its tool calls followed by their results. `extraParts` adds attachments (files) to a
 * user message.
 */
export async function toModelMessages(
  readStore: ReadStore,
  stored: MessageDoc[],
  extraParts: (message: MessageDoc) => Promise<Exclude<ModelMessage & { role: 'user' }, never>['content']> = async () => [],
): Promise<ModelMessage[]> {
  const messages = stored.filter(isConversational);
  const names = await speakerNames(readStore, messages);
  const toolTurns = messages.filter((m) => m.toolCalls?.length);
  const keepFull = new Set(toolTurns.slice(-2).map((m) => m.id));
  const result: ModelMessage[] = [];
  for (const message of messages) {
    if (message.role === 'user') {
      const speaker = message.sourceId ? names.get(message.sourceId) : undefined;
      const prefix = speaker ? `[${speaker}] ` : message.sourceType !== 'user' ? `[${message.sourceType}] ` : '';
      const extra = await extraParts(message);
      const text = `${prefix}${message.content ?? ''}`;
      result.push({ role: 'user', content: Array.isArray(extra) && extra.length ? [{ type: 'text', text }, ...extra] : text });
      continue;
    }
    const calls = message.toolCalls ?? [];
    if (calls.length === 0) {
      result.push({ role: 'assistant', content: message.content ?? '' });
      continue;
    }
    result.push({
      role: 'assistant',
      content: [
        ...(message.content ? [{ type: 'text' as const, text: message.content }] : []),
        ...calls.map((call) => ({ type: 'tool-call' as const, toolCallId: call.id, toolName: call.name, input: call.args ?? {} })),
      ],
    });
    const full = keepFull.has(message.id);
    result.push({
      role: 'tool',
      content: calls.map((call) => {
        const text = stringify(call.result);
        const value = full || text.length <= MASKED_RESULT_CHARS ? text : `${text.slice(0, MASKED_RESULT_CHARS)}… [older result truncated]`;
        return { type: 'tool-result' as const, toolCallId: call.id, toolName: call.name, output: { type: 'text' as const, value } };
      }),
    });
  }
  return result;
}
