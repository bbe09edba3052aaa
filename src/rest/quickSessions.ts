import { z } from 'zod';
import { PRIORITY, queueMessage } from '../commands/messages.js';
import {
  assertCanSend,
  assertSessionOwner,
  closeQuickSession,
  createQuickSession,
  loadQuickSession,
  MAX_TITLE_LENGTH,
  stopQuickSessionGeneration,
  type QuickSessionInfo,
} from '../commands/quickSessions.js';
import { badRequest, conflict, DomainError } from '../es/errors.js';
import { avatarUrlOf, KINS, kinsProjection, type KinDoc } from '../projections/kins.js';
import { MESSAGES, messagesProjection, QUEUE, type MessageDoc, type QueueItemDoc } from '../projections/messages.js';
import { QUICK_SESSIONS, quickSessionsProjection, type QuickSessionDoc } from '../projections/quickSessions.js';
import { filesByIds } from '../projections/files.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { messageOut, presentMessages } from './messages.js';
import { defineOperation, type Operation } from './operation.js';
import { listCache } from './listCache.js';

const MAX_CONTENT_LENGTH = 100_000;
const MAX_FILES = 10;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const createInput = z
  .object({
    title: z
      .string({ error: 'title must be a string' })
      .trim()
      .max(MAX_TITLE_LENGTH, `Title must be ${MAX_TITLE_LENGTH} characters or less`)
      .nullable()
      .optional(),
  })
  .default({})
  .meta({ id: 'CreateQuickSessionInput' });

/** A number from the query string, `fallback` when absent or not a number, clamped to [min, max]. */
const clampedInt = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((value) => {
      const n = Number.parseInt(value ?? '', 10);
      return Number.isFinite(n) ? Math.min(Math.max(n, min), max) : fallback;
    });

const listQuery = z.object({
  status: z.string().optional().describe('active (default) | closed | all; any other value lists all'),
  limit: clampedInt(20, 1, 50).describe('default 20, clamped to [1, 50]'),
  offset: clampedInt(0, 0).describe('default 0'),
});

// The checks of the spec come in its order (owner, closed, expired, then the content), so the
// body's limits are checked by the handler rather than by the schema.
const sendInput = z
  .object({
    content: z.string({ error: 'content must be a string' }).nullable().optional().describe(`at most ${MAX_CONTENT_LENGTH} characters`),
    fileIds: z.array(z.string()).nullable().optional().describe(`at most ${MAX_FILES} file ids (UUIDs from POST /api/files/upload)`),
  })
  .default({})
  .meta({ id: 'SendQuickSessionMessageInput' });

const closeInput = z
  .object({
    saveMemory: z.boolean({ error: 'saveMemory must be a boolean' }).nullable().optional(),
    memorySummary: z.string({ error: 'memorySummary must be a string' }).nullable().optional().describe('at most 5000 characters once trimmed'),
  })
  .default({})
  .meta({ id: 'CloseQuickSessionInput' });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const quickSession = z
  .object({
    id: z.string(),
    kinId: z.string(),
    title: z.string().nullable(),
    status: z.enum(['active', 'closed']),
    createdAt: z.number().describe('epoch ms'),
    closedAt: z.number().nullable().describe('epoch ms'),
    expiresAt: z.number().nullable().describe('epoch ms'),
  })
  .meta({ id: 'QuickSession' });

const listedSession = quickSession.extend({ messageCount: z.number().int().optional().describe('closed sessions only') }).meta({ id: 'QuickSessionListItem' });

/** A history message without reactions or extraction traces (messages.md §5). */
const sessionMessage = messageOut
  .omit({ reactions: true, memoriesExtracted: true })
  .extend({ resolvedTaskId: z.null() })
  .meta({ id: 'QuickSessionMessage' });

const ok = z.object({ ok: z.literal(true) });

// ── Presentation ──────────────────────────────────────────────────────────────────────────────

type Presentable = Pick<QuickSessionDoc, 'id' | 'kinId' | 'title' | 'status' | 'createdAt' | 'closedAt' | 'expiresAt'>;

