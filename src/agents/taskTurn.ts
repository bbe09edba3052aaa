import { loadTask, type LiveTaskState } from '../commands/tasks.js';
import type { EventStore } from '../es/eventStore.js';
import { turnStream } from '../events/messages.js';
import { FINISHED_STATUSES } from '../events/tasks.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import type { QueueItemDoc } from '../projections/messages.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import type { Services } from '../services.js';
import { QUICK_SESSION_EXCLUDED_TOOLS } from './quickSessionTools.js';

/** Tools only a task's own turns get (tasks-crons-webhooks.md: "a sub-Kin tool set"). */
export const SUB_TASK_TOOLS: ReadonlySet<string> = new Set(['report_to_parent', 'update_task_status', 'request_input']);
/** Managing one's tasks and answering them is for the Kin's main conversation. */
const MAIN_ONLY_TOOLS = ['respond_to_task', 'cancel_task'];
/** Removed from a turn that reads another Kin's reply (messages.md §3), so replies are never answered. */
const INTER_KIN_TOOLS = ['send_message', 'reply', 'list_kins'];

/** Which native tools a turn may not use: by its conversation (main, quick session, task) and what it answers. */
export function excludedTools(item: Pick<QueueItemDoc, 'sessionId' | 'taskId' | 'metadata'>, task?: { allowHumanPrompt: boolean }): ReadonlySet<string> {
  const answersReply = typeof item.metadata?.inReplyTo === 'string';
  const names = new Set(item.sessionId ? QUICK_SESSION_EXCLUDED_TOOLS : item.taskId ? MAIN_ONLY_TOOLS : SUB_TASK_TOOLS);
  if (answersReply) for (const name of INTER_KIN_TOOLS) names.add(name);
  if (task && !task.allowHumanPrompt) names.add('prompt_human');
  return names;
}

export type TaskTurn =
  | { ok: false; error: string }
  | {
      ok: true;
      /** The executing Kin (sourceKinId ?? parentKinId), with the task's model when it has one. */
      kin: KinDoc;
      /** Appended to the executing Kin's system prompt. */
      instructions: string;
      excluded: ReadonlySet<string>;
    };

export const INTERRUPTED_AFTER_ACTING =
  'Interrupted by a server restart after it had already acted (its tools had changed things); it was not run again, so that nothing is done twice';

/**
 * Did the turn act before it was cut? Its tools record with the turn's correlation id and the Kin
 * as actor; only those count (the platform's own bookkeeping, e.g. memory recall, does not).
 */
async function actedDuring(eventStore: EventStore, queueItemId: string): Promise<boolean> {
  const own = turnStream(queueItemId);
  const started = (await eventStore.readStream(own)).find((event) => event.type === 'TurnStarted');
  if (!started) return false;
  let after = started.position;
  for (;;) {
    const batch = (await eventStore.readAll({ fromPosition: after, limit: 501 })).filter((event) => event.position > after);
    if (batch.length === 0) return false;
    const acted = batch.some((e) => e.stream !== own && e.metadata.correlationId === queueItemId && e.metadata.actor.kind === 'kin');
    if (acted) return true;
    after = batch[batch.length - 1]!.position;
  }
}

async function instructionsFor(services: Services, state: LiveTaskState, parent: KinDoc | null): Promise<string> {
  const { task } = state;
  const label = task.title ?? task.description.slice(0, 80);
  const requester = parent ? `${parent.name}` : 'the Kin that asked for it';
  const limits = services.config.tasks;
  const lines = [
    '## Your task',
    `You are running a task ("${label}", id ${task.taskId}) for ${requester}${task.spawnType === 'other' ? ', who delegated it to you' : ''}. The first message of this conversation describes it.`,
    'Work on it with your tools. When you are done, call update_task_status with status "completed" and your result, or "failed" with the reason: that ends the task and delivers the outcome. Your task is not finished until you call it.',
    `report_to_parent sends an intermediate update; request_input asks ${requester} a question (at most ${limits.maxRequestInput} times) and the answer arrives as a new message.`,
    task.depth < limits.maxDepth ? `You may split the work with spawn_self / spawn_kin (this task is at depth ${task.depth} of ${limits.maxDepth}).` : 'You may not spawn further sub-tasks (maximum depth reached).',
  ];
  if (task.cronId) {
    const previous = await services.readStore
      .collection<TaskDoc>(TASKS)
      .find({ cronId: task.cronId, id: { $ne: task.taskId }, status: { $in: [...FINISHED_STATUSES] } }, { sort: { createdAt: -1 }, limit: 5 });
    if (previous.length > 0) {
      lines.push('', '### Previous runs of this scheduled task (newest first)');
      for (const run of previous) lines.push(`- ${run.createdAt} ${run.status}: ${(run.result ?? run.error ?? '').slice(0, 500)}`);
    }
  }
  return lines.join('\n');
}

/**
 * What a task's turn runs with, or why it must not run. A turn left `processing` is one the runner
 * resumes after a restart (src/agents/turnRunner.ts): it runs again from the task's recorded
 * messages, unless its first attempt had already acted, in which case the task fails with a clear
 * reason (or, if it was waiting for an answer, keeps waiting) instead of acting twice.
 */
export async function prepareTaskTurn(services: Services, item: QueueItemDoc): Promise<TaskTurn> {
  const state = await loadTask(services.eventStore, item.taskId!);
  if (state.status === 'none') return { ok: false, error: 'This task no longer exists' };
  if ((FINISHED_STATUSES as readonly string[]).includes(state.status)) return { ok: false, error: `This task is already ${state.status}` };
  if (item.status === 'processing' && (await actedDuring(services.eventStore, item.id))) return { ok: false, error: INTERRUPTED_AFTER_ACTING };
  const live = state as LiveTaskState;
  const kins = services.readStore.collection<KinDoc>(KINS);
  const kin = await kins.get(live.executingKinId);
  if (!kin) return { ok: false, error: 'The Kin that runs this task no longer exists' };
  const parent = await kins.get(live.task.parentKinId);
  const model = live.task.model;
  return {
    ok: true,
    // A model chosen for the task is served by whichever provider has it, not the Kin's preferred one.
    kin: model ? { ...kin, model, providerId: null } : kin,
    instructions: await instructionsFor(services, live, parent),
    excluded: excludedTools(item, live.task),
  };
}
