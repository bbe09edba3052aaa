import { z } from 'zod';
import { createMemory, deleteMemory, memoryNotFound, updateMemory } from '../commands/memories.js';
import type { Filter } from '../es/readStore.js';
import { MEMORY_CATEGORIES, type MemoryScope } from '../events/memories.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';
import { searchMemories } from '../agents/memorySearch.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { defineOperation, type Operation } from './operation.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const REQUIRED = 'Content and category are required';
const categoryMessage = `Category must be one of ${MEMORY_CATEGORIES.join(', ')}`;

/** A missing category is INVALID_INPUT; an unknown one INVALID_CATEGORY (DECISIONS.md §21). */
const category = (missing: string) => z.string({ error: missing }).trim().min(1, missing).pipe(z.enum(MEMORY_CATEGORIES, { error: categoryMessage }));

/** memory-knowledge.md §2: `shared` only if exactly "shared", anything else is private. */
const scope = z
  .unknown()
  .optional()
  .transform((value): MemoryScope | undefined => (value === undefined ? undefined : value === 'shared' ? 'shared' : 'private'))
  .describe('"shared" (visible to every Kin\'s searches); any other value means "private"');

const subject = z.string({ error: 'Subject must be a string or null' }).trim().nullable().transform((value) => value || null);

/** An absent body reads as an empty one, so that it fails on the first missing field. */
const body = <T extends z.ZodRawShape>(shape: T, id: string) => z.preprocess((value) => value ?? {}, z.object(shape).meta({ id }));

const createMemoryInput = body(
  {
    content: z.string({ error: REQUIRED }).trim().min(1, REQUIRED),
    category: category(REQUIRED),
    subject: subject.optional(),
    scope,
  },
  'CreateMemoryInput',
);

const updateMemoryInput = body(
  {
    content: z.string({ error: 'Content must be a string' }).trim().min(1, 'Content cannot be empty').optional(),
    category: category(categoryMessage).optional(),
    subject: subject.optional(),
    scope,
  },
  'UpdateMemoryInput',
);

const inputErrorCodes = { content: 'INVALID_INPUT', category: 'INVALID_INPUT', 'category:invalid_value': 'INVALID_CATEGORY', subject: 'INVALID_INPUT' };

const optionalKinId = z
  .string({ error: 'kinId must be a string' })
  .trim()
  .optional()
  .transform((value) => value || undefined)
  .describe('Kin id or slug; absent or empty: every Kin');

const backfillInput = body({ kinId: optionalKinId }, 'BackfillImportanceInput');
const consolidateInput = body(
  { kinId: z.string({ error: 'kinId is required' }).trim().min(1, 'kinId is required').describe('Kin id or slug') },
  'ConsolidateMemoriesInput',
);
const reembedInput = body(
  {
    kinId: optionalKinId,
    all: z
      .boolean({ error: 'all must be a boolean' })
      .optional()
      .describe('true: every memory; default: those whose vector is not of the current embedding model (all of them after a model change)'),
  },
  'ReembedMemoriesInput',
);

const kinRef = z.object({ id: z.string().min(1).describe('Kin id or slug') });
const memoryRef = kinRef.extend({ memoryId: z.string().min(1) });

const filters = {
  category: z.string().optional(),
  subject: z.string().optional(),
  scope: z.string().optional(),
};

