import { z } from 'zod';
import { clearConversation, PRIORITY, queueMessage, runTurnCommand } from '../commands/messages.js';
import { conflict, DomainError, notFound } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import { avatarUrlOf, KINS, type KinDoc } from '../projections/kins.js';
import { MESSAGES, QUEUE, type MessageDoc, type QueueItemDoc } from '../projections/messages.js';
import { reactionsOf } from '../projections/reactions.js';
import { filesByIds, presentFile } from '../projections/files.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { defineOperation, type Operation } from './operation.js';

export const MAX_MESSAGE_LENGTH = 32_000;
const MAX_FILES = 10;

const sendInput = z
  .object({
    content: z.string({ error: 'content must be a string' }).max(MAX_MESSAGE_LENGTH, `Message too long: at most ${MAX_MESSAGE_LENGTH} characters`).default(''),
    fileIds: z.array(z.string()).max(MAX_FILES, `At most ${MAX_FILES} files`).default([]),
  })
  .refine((input) => input.content.trim().length > 0 || input.fileIds.length > 0, { message: 'Message content or files required', path: ['content'] })
  .meta({ id: 'SendMessageInput' });

const fileOut = z.object({ id: z.string(), name: z.string(), mimeType: z.string(), size: z.number(), url: z.string() }).meta({ id: 'MessageFile' });
const toolCallOut = z.object({ id: z.string(), name: z.string(), args: z.unknown(), result: z.unknown().optional(), offset: z.number() });

export const messageOut = z
  .object({
    id: z.string(),
    role: z.enum(['user', 'assistant', 'system']),
    content: z.string().nullable(),
    sourceType: z.string(),
    sourceId: z.string().nullable(),
    sourceName: z.string().nullable(),
    sourceAvatarUrl: z.string().nullable(),
    isRedacted: z.boolean(),
    toolCalls: z.array(toolCallOut).nullable(),
    resolvedTaskId: z.string().nullable(),
    injectedMemories: z.unknown().nullable(),
    memoriesExtracted: z.unknown().nullable(),
    stepLimitReached: z.boolean(),
    files: z.array(fileOut),
    reactions: z.array(z.object({ id: z.string(), userId: z.string(), emoji: z.string(), createdAt: z.string() })),
    createdAt: z.string(),
  })
  .meta({ id: 'Message' });

const historyQuery = z.object({
  before: z.string().optional().describe('a message id: only messages strictly older than it'),
  limit: z.coerce.number().int().min(1).default(50).transform((n) => Math.min(n, 100)),
});

/** The history shape of messages.md §2, with reactions and files inlined. */
export async function presentMessages(readStore: ReadStore, messages: MessageDoc[]) {
  const kinIds = [...new Set(messages.filter((m) => m.sourceType === 'kin' || m.sourceType === 'task').map((m) => m.sourceId!).filter(Boolean))];
  const kins = new Map((kinIds.length ? await readStore.collection<KinDoc>(KINS).find({ id: { $in: kinIds } }) : []).map((k) => [k.id, k]));
  const reactions = await reactionsOf(readStore, messages.map((m) => m.id));
  const files = new Map((await filesByIds(readStore, messages.flatMap((m) => m.fileIds))).map((f) => [f.id, f]));
  return messages.map((message) => {
    const kin = message.sourceType === 'kin' || message.sourceType === 'task' ? kins.get(message.sourceId ?? '') : undefined;
    const meta = message.metadata;
    return {
      id: message.id,
      role: message.role,
      content: message.content,
      sourceType: message.sourceType,
      sourceId: message.sourceId,
      sourceName: kin?.name ?? null,
      sourceAvatarUrl: kin ? (avatarUrlOf(kin)?.replace(/\?v=\d+$/, '') ?? null) : null,
      isRedacted: false,
      toolCalls: message.toolCalls,
      resolvedTaskId: (meta.resolvedTaskId ?? meta.relatedTaskId ?? null) as string | null,
      injectedMemories: meta.injectedMemories ?? null,
      memoriesExtracted: meta.memoriesExtracted ?? null,
      stepLimitReached: meta.stepLimitReached === true,
      files: message.fileIds.map((id) => files.get(id)).filter((f) => f !== undefined).map(presentFile),
      reactions: reactions.get(message.id) ?? [],
      createdAt: message.createdAt,
    };
  });
}

