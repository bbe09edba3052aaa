import { z } from 'zod';
import { cancelTask, forcePromoteTask, taskNotFound } from '../commands/tasks.js';
import type { Filter } from '../es/readStore.js';
import { taskModeSchema, taskStatusSchema } from '../events/tasks.js';
import { avatarUrlOf, KINS, type KinDoc } from '../projections/kins.js';
import { MESSAGES, type MessageDoc } from '../projections/messages.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';

/** A number from the query string, defaulted when absent or not a number, then clamped (the spec's paging). */
const clampedInt = (fallback: number, min: number, max: number) =>
  z
    .preprocess((value) => {
      const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(parsed) ? Math.trunc(parsed) : fallback;
    }, z.number().int())
    .transform((n) => Math.min(Math.max(n, min), max));

const listQuery = z.object({
  status: z.string().optional().describe('exact status'),
  kinId: z.string().optional().describe('the requesting (parent) Kin'),
  cronId: z.string().optional(),
  search: z.string().optional().describe('case-insensitive, in title or description'),
  limit: clampedInt(20, 1, 100),
  offset: clampedInt(0, 0, Number.MAX_SAFE_INTEGER),
});

const common = {
  id: z.string(),
  parentKinId: z.string(),
  title: z.string().nullable(),
  description: z.string(),
  status: taskStatusSchema,
  mode: taskModeSchema,
  model: z.string().nullable(),
  concurrencyGroup: z.string().nullable(),
  concurrencyMax: z.number().nullable(),
  depth: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
};

const taskSummary = z
  .object({
    ...common,
    parentKinName: z.string(),
    parentKinAvatarUrl: z.string().nullable(),
    sourceKinId: z.string().nullable(),
    sourceKinName: z.string().nullable(),
    sourceKinAvatarUrl: z.string().nullable(),
    cronId: z.string().nullable(),
    queuePosition: z.null(),
  })
  .meta({ id: 'TaskSummary' });

const taskDetail = z.object({ ...common, result: z.string().nullable(), error: z.string().nullable() }).meta({ id: 'Task' });

const taskMessage = z
  .object({
    id: z.string(),
    role: z.enum(['user', 'assistant', 'system']),
    content: z.string().nullable(),
    sourceType: z.string(),
    sourceId: z.string().nullable(),
    isRedacted: z.boolean(),
    toolCalls: z.array(z.object({ id: z.string(), name: z.string(), args: z.unknown(), result: z.unknown().optional(), offset: z.number() })).nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'TaskMessage' });

const success = z.object({ success: z.literal(true) });
const idParams = z.object({ id: z.string().min(1) });