const kinListQuery = z.object({ ...filters, limit: z.coerce.number().int().min(1).default(50) });
const globalListQuery = z.object({ kinId: z.string().optional(), ...filters, limit: z.coerce.number().int().min(1).default(100) });
const searchQuery = z.object({
  q: z.string({ error: 'q query parameter is required' }).trim().min(1, 'q query parameter is required'),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const memoryListItem = z
  .object({
    id: z.string(),
    content: z.string(),
    category: z.string(),
    subject: z.string().nullable(),
    scope: z.string(),
    sourceChannel: z.string(),
    sourceContext: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'KinMemory' });

const memoryDetail = memoryListItem.extend({ kinId: z.string() }).meta({ id: 'Memory' });

const globalMemory = memoryDetail
  .extend({
    importance: z.number().nullable(),
    retrievalCount: z.number().int(),
    lastRetrievedAt: z.string().nullable(),
    consolidationGeneration: z.number().int(),
  })
  .meta({ id: 'MemoryRecord' });

const searchResult = z
  .object({
    memories: z.array(
      z
        .object({
          id: z.string(),
          content: z.string(),
          category: z.string(),
          subject: z.string().nullable(),
          sourceContext: z.string().nullable(),
          importance: z.number().nullable(),
          scope: z.string(),
          authorKinId: z.string(),
          authorKinName: z.string().optional(),
          score: z.number(),
          updatedAt: z.string(),
        })
        .meta({ id: 'MemorySearchItem' }),
    ),
    metadata: z
      .object({ mode: z.enum(['hybrid', 'full-text']), embeddingModel: z.string(), reason: z.string().optional() })
      .meta({ id: 'MemorySearchMetadata' }),
  })
  .meta({ id: 'MemorySearchResult' });

// ── Presentation ──────────────────────────────────────────────────────────────────────────────

const presentListItem = (memory: MemoryDoc): z.input<typeof memoryListItem> => ({
  id: memory.id,
  content: memory.content,
  category: memory.category,
  subject: memory.subject,
  scope: memory.scope,
  sourceChannel: memory.sourceChannel,
  sourceContext: memory.sourceContext,
  createdAt: memory.createdAt,
  updatedAt: memory.updatedAt,
});

const presentDetail = (memory: MemoryDoc): z.input<typeof memoryDetail> => ({ ...presentListItem(memory), kinId: memory.kinId });

const presentGlobal = (memory: MemoryDoc): z.input<typeof globalMemory> => ({
  ...presentDetail(memory),
  importance: memory.importance,
  retrievalCount: memory.retrievalCount,
  lastRetrievedAt: memory.lastRetrievedAt,
  consolidationGeneration: memory.consolidationGeneration,
});

/** Exact-match filters; absent ones do not filter. */
const filterOf = (query: { kinId?: string; category?: string; subject?: string; scope?: string }): Filter =>
  Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)) as Filter;

const newestFirst = { sort: { updatedAt: -1, id: -1 } as const };

// ── Operations ────────────────────────────────────────────────────────────────────────────────