export function messageOperations(services: Services): Operation[] {
  const { readStore } = services;
  const tags = ['Messages'];
  const kinParams = z.object({ kinId: z.string().min(1) });
  return [
    defineOperation({
      name: 'messages',
      summary: 'Get conversation history (pages of `limit`, oldest first; `before` pages back in time)',
      method: 'get',
      path: '/api/kins/:kinId/messages',
      auth: 'user',
      tags,
      params: kinParams,
      query: historyQuery,
      output: z.object({ messages: z.array(messageOut), hasMore: z.boolean() }),
      async handler({ params, query }) {
        const kin = await findKin(services, params.kinId);
        const collection = readStore.collection<MessageDoc>(MESSAGES);
        let olderThan: MessageDoc | null = null;
        if (query.before) {
          olderThan = await collection.findOne({ id: query.before, kinId: kin.id });
          if (!olderThan) throw notFound('MESSAGE_NOT_FOUND', 'Message not found');
        }
        const page = await collection.find(
          {
            kinId: kin.id,
            sessionId: null,
            taskId: null,
            ...(olderThan
              ? { $or: [{ createdAt: { $lt: olderThan.createdAt } }, { createdAt: olderThan.createdAt, id: { $lt: olderThan.id } }] }
              : {}),
          },
          { sort: { createdAt: -1, id: -1 }, limit: query.limit + 1 },
        );
        const hasMore = page.length > query.limit;
        const messages = page.slice(0, query.limit).reverse();
        return { messages: await presentMessages(readStore, messages), hasMore };
      },
    }),
    defineOperation({
      name: 'sendMessage',
      summary: 'Send a message to a Kin (queued; the answer streams on /api/sse)',
      method: 'post',
      path: '/api/kins/:kinId/messages',
      auth: 'user',
      tags,
      params: kinParams,
      body: sendInput,
      errorCodes: { content: 'EMPTY_MESSAGE', 'content:too_big': 'MESSAGE_TOO_LONG', fileIds: 'INVALID_FILE_ID' },
      status: 202,
      output: z.object({ messageId: z.string(), queuePosition: z.number().int() }),
      async handler({ params, body }, ctx) {
        const kin = await findKin(services, params.kinId);
        const known = await filesByIds(readStore, body.fileIds);
        if (known.length !== new Set(body.fileIds).size || known.some((f) => f.kinId !== kin.id)) {
          throw new DomainError(400, 'INVALID_FILE_ID', 'Unknown file id for this Kin');
        }
        const principal = ctx.principal!;
        const { queueItemId, position } = await queueMessage(
          services,
          { kinId: kin.id, content: body.content, fileIds: body.fileIds, sourceType: 'user', sourceId: principal.userId, priority: PRIORITY.user },
          ctx.commandMetadata(),
        );
        await services.settle(position);
        services.turns.kick();
        const queuePosition = await readStore.collection<QueueItemDoc>(QUEUE).count({ kinId: kin.id, sessionId: null, taskId: null, status: 'pending' });
        return { messageId: queueItemId, queuePosition: Math.max(queuePosition, 1) };
      },
    }),
    defineOperation({
      name: 'clearConversation',
      summary:
        'Clear the main conversation: its messages and compaction summary are no longer shown nor given to the model (they stay in the event log); a turn in progress is stopped, queued messages stay (SSE chat:cleared)',
      method: 'delete',
      path: '/api/kins/:kinId/messages',
      auth: 'user',
      tags,
      params: kinParams,
      output: z.object({ ok: z.literal(true) }),
      async handler({ params }, ctx) {
        const kin = await findKin(services, params.kinId);
        // A summary being written covers the messages about to go: it would bring them back.
        if (services.compacting.isCompacting(kin.id)) throw conflict('COMPACTING_IN_PROGRESS', 'The conversation is being compacted; try again when it is done');
        const { position } = await clearConversation(services, kin.id, ctx.commandMetadata());
        // Stopped after the clear, so that the next queued message cannot start before it: the
        // turn that was running belongs to the cleared conversation (its answer is not shown).
        services.turns.stopGeneration(kin.id, null);
        await services.settle(position);
        return { ok: true as const };
      },
    }),
    defineOperation({
      name: 'stopKinGeneration',
      summary: 'Stop the answer being generated in the main conversation (the partial text is kept)',
      method: 'post',
      path: '/api/kins/:kinId/messages/stop',
      auth: 'user',
      tags,
      params: kinParams,
      output: z.object({ ok: z.literal(true) }),
      async handler({ params }) {
        const kin = await findKin(services, params.kinId);
        if (!services.turns.stopGeneration(kin.id, null)) throw conflict('NOT_STREAMING', 'No active generation to stop');
        return { ok: true as const };
      },
    }),
    defineOperation({
      name: 'kinQueue',
      summary: 'Messages waiting for the Kin, in the order they will be answered',
      method: 'get',
      path: '/api/kins/:kinId/messages/queue',
      auth: 'user',
      tags,
      params: kinParams,
      output: z.object({
        items: z.array(
          z.object({ id: z.string(), kinId: z.string(), messageType: z.string(), content: z.string(), sourceType: z.string(), sourceId: z.string().nullable(), priority: z.number(), createdAt: z.string() }),
        ),
      }),
      async handler({ params }) {
        const kin = await findKin(services, params.kinId);
        const items = await readStore
          .collection<QueueItemDoc>(QUEUE)
          .find({ kinId: kin.id, sessionId: null, taskId: null, status: 'pending' }, { sort: { priority: -1, queuedAt: 1 } });
        return {
          items: items.map((item) => ({
            id: item.id,
            kinId: item.kinId,
            messageType: item.sourceType,
            content: item.content,
            sourceType: item.sourceType,
            sourceId: item.sourceId,
            priority: item.priority,
            createdAt: item.queuedAt,
          })),
        };
      },
    }),
    defineOperation({
      name: 'removeQueuedMessage',
      summary: 'Remove a message that is still waiting in the queue',
      method: 'delete',
      path: '/api/kins/:kinId/messages/queue/:itemId',
      auth: 'user',
      tags,
      params: z.object({ kinId: z.string().min(1), itemId: z.string().min(1) }),
      output: z.object({ ok: z.literal(true) }),
      async handler({ params }, ctx) {
        const kin = await findKin(services, params.kinId);
        const item = await readStore.collection<QueueItemDoc>(QUEUE).get(params.itemId);
        if (!item || item.kinId !== kin.id) throw notFound('QUEUE_ITEM_NOT_FOUND', 'Queue item not found');
        const result = await runTurnCommand(services, { type: 'RemoveQueuedMessage', queueItemId: item.id, now: new Date() }, ctx.commandMetadata());
        await services.settle(result.position);
        return { ok: true as const };
      },
    }),
  ];
}
