import { callMetadata, orError, toolsOf } from './toolKit.js';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { cancelTask, respondToTask, runTaskCommand, spawnTask, taskNotFound, type SpawnTaskInput } from '../commands/tasks.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import type { NativeTool, ToolContext } from './tools.js';

/**
 * The task tools of kins.md ("tasks" domain): spawn and manage sub-tasks from a conversation, and
 * the sub-task's own tools (report_to_parent, update_task_status, request_input), which only a
 * task's turns get (src/agents/taskTurn.ts decides which turn sees which).
 */

const taskTool = toolsOf('tasks');



const NO_TASK = { error: 'No task context: this tool is only available while running a task' };

const spawnInput = {
  title: z.string().trim().min(1).max(200).describe('Short label, max ~60 chars'),
  task_description: z.string().trim().min(1).max(32_000).describe('Everything the sub-Kin needs to know: it starts from this alone'),
  mode: z.enum(['await', 'async']).describe('"await": the result comes back to you as a new message you answer; "async": it is only deposited for information'),
  model: z.string().trim().min(1).optional().describe('Model id for the task (default: the executing Kin\'s model)'),
  allow_human_prompt: z.boolean().optional().describe('May the task ask humans questions (prompt_human)? Default: true'),
  concurrency_group: z.string().trim().min(1).max(200).optional().describe('Queue name: tasks of a group run at most concurrency_max at a time; the excess waits and starts, oldest first, when a slot frees'),
  concurrency_max: z.number().int().min(1).max(100).optional().describe('Max tasks of the group running at once (default 1)'),
};
type SpawnArgs = { title: string; task_description: string; mode: 'await' | 'async'; model?: string; allow_human_prompt?: boolean; concurrency_group?: string; concurrency_max?: number };

async function spawn(context: ToolContext, args: SpawnArgs, sourceKinId: string | null) {
  const input: SpawnTaskInput = {
    parentKinId: context.kinId,
    sourceKinId,
    title: args.title,
    description: args.task_description,
    mode: args.mode,
    model: args.model ?? null,
    cronId: null,
    parentTaskId: context.taskId ?? null,
    concurrencyGroup: args.concurrency_group ?? null,
    concurrencyMax: args.concurrency_group ? (args.concurrency_max ?? 1) : null,
    allowHumanPrompt: args.allow_human_prompt ?? true,
  };
  const { taskId, status } = await spawnTask(context.services, input, callMetadata(context));
  const note = args.mode === 'await' ? 'Its result will reach you as a new message when it finishes.' : 'Its result will be deposited in your conversation for information.';
  return { taskId, status, note: status === 'queued' ? `Queued until a slot of "${input.concurrencyGroup}" frees. ${note}` : note };
}

async function ownTask(context: ToolContext, taskId: string): Promise<TaskDoc> {
  const task = await context.readStore.collection<TaskDoc>(TASKS).get(taskId);
  if (!task || task.parentKinId !== context.kinId) throw taskNotFound();
  return task;
}

const summary = (task: TaskDoc, kinId: string, queuePosition: number | null) => ({
  id: task.id,
  title: task.title,
  description: task.description,
  status: task.status,
  mode: task.mode,
  spawnType: task.spawnType,
  relationship: task.parentKinId === kinId ? 'spawned_by_me' : 'assigned_to_me',
  result: task.result,
  error: task.error,
  depth: task.depth,
  concurrencyGroup: task.concurrencyGroup,
  queuePosition,
  createdAt: task.createdAt,
  updatedAt: task.updatedAt,
});