export function memoryOperations(services: Services): Operation[] {
  const { readStore, memoryJobs } = services;
  /** The Kin a job is for (404 KIN_NOT_FOUND for an unknown one), or every Kin. */
  const jobKinId = async (idOrSlug: string | undefined) => (idOrSlug ? (await findKin(services, idOrSlug)).id : undefined);
  const memories = () => readStore.collection<MemoryDoc>(MEMORIES);
  const tags = ['Memories'];

  /** This Kin's memory, else 404 MEMORY_NOT_FOUND. */
  const ownMemory = async (kinId: string, memoryId: string) => {
    const memory = await memories().get(memoryId);
    if (!memory || memory.kinId !== kinId) throw memoryNotFound();
    return memory;
  };

  return [
    defineOperation({
      name: 'kinMemories',
      summary: "List a Kin's memories (newest change first)",
      method: 'get',
      path: '/api/kins/:id/memories',
      auth: 'user',
      tags,
      params: kinRef,
      query: kinListQuery,
      output: z.object({ memories: z.array(memoryListItem) }),
      async handler({ params, query }) {
        const kin = await findKin(services, params.id);
        const { limit, ...filters } = query;
        const found = await memories().find(filterOf({ ...filters, kinId: kin.id }), { ...newestFirst, limit });
        return { memories: found.map(presentListItem) };
      },
    }),
    defineOperation({
      name: 'searchKinMemories',
      summary: 'Search what a Kin can recall (its memories and shared ones), as its turns do',
      method: 'get',
      path: '/api/kins/:id/memories/search',
      auth: 'user',
      tags,
      params: kinRef,
      query: searchQuery,
      errorCodes: { q: 'INVALID_INPUT' },
      output: searchResult,
      async handler({ params, query }) {
        const kin = await findKin(services, params.id);
        return searchMemories(services, { kinId: kin.id, query: query.q, limit: query.limit });
      },
    }),
    defineOperation({
      name: 'createMemory',
      summary: 'Create a memory for a Kin',
      method: 'post',
      path: '/api/kins/:id/memories',
      auth: 'user',
      tags,
      params: kinRef,
      body: createMemoryInput,
      errorCodes: inputErrorCodes,
      status: 201,
      output: z.object({ memory: memoryDetail }),
      async handler({ params, body }, ctx) {
        const kin = await findKin(services, params.id);
        const { memoryId, position } = await createMemory(
          services,
          { kinId: kin.id, content: body.content, category: body.category, subject: body.subject ?? null, scope: body.scope ?? 'private', sourceChannel: 'explicit' },
          ctx.commandMetadata(),
        );
        await services.settle(position);
        return { memory: presentDetail(await ownMemory(kin.id, memoryId)) };
      },
    }),
    defineOperation({
      name: 'updateMemory',
      summary: "Update one of a Kin's memories (new content is embedded again)",
      method: 'patch',
      path: '/api/kins/:id/memories/:memoryId',
      auth: 'user',
      tags,
      params: memoryRef,
      body: updateMemoryInput,
      errorCodes: inputErrorCodes,
      output: z.object({ memory: memoryDetail }),
      async handler({ params, body }, ctx) {
        const kin = await findKin(services, params.id);
        await ownMemory(kin.id, params.memoryId);
        const { position } = await updateMemory(services, { memoryId: params.memoryId, kinId: kin.id, changes: body }, ctx.commandMetadata());
        await services.settle(position);
        return { memory: presentDetail(await ownMemory(kin.id, params.memoryId)) };
      },
    }),
    defineOperation({
      name: 'deleteMemory',
      summary: "Delete one of a Kin's memories (and its vector)",
      method: 'delete',
      path: '/api/kins/:id/memories/:memoryId',
      auth: 'user',
      tags,
      params: memoryRef,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const kin = await findKin(services, params.id);
        await ownMemory(kin.id, params.memoryId);
        const { position } = await deleteMemory(services, { memoryId: params.memoryId, kinId: kin.id }, ctx.commandMetadata());
        await services.settle(position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'memories',
      summary: 'List memories across Kins (newest change first)',
      method: 'get',
      path: '/api/memories',
      auth: 'user',
      tags,
      query: globalListQuery,
      output: z.object({ memories: z.array(globalMemory) }),
      async handler({ query }) {
        const { limit, ...filters } = query;
        const found = await memories().find(filterOf(filters), { ...newestFirst, limit });
        return { memories: found.map(presentGlobal) };
      },
    }),
    defineOperation({
      name: 'backfillMemoryImportance',
      summary:
        'Score every memory whose importance is null with the maintenance model (a job: progress as memory:job-progress on /api/sse; safe to run again)',
      method: 'post',
      path: '/api/memories/backfill-importance',
      auth: 'user',
      tags,
      body: backfillInput,
      errorCodes: { kinId: 'VALIDATION_ERROR' },
      output: z.object({ updated: z.number().int(), skipped: z.number().int() }).meta({ id: 'BackfillImportanceResult' }),
      async handler({ body }, ctx) {
        return memoryJobs.backfillImportance({ kinId: await jobKinId(body.kinId) }, ctx.commandMetadata());
      },
    }),
    defineOperation({
      name: 'consolidateMemories',
      summary: "Merge a Kin's near-duplicate memories (a job: progress on /api/sse; safe to run again); `removed` is the net number of memories removed",
      method: 'post',
      path: '/api/memories/consolidate',
      auth: 'user',
      tags,
      body: consolidateInput,
      errorCodes: { kinId: 'VALIDATION_ERROR' },
      output: z.object({ removed: z.number().int() }).meta({ id: 'ConsolidateMemoriesResult' }),
      async handler({ body }, ctx) {
        const kin = await findKin(services, body.kinId);
        return memoryJobs.consolidate({ kinId: kin.id }, ctx.commandMetadata());
      },
    }),
    defineOperation({
      name: 'reembedMemories',
      summary: 'Embed memories again with the current embedding model, 10 at a time (a job: progress on /api/sse; safe to run again)',
      method: 'post',
      path: '/api/memories/reembed',
      auth: 'user',
      tags,
      body: reembedInput,
      errorCodes: { kinId: 'VALIDATION_ERROR', all: 'VALIDATION_ERROR' },
      output: z.object({ total: z.number().int(), success: z.number().int(), failed: z.number().int() }).meta({ id: 'ReembedMemoriesResult' }),
      async handler({ body }, ctx) {
        return memoryJobs.reembed({ kinId: await jobKinId(body.kinId), all: body.all }, ctx.commandMetadata());
      },
    }),
  ];
}