export function taskOperations(services: Services): Operation[] {
  const { readStore } = services;
  const tasks = () => readStore.collection<TaskDoc>(TASKS);
  const tags = ['Tasks'];

  async function kinsById(ids: string[]) {
    const unique = [...new Set(ids)];
    const found = unique.length ? await readStore.collection<KinDoc>(KINS).find({ id: { $in: unique } }) : [];
    return new Map(found.map((kin) => [kin.id, kin]));
  }
  /** The task's model, else its parent Kin's (tasks-crons-webhooks.md: "effective" model). */
  const modelOf = (task: TaskDoc, kins: Map<string, KinDoc>) => task.model ?? kins.get(task.parentKinId)?.model ?? null;
  const base = (task: TaskDoc, kins: Map<string, KinDoc>) => ({
    id: task.id,
    parentKinId: task.parentKinId,
    title: task.title,
    description: task.description,
    status: task.status,
    mode: task.mode,
    model: modelOf(task, kins),
    concurrencyGroup: task.concurrencyGroup,
    concurrencyMax: task.concurrencyMax,
    depth: task.depth,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
  });

  async function findTask(id: string) {
    const task = await tasks().get(id);
    if (!task) throw taskNotFound();
    return task;
  }

  return [
    defineOperation({
      name: 'tasks',
      summary: 'List tasks, newest first (filters: status, kinId = requesting Kin, cronId, search; pages of limit/offset)',
      method: 'get',
      path: '/api/tasks',
      auth: 'user',
      tags,
      query: listQuery,
      output: z.object({ tasks: z.array(taskSummary), total: z.number().int(), hasMore: z.boolean() }),
      async handler({ query }) {
        const filter: Filter = {
          ...(query.status ? { status: query.status } : {}),
          ...(query.kinId ? { parentKinId: query.kinId } : {}),
          ...(query.cronId ? { cronId: query.cronId } : {}),
        };
        const order = { sort: { createdAt: -1 as const, id: -1 as const } };
        let page: TaskDoc[];
        let total: number;
        const needle = query.search?.trim().toLowerCase();
        if (needle) {
          // The read-store filter has no substring match; a task list is small enough to scan.
          const matching = (await tasks().find(filter, order)).filter(
            (task) => task.description.toLowerCase().includes(needle) || (task.title ?? '').toLowerCase().includes(needle),
          );
          total = matching.length;
          page = matching.slice(query.offset, query.offset + query.limit);
        } else {
          total = await tasks().count(filter);
          page = await tasks().find(filter, { ...order, skip: query.offset, limit: query.limit });
        }
        const kins = await kinsById(page.flatMap((task) => [task.parentKinId, ...(task.sourceKinId ? [task.sourceKinId] : [])]));
        const summaries = page.map((task) => {
          const parent = kins.get(task.parentKinId);
          const source = task.sourceKinId ? kins.get(task.sourceKinId) : undefined;
          return {
            ...base(task, kins),
            parentKinName: parent?.name ?? 'Unknown',
            parentKinAvatarUrl: parent ? avatarUrlOf(parent) : null,
            sourceKinId: task.sourceKinId,
            sourceKinName: task.sourceKinId ? (source?.name ?? 'Unknown') : null,
            sourceKinAvatarUrl: source ? avatarUrlOf(source) : null,
            cronId: task.cronId,
            queuePosition: null,
          };
        });
        return { tasks: summaries, total, hasMore: query.offset + page.length < total };
      },
    }),
    defineOperation({
      name: 'task',
      summary: "A task with its conversation (the parent Kin's messages of this task, oldest first)",
      method: 'get',
      path: '/api/tasks/:id',
      auth: 'user',
      tags,
      params: idParams,
      output: z.object({ task: taskDetail, messages: z.array(taskMessage) }),
      async handler({ params }) {
        const task = await findTask(params.id);
        const kins = await kinsById([task.parentKinId]);
        const messages = await readStore
          .collection<MessageDoc>(MESSAGES)
          .find({ kinId: task.parentKinId, taskId: task.id }, { sort: { createdAt: 1, id: 1 } });
        return {
          task: { ...base(task, kins), result: task.result, error: task.error },
          messages: messages.map((message) => ({
            id: message.id,
            role: message.role,
            content: message.content,
            sourceType: message.sourceType,
            sourceId: message.sourceId,
            isRedacted: false,
            toolCalls: message.toolCalls,
            createdAt: message.createdAt,
          })),
        };
      },
    }),
    defineOperation({
      name: 'cancelTask',
      summary: 'Cancel a task that has not finished (queued ones too); its slot goes to the next queued task of its group',
      method: 'post',
      path: '/api/tasks/:id/cancel',
      auth: 'user',
      tags,
      params: idParams,
      output: success,
      async handler({ params }, ctx) {
        await cancelTask(services, params.id, ctx.commandMetadata());
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'forcePromoteTask',
      summary: 'Start a queued task now, past its concurrency group limit',
      method: 'post',
      path: '/api/tasks/:id/force-promote',
      auth: 'user',
      tags,
      params: idParams,
      output: success,
      async handler({ params }, ctx) {
        await forcePromoteTask(services, params.id, ctx.commandMetadata());
        return { success: true as const };
      },
    }),
  ];
}