const present = (session: Presentable): z.input<typeof quickSession> => ({
  id: session.id,
  kinId: session.kinId,
  title: session.title,
  status: session.status,
  createdAt: session.createdAt,
  closedAt: session.closedAt,
  expiresAt: session.expiresAt,
});

const fromState = (session: QuickSessionInfo): Presentable => ({
  id: session.sessionId,
  kinId: session.kinId,
  title: session.title,
  status: 'active',
  createdAt: session.createdAt,
  closedAt: null,
  expiresAt: session.expiresAt,
});

const statusFilter = (status: string | undefined) => {
  const wanted = status ?? 'active';
  return wanted === 'active' || wanted === 'closed' ? { status: wanted } : {};
};

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function quickSessionOperations(services: Services): Operation[] {
  const { readStore } = services;
  const tags = ['Quick sessions'];
  const sessions = () => readStore.collection<QuickSessionDoc>(QUICK_SESSIONS);
  const sessionParams = z.object({ id: z.string().min(1) });
  const kinParams = z.object({ kinId: z.string().min(1).describe('Kin id or slug') });

  /** The caller's session from the read model (404 / 403 otherwise). */
  const ownSession = async (id: string, userId: string) => assertSessionOwner(await sessions().get(id), userId);
  // Per caller: each user lists only their own sessions (with the message counts of closed ones).
  const cachedList = listCache(readStore, { dependsOn: [quickSessionsProjection, messagesProjection, kinsProjection] });

  return [
    defineOperation({
      name: 'createQuickSession',
      summary: 'Open a quick session with a Kin (one active per user and Kin; expires after 24 h)',
      method: 'post',
      path: '/api/kins/:kinId/quick-sessions',
      auth: 'user',
      tags,
      params: kinParams,
      body: createInput,
      errorCodes: { title: 'TITLE_TOO_LONG' },
      status: 201,
      output: quickSession,
      async handler({ params, body }, ctx) {
        const kin = await findKin(services, params.kinId);
        const title = body.title || null;
        const created = await createQuickSession(services, { kinId: kin.id, userId: ctx.principal!.userId, title }, ctx.commandMetadata());
        await services.settle(created.position);
        return present(fromState(created.session));
      },
    }),
    defineOperation({
      name: 'quickSessions',
      summary: "The caller's quick sessions with a Kin, newest first",
      method: 'get',
      path: '/api/kins/:kinId/quick-sessions',
      auth: 'user',
      tags,
      params: kinParams,
      query: listQuery,
      output: z.object({ sessions: z.array(listedSession), hasMore: z.boolean() }),
      handler: ({ params, query }, ctx) =>
        cachedList(JSON.stringify([ctx.principal!.userId, params.kinId, query.status, query.offset, query.limit]), async () => {
          // A UUID is taken as is (messages.md: not checked for existence on these routes).
          const kinId = UUID.test(params.kinId) ? params.kinId : (await findKin(services, params.kinId)).id;
          const page = await sessions().find(
            { kinId, createdBy: ctx.principal!.userId, ...statusFilter(query.status) },
            { sort: { createdAt: -1, id: -1 }, skip: query.offset, limit: query.limit + 1 },
          );
          const listed = await Promise.all(
            page.slice(0, query.limit).map(async (session) =>
              session.status === 'closed'
                ? { ...present(session), messageCount: await readStore.collection(MESSAGES).count({ kinId: session.kinId, sessionId: session.id }) }
                : present(session),
            ),
          );
          return { sessions: listed, hasMore: page.length > query.limit };
        }),
    }),
    defineOperation({
      name: 'quickSession',
      summary: 'A quick session with its messages, oldest first',
      method: 'get',
      path: '/api/quick-sessions/:id',
      auth: 'user',
      tags,
      params: sessionParams,
      output: z.object({ session: quickSession, messages: z.array(sessionMessage) }),
      async handler({ params }, ctx) {
        const session = await ownSession(params.id, ctx.principal!.userId);
        const stored = await readStore
          .collection<MessageDoc>(MESSAGES)
          .find({ kinId: session.kinId, sessionId: session.id }, { sort: { createdAt: 1, id: 1 } });
        const kin = await readStore.collection<KinDoc>(KINS).get(session.kinId);
        const kinName = kin?.name ?? null;
        const kinAvatar = kin ? (avatarUrlOf(kin)?.replace(/\?v=\d+$/, '') ?? null) : null;
        const messages = (await presentMessages(readStore, stored)).map(({ reactions: _r, memoriesExtracted: _m, ...message }) => ({
          ...message,
          sourceName: message.role === 'assistant' ? kinName : null,
          sourceAvatarUrl: message.role === 'assistant' ? kinAvatar : null,
          resolvedTaskId: null,
        }));
        return { session: present(session), messages };
      },
    }),
    defineOperation({
      name: 'sendQuickSessionMessage',
      summary: 'Send a message in a quick session (queued; the answer streams on /api/sse with its sessionId)',
      method: 'post',
      path: '/api/quick-sessions/:id/messages',
      auth: 'user',
      tags,
      params: sessionParams,
      body: sendInput,
      status: 202,
      output: z.object({ messageId: z.string(), queuePosition: z.number().int() }),
      async handler({ params, body }, ctx) {
        const userId = ctx.principal!.userId;
        const metadata = ctx.commandMetadata();
        const session = assertCanSend(await loadQuickSession(services, params.id), userId, metadata.now);
        const content = body.content ?? '';
        const fileIds = body.fileIds ?? [];
        if (!content.trim() && fileIds.length === 0) throw badRequest('EMPTY_MESSAGE', 'Message content or files required');
        if (content.length > MAX_CONTENT_LENGTH) throw badRequest('CONTENT_TOO_LONG', 'Message content must be 100,000 characters or less');
        if (fileIds.length > MAX_FILES) throw badRequest('TOO_MANY_FILES', `Maximum ${MAX_FILES} files per message`);
        if (!fileIds.every((id) => UUID.test(id))) throw badRequest('INVALID_FILE_ID', 'Each fileId must be a valid UUID');
        const known = await filesByIds(readStore, fileIds);
        if (known.length !== new Set(fileIds).size || known.some((file) => file.kinId !== session.kinId)) {
          throw new DomainError(400, 'INVALID_FILE_ID', 'Unknown file id for this Kin');
        }
        const { queueItemId, position } = await queueMessage(
          services,
          { kinId: session.kinId, sessionId: session.sessionId, content, fileIds, sourceType: 'user', sourceId: userId, priority: PRIORITY.user },
          metadata,
        );
        await services.settle(position);
        services.turns.kick();
        const pending = await readStore.collection<QueueItemDoc>(QUEUE).count({ kinId: session.kinId, sessionId: session.sessionId, status: 'pending' });
        return { messageId: queueItemId, queuePosition: Math.max(pending, 1) };
      },
    }),
    defineOperation({
      name: 'stopQuickSessionGeneration',
      summary: 'Stop the answer being generated in a quick session (the partial text is kept)',
      method: 'post',
      path: '/api/quick-sessions/:id/messages/stop',
      auth: 'user',
      tags,
      params: sessionParams,
      output: ok,
      async handler({ params }, ctx) {
        const session = await ownSession(params.id, ctx.principal!.userId);
        if (!(await stopQuickSessionGeneration(services, session.kinId, session.id))) {
          throw conflict('NOT_STREAMING', 'No active generation to stop');
        }
        return { ok: true as const };
      },
    }),
    defineOperation({
      name: 'closeQuickSession',
      summary: 'Close a quick session (idempotent); stops its generation, optionally keeping a summary to remember',
      method: 'post',
      path: '/api/quick-sessions/:id/close',
      auth: 'user',
      tags,
      params: sessionParams,
      body: closeInput,
      output: ok,
      async handler({ params, body }, ctx) {
        const closed = await closeQuickSession(
          services,
          params.id,
          { by: ctx.principal!.userId, reason: 'user', saveMemory: body.saveMemory ?? false, memorySummary: body.memorySummary ?? undefined },
          ctx.commandMetadata(),
        );
        await services.settle(closed.position);
        return { ok: true as const };
      },
    }),
  ];
}