export const taskTools: readonly NativeTool[] = [
  taskTool({
    name: 'spawn_self',
    description: 'Start a sub-task run by a copy of yourself, with a mission described in full. Use a concurrency group to limit how many run at once.',
    input: z.object(spawnInput),
    execute: (args, context) => orError(() => spawn(context, args, null)),
  }),
  taskTool({
    name: 'spawn_kin',
    description: 'Delegate a sub-task to another Kin of the platform (by slug or id), with a mission described in full.',
    input: z.object({ kin_slug: z.string().trim().min(1).describe('Slug or id of the Kin that should do it'), ...spawnInput }),
    execute: (args, context) =>
      orError(async () => {
        const target = await context.readStore.collection<KinDoc>(KINS).findOne({ $or: [{ id: args.kin_slug }, { slug: args.kin_slug }] });
        if (!target) return { error: `Kin not found for slug "${args.kin_slug}"` };
        return spawn(context, args, target.id === context.kinId ? null : target.id);
      }),
  }),
  taskTool({
    name: 'respond_to_task',
    description: 'Answer the question one of your sub-tasks asked you with request_input; the sub-task then goes on.',
    input: z.object({ task_id: z.string().min(1), answer: z.string().trim().min(1).max(32_000) }),
    execute: ({ task_id, answer }, context) =>
      orError(async () => {
        await respondToTask(context.services, { taskId: task_id, kinId: context.kinId, answer }, callMetadata(context));
        return { success: true };
      }),
  }),
  taskTool({
    name: 'cancel_task',
    description: 'Cancel one of your sub-tasks that is queued, pending or in progress.',
    input: z.object({ task_id: z.string().min(1) }),
    execute: ({ task_id }, context) =>
      orError(async () => {
        await ownTask(context, task_id);
        await cancelTask(context.services, task_id, callMetadata(context));
        return { success: true };
      }),
  }),
  taskTool({
    name: 'list_tasks',
    description: 'List the tasks you spawned and the tasks other Kins delegated to you (newest first).',
    input: z.object({ status: z.string().optional().describe('Only tasks with this status') }),
    async execute({ status }, context) {
      const tasks = context.readStore.collection<TaskDoc>(TASKS);
      const filter = { $or: [{ parentKinId: context.kinId }, { sourceKinId: context.kinId }], ...(status ? { status } : {}) };
      const found = await tasks.find(filter, { sort: { createdAt: -1 }, limit: 50 });
      const positions = new Map<string, number>();
      for (const group of new Set(found.filter((t) => t.status === 'queued' && t.concurrencyGroup).map((t) => t.concurrencyGroup!))) {
        const queued = await tasks.find({ concurrencyGroup: group, status: 'queued' }, { sort: { queuedAt: 1, id: 1 } });
        queued.forEach((task, index) => positions.set(task.id, index + 1));
      }
      return { tasks: found.map((task) => summary(task, context.kinId, positions.get(task.id) ?? null)) };
    },
  }),
  taskTool({
    name: 'report_to_parent',
    description:
      'Send an intermediate update to the Kin that asked for this task (in "await" mode it gets a new turn, in "async" mode it is informational). Does not end the task.',
    input: z.object({ message: z.string().trim().min(1).max(32_000) }),
    execute: ({ message }, context) =>
      orError(async () => {
        if (!context.taskId) return NO_TASK;
        const result = await runTaskCommand(context.services, { type: 'ReportToParent', taskId: context.taskId, reportId: uuidv7(), message, now: new Date() }, callMetadata(context));
        await context.services.settle(result.position);
        return { success: true };
      }),
  }),
  taskTool({
    name: 'update_task_status',
    description:
      'Finish your task: "completed" with your result, or "failed" with the reason. This delivers the outcome and ends the task; "in_progress" only says you are still working.',
    input: z.object({
      status: z.enum(['in_progress', 'completed', 'failed']),
      result: z.string().max(100_000).optional().describe('The result, when completed'),
      error: z.string().max(10_000).optional().describe('What went wrong, when failed'),
    }),
    execute: ({ status, result, error }, context) =>
      orError(async () => {
        if (!context.taskId) return NO_TASK;
        const command = { type: 'UpdateTaskStatus' as const, taskId: context.taskId, status, result: result ?? null, error: error ?? null, now: new Date() };
        const recorded = await runTaskCommand(context.services, command, callMetadata(context));
        await context.services.settle(recorded.position);
        return { success: true, status };
      }),
  }),
  taskTool({
    name: 'request_input',
    description:
      'Ask the Kin that asked for this task a question (clarification or a decision). Its answer arrives as a new message and your task goes on; limited number of questions per task.',
    input: z.object({ question: z.string().trim().min(1).max(10_000) }),
    execute: ({ question }, context) =>
      orError(async () => {
        if (!context.taskId) return NO_TASK;
        const limit = context.services.config.tasks.maxRequestInput;
        const command = { type: 'AwaitInput' as const, taskId: context.taskId, requestId: uuidv7(), kind: 'parent' as const, question, limit, now: new Date() };
        const recorded = await runTaskCommand(context.services, command, callMetadata(context));
        await context.services.settle(recorded.position);
        return { success: true, note: 'The answer will arrive as a new message. End this turn now.' };
      }),
  }),
];
