import { callMetadata } from '../toolKit.js';
import { z } from 'zod';
import type { NativeTool, ToolContext } from '../tools.js';
import { createMemory, deleteMemory, updateMemory } from '../../commands/memories.js';
import { DomainError } from '../../es/errors.js';
import type { Filter } from '../../es/readStore.js';
import { memoryCategorySchema, memoryScopeSchema } from '../../events/memories.js';
import { KINS, type KinDoc } from '../../projections/kins.js';
import { MEMORIES, type MemoryDoc } from '../../projections/memories.js';
import { searchMemories } from '../memorySearch.js';

/**
 * The memory tools of kins.md (domain `memory`): recall searches what the Kin may remember (its
 * memories and shared ones), memorize / update_memory / forget change its own memories, and
 * list_memories browses them. Results are plain JSON the model reads; refusals are `{ error }`.
 */


/** A domain refusal (unknown memory, empty content) is something the model can correct. */
async function refusalsAsErrors<T>(work: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DomainError) return { error: error.message };
    throw error;
  }
}

const DAY_MS = 86_400_000;

/** "3 days ago": the model reasons about age better than about timestamps. */
function age(updatedAt: string, now = Date.now()): string {
  const minutes = Math.round((now - Date.parse(updatedAt)) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round((now - Date.parse(updatedAt)) / DAY_MS);
  if (days < 60) return `${days} days ago`;
  return `${Math.round(days / 30)} months ago`;
}

const recallInput = z.object({
  query: z.string().trim().min(1).describe('What you are trying to remember, in a few words or a question'),
  limit: z.number().int().min(1).max(20).optional().describe('Default: 10'),
});

export const recallTool: NativeTool = {
  name: 'recall',
  domain: 'memory',
  description: 'Search your long-term memory (and memories other Kins shared) for facts, preferences, decisions or knowledge from past interactions.',
  defaultDisabled: false,
  input: recallInput,
  execute: (async (input: z.output<typeof recallInput>, context: ToolContext) => {
    const { memories, metadata } = await searchMemories(context.services, { kinId: context.kinId, query: input.query, limit: input.limit });
    return {
      memories: memories.map((memory) => ({
        id: memory.id,
        content: memory.content,
        category: memory.category,
        subject: memory.subject,
        importance: memory.importance,
        scope: memory.scope,
        ...(memory.authorKinName !== undefined ? { sharedBy: memory.authorKinName } : {}),
        ...(memory.sourceContext ? { sourceContext: memory.sourceContext } : {}),
        age: age(memory.updatedAt),
        score: Number(memory.score.toFixed(4)),
      })),
      searchMode: metadata.mode,
      ...(metadata.reason ? { note: `Searched by keywords only: ${metadata.reason}` } : {}),
    };
  }) as NativeTool['execute'],
};

const memorizeInput = z.object({
  content: z.string().trim().min(1).describe('One clear, standalone statement to remember'),
  category: memoryCategorySchema.describe('fact, preference, decision or knowledge'),
  subject: z.string().trim().min(1).optional().describe('Who or what it is about (a person, a topic)'),
  importance: z.number().int().min(1).max(10).optional().describe('1 trivial, 5 useful, 10 critical'),
  scope: memoryScopeSchema
    .optional()
    .describe('"private" (default): only you recall it. "shared": every Kin can recall it; only for facts that would help other Kins too.'),
});

export const memorizeTool: NativeTool = {
  name: 'memorize',
  domain: 'memory',
  description: 'Save something worth remembering to your long-term memory, for future conversations.',
  defaultDisabled: false,
  input: memorizeInput,
  execute: (async (input: z.output<typeof memorizeInput>, context: ToolContext) =>
    refusalsAsErrors(async () => {
      const { memoryId, position } = await createMemory(
        context.services,
        {
          kinId: context.kinId,
          content: input.content,
          category: input.category,
          subject: input.subject ?? null,
          importance: input.importance ?? null,
          scope: input.scope ?? 'private',
          sourceChannel: 'explicit',
        },
        callMetadata(context),
      );
      await context.services.settle(position);
      return { id: memoryId, content: input.content, category: input.category, subject: input.subject ?? null, scope: input.scope ?? 'private' };
    })) as NativeTool['execute'],
};

const updateInput = z.object({
  memory_id: z.string().min(1),
  content: z.string().trim().min(1).optional(),
  category: memoryCategorySchema.optional(),
  subject: z.string().trim().min(1).nullable().optional().describe('null removes the subject'),
  scope: memoryScopeSchema.optional(),
});

export const updateMemoryTool: NativeTool = {
  name: 'update_memory',
  domain: 'memory',
  description: 'Correct or complete one of your memories (by id, as recall or list_memories gives it).',
  defaultDisabled: false,
  input: updateInput,
  execute: (async ({ memory_id: memoryId, ...changes }: z.output<typeof updateInput>, context: ToolContext) =>
    refusalsAsErrors(async () => {
      const { position, changed } = await updateMemory(context.services, { memoryId, kinId: context.kinId, changes }, callMetadata(context));
      await context.services.settle(position);
      const memory = await context.readStore.collection<MemoryDoc>(MEMORIES).get(memoryId);
      if (!memory) return { error: 'Memory not found' };
      const { content, category, subject, scope } = memory;
      return { id: memoryId, content, category, subject, scope, changed };
    })) as NativeTool['execute'],
};

const forgetInput = z.object({ memory_id: z.string().min(1) });

export const forgetTool: NativeTool = {
  name: 'forget',
  domain: 'memory',
  description: 'Delete one of your memories that is wrong, outdated or no longer relevant.',
  defaultDisabled: false,
  input: forgetInput,
  execute: (async ({ memory_id: memoryId }: z.output<typeof forgetInput>, context: ToolContext) =>
    refusalsAsErrors(async () => {
      const { position } = await deleteMemory(context.services, { memoryId, kinId: context.kinId }, callMetadata(context));
      await context.services.settle(position);
      return { success: true, id: memoryId };
    })) as NativeTool['execute'],
};

const listInput = z.object({
  subject: z.string().optional(),
  category: memoryCategorySchema.optional(),
  scope: memoryScopeSchema
    .optional()
    .describe('Omit for all your own memories; "private" for your private ones; "shared" for the shared memories of every Kin'),
  limit: z.number().int().min(1).max(200).optional().describe('Default: 50'),
});

export const listMemoriesTool: NativeTool = {
  name: 'list_memories',
  domain: 'memory',
  description: 'List your memories (newest change first), optionally by subject, category or scope.',
  defaultDisabled: false,
  input: listInput,
  execute: (async (input: z.output<typeof listInput>, context: ToolContext) => {
    const filter: Filter = input.scope === 'shared' ? { scope: 'shared' } : { kinId: context.kinId, ...(input.scope ? { scope: input.scope } : {}) };
    if (input.subject !== undefined) filter.subject = input.subject;
    if (input.category !== undefined) filter.category = input.category;
    const memories = await context.readStore
      .collection<MemoryDoc>(MEMORIES)
      .find(filter, { sort: { updatedAt: -1, id: -1 }, limit: input.limit ?? 50 });
    const authorIds = [...new Set(memories.map((memory) => memory.kinId).filter((kinId) => kinId !== context.kinId))];
    const authors = authorIds.length ? await context.readStore.collection<KinDoc>(KINS).find({ id: { $in: authorIds } }) : [];
    const names = new Map(authors.map((kin) => [kin.id, kin.name]));
    return {
      memories: memories.map((memory) => ({
        id: memory.id,
        content: memory.content,
        category: memory.category,
        subject: memory.subject,
        importance: memory.importance,
        scope: memory.scope,
        ...(memory.kinId !== context.kinId ? { sharedBy: names.get(memory.kinId) ?? null } : {}),
        ...(memory.sourceContext ? { sourceContext: memory.sourceContext } : {}),
        age: age(memory.updatedAt),
      })),
    };
  }) as NativeTool['execute'],
};

export const memoryTools: readonly NativeTool[] = [recallTool, memorizeTool, updateMemoryTool, forgetTool, listMemoriesTool];
