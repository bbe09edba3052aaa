import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { fold } from '../es/decider.js';
import type { EventStore } from '../es/eventStore.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import type { SourceType } from '../events/messages.js';
import {
  FINISHED_STATUSES,
  parseTaskEvent,
  taskStream,
  type RequestKind,
  type TaskEvent,
  type TaskSpawnedData,
  type TaskStatus,
  type TurnReason,
} from '../events/tasks.js';
import { Mutex } from '../lib/mutex.js';
import { KINS } from '../projections/kins.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import type { Services } from '../services.js';
import { kinNotFound } from './kins.js';
import { runGroupCommand, taskNotQueued } from './taskGroups.js';

// ── State ─────────────────────────────────────────────────────────────────────────────────────

/**
 * `spawned` covers queued and pending: whether a grouped task may start is its group's decision
 * (src/commands/taskGroups.ts); the task itself only learns that it started.
 */
export type TaskLifeStatus = Exclude<TaskStatus, 'queued' | 'pending'> | 'spawned';

export type TaskProgress = {
  task: TaskSpawnedData;
  executingKinId: string;
  /** The turn opened last (an ended turn stays here until the next one opens). */
  turn: { id: string; reason: 'start' | TurnReason } | null;
  openedTurns: string[];
  /** Questions asked and not answered yet: while there are some, a finished turn waits for them. */
  pending: { requestId: string; kind: RequestKind }[];
  requestInputCount: number;
  interKinRequestCount: number;
};

export type TaskState = { status: 'none' } | ({ status: TaskLifeStatus } & TaskProgress);
export type LiveTaskState = Extract<TaskState, { task: TaskSpawnedData }>;

const isFinished = (status: TaskLifeStatus | 'none') => (FINISHED_STATUSES as readonly string[]).includes(status);
/** Started and not finished: it has (or waits between) turns. */
const isRunning = (state: TaskState): state is LiveTaskState =>
  state.status === 'in_progress' || state.status === 'awaiting_human_input' || state.status === 'awaiting_kin_response';

/** Turn ids are derived from what opens them, so that a redelivered reaction opens nothing new. */
const TURN_NAMESPACE = '7a5c9e1e-3d2b-4c8f-9a61-5b0c1d2e3f40';
export const startTurnId = (taskId: string) => uuidv5(`start:${taskId}`, TURN_NAMESPACE);
const nudgeTurnId = (endedTurnId: string) => uuidv5(`nudge:${endedTurnId}`, TURN_NAMESPACE);
const answerTurnId = (requestId: string) => uuidv5(`answer:${requestId}`, TURN_NAMESPACE);
const childTurnId = (childTaskId: string) => uuidv5(`child:${childTaskId}`, TURN_NAMESPACE);

export const NUDGE =
  'Your task is not finished yet. Call update_task_status with status "completed" and your result, or "failed" with the reason, now.';
export const NO_STATUS = 'The task ended without reporting its result (update_task_status was not called)';
export const EMPTY_OUTPUT = 'The model returned an empty response';

export function evolveTask(state: TaskState, event: TaskEvent): TaskState {
  if (event.type === 'TaskSpawned') {
    const task = event.data;
    const counters = { requestInputCount: 0, interKinRequestCount: 0 };
    return { status: 'spawned', task, executingKinId: task.sourceKinId ?? task.parentKinId, turn: null, openedTurns: [], pending: [], ...counters };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'TaskStarted':
      return { ...state, status: 'in_progress', turn: { id: event.data.turnId, reason: 'start' }, openedTurns: [...state.openedTurns, event.data.turnId] };
    case 'TaskTurnOpened': {
      const { turnId, reason, requestId } = event.data;
      const pending = state.pending.filter((p) => p.requestId !== requestId);
      return { ...state, status: 'in_progress', turn: { id: turnId, reason }, openedTurns: [...state.openedTurns, turnId], pending };
    }
    case 'TaskAwaitingInput': {
      const { status, requestId, kind, requestInputCount, interKinRequestCount } = event.data;
      return { ...state, status, pending: [...state.pending, { requestId, kind }], requestInputCount, interKinRequestCount };
    }
    case 'TaskReported':
      return state;
    case 'TaskCompleted':
      return { ...state, status: 'completed' };
    case 'TaskFailed':
      return { ...state, status: 'failed' };
    case 'TaskCancelled':
      return { ...state, status: 'cancelled' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

// ── Decisions ─────────────────────────────────────────────────────────────────────────────────

type Base = { taskId: string; now: Date };

/** How a turn of the task ended (read from its turn stream). */
export type TurnOutcome = { kind: 'answered' } | { kind: 'empty' } | { kind: 'failed'; error: string };

export type TaskCommand =
  | (Base & { type: 'SpawnTask'; spawn: Omit<TaskSpawnedData, 'taskId' | 'spawnedAt'> })
  | (Base & { type: 'StartTask' })
  | (Base & { type: 'EndTaskTurn'; turnId: string; outcome: TurnOutcome; waitingForChildren: boolean })
  | (Base & { type: 'AwaitInput'; requestId: string; kind: RequestKind; question: string | null; limit: number })
  | (Base & { type: 'ProvideInput'; requestId: string; content: string; sourceType: SourceType; sourceId: string | null; inReplyTo: string | null })
  | (Base & { type: 'DeliverChildResult'; childTaskId: string; content: string; sourceId: string })
  | (Base & { type: 'ReportToParent'; reportId: string; message: string })
  | (Base & { type: 'UpdateTaskStatus'; status: 'in_progress' | 'completed' | 'failed'; result: string | null; error: string | null })
  | (Base & { type: 'FailTask'; error: string })
  | (Base & { type: 'CancelTask' });

export const taskNotFound = () => notFound('NOT_FOUND', 'Task not found');
const taskNotActive = () => conflict('TASK_NOT_ACTIVE', 'Task is not active');
const taskFinished = () => conflict('TASK_NOT_CANCELLABLE', 'Task is already finished');

export function decideTask(command: TaskCommand, state: TaskState): TaskEvent[] {
  const { taskId } = command;
  const at = command.now.toISOString();
  if (command.type === 'SpawnTask') {
    if (state.status !== 'none') throw conflict('TASK_EXISTS', 'A task with this id already exists');
    return [{ type: 'TaskSpawned', data: { taskId, ...command.spawn, spawnedAt: at } }];
  }
  if (state.status === 'none') throw taskNotFound();
  const ref = { taskId, parentKinId: state.task.parentKinId };
  const fail = (error: string): TaskEvent[] => [{ type: 'TaskFailed', data: { ...ref, error, failedAt: at } }];
  const openTurn = (turnId: string, reason: TurnReason, message: { content: string; sourceType: SourceType; sourceId: string | null }, extra = { requestId: null as string | null, inReplyTo: null as string | null }): TaskEvent[] =>
    state.openedTurns.includes(turnId) ? [] : [{ type: 'TaskTurnOpened', data: { ...ref, turnId, reason, ...message, ...extra, openedAt: at } }];

  switch (command.type) {
    case 'StartTask':
      if (state.status !== 'spawned') return [];
      return [{ type: 'TaskStarted', data: { ...ref, executingKinId: state.executingKinId, turnId: startTurnId(taskId), startedAt: at } }];
    case 'EndTaskTurn': {
      // Only the task's latest turn decides, and only while it runs: a stale or repeated end is nothing.
      if (!isRunning(state) || state.turn?.id !== command.turnId) return [];
      if (state.pending.length > 0) return [];
      const { outcome } = command;
      if (outcome.kind === 'failed') return fail(outcome.error);
      if (outcome.kind === 'empty') return fail(EMPTY_OUTPUT);
      if (command.waitingForChildren) return [];
      if (state.turn.reason === 'nudge') return fail(NO_STATUS);
      return openTurn(nudgeTurnId(command.turnId), 'nudge', { content: NUDGE, sourceType: 'system', sourceId: null });
    }
    case 'AwaitInput': {
      if (!isRunning(state)) throw taskNotActive();
      if (state.pending.some((p) => p.requestId === command.requestId)) return [];
      let { requestInputCount, interKinRequestCount } = state;
      if (command.kind === 'parent') {
        if (requestInputCount >= command.limit) throw badRequest('REQUEST_INPUT_LIMIT', `Max request_input limit (${command.limit}) reached`);
        requestInputCount++;
      } else if (command.kind === 'kin') {
        if (interKinRequestCount >= command.limit) throw badRequest('INTER_KIN_LIMIT', `Max inter-Kin requests per task (${command.limit}) reached`);
        interKinRequestCount++;
      } else if (!state.task.allowHumanPrompt) {
        throw badRequest('HUMAN_PROMPT_NOT_ALLOWED', 'This task is not allowed to prompt humans');
      }
      const status = command.kind === 'human' ? 'awaiting_human_input' : 'awaiting_kin_response';
      const { requestId, kind, question } = command;
      return [{ type: 'TaskAwaitingInput', data: { ...ref, requestId, kind, status, question, requestInputCount, interKinRequestCount, at } }];
    }
    case 'ProvideInput': {
      const turnId = answerTurnId(command.requestId);
      if (state.openedTurns.includes(turnId)) return [];
      if (!isRunning(state)) throw taskNotActive();
      if (!state.pending.some((p) => p.requestId === command.requestId)) throw conflict('NO_PENDING_REQUEST', 'The task is not waiting for this answer');
      const { content, sourceType, sourceId, requestId, inReplyTo } = command;
      return openTurn(turnId, 'answer', { content, sourceType, sourceId }, { requestId, inReplyTo });
    }
    case 'DeliverChildResult':
      if (!isRunning(state)) return [];
      return openTurn(childTurnId(command.childTaskId), 'child', { content: command.content, sourceType: 'task', sourceId: command.sourceId });
    case 'ReportToParent':
      if (!isRunning(state)) throw taskNotActive();
      return [{ type: 'TaskReported', data: { ...ref, reportId: command.reportId, message: command.message, reportedAt: at } }];
    case 'UpdateTaskStatus':
      if (isFinished(state.status)) throw conflict('TASK_FINISHED', 'Task is already finished');
      if (!isRunning(state)) throw taskNotActive();
      if (command.status === 'in_progress') return [];
      if (command.status === 'completed') return [{ type: 'TaskCompleted', data: { ...ref, result: command.result ?? '', completedAt: at } }];
      return fail(command.error ?? 'The task reported a failure without a reason');
    case 'FailTask':
      return isFinished(state.status) ? [] : fail(command.error);
    case 'CancelTask':
      if (isFinished(state.status)) throw taskFinished();
      return [{ type: 'TaskCancelled', data: { ...ref, cancelledAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const taskDecider: Decider<TaskState, TaskCommand, TaskEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveTask,
  decide: decideTask,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

type Deps = { runCommand: RunCommand };
/** What task commands need (a Services fits). */
export type TaskServices = Pick<Services, 'config' | 'eventStore' | 'readStore' | 'runCommand' | 'settle'>;

export const runTaskCommand = (deps: Deps, command: TaskCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: taskStream(command.taskId), decider: taskDecider, parse: parseTaskEvent, command, metadata });

/** The task as its stream says (the read model may lag behind a reaction). */
export async function loadTask(eventStore: EventStore, taskId: string): Promise<TaskState> {
  return fold(taskDecider, (await eventStore.readStream(taskStream(taskId))).map(parseTaskEvent));
}

export type SpawnTaskInput = {
  parentKinId: string;
  sourceKinId: string | null;
  title: string | null;
  description: string;
  mode: 'await' | 'async';
  model: string | null;
  cronId: string | null;
  parentTaskId: string | null;
  concurrencyGroup: string | null;
  concurrencyMax: number | null;
  allowHumanPrompt?: boolean;
};

/**
 * The global limit counts tasks in the read model, so spawns in one process are taken one at a time
 * (a Kin's parallel tool calls spawn at once). Per services instance, not a module singleton.
 * Group limits do not depend on this: their group stream decides.
 */
const spawnLocks = new WeakMap<object, Mutex>();
const spawnLock = (services: TaskServices) => {
  let lock = spawnLocks.get(services);
  if (!lock) spawnLocks.set(services, (lock = new Mutex()));
  return lock;
};

/**
 * Creates a task (tasks-crons-webhooks.md §1): depth and global limits first (DomainError with the
 * spec's messages), then its concurrency group, if any, admits or queues it. Execution follows
 * from the events (src/reactors/tasks.ts).
 */
export async function spawnTask(services: TaskServices, input: SpawnTaskInput, metadata: CommandMetadata): Promise<{ taskId: string; status: 'queued' | 'pending' }> {
  const { maxDepth, maxConcurrent } = services.config.tasks;
  const tasks = services.readStore.collection<TaskDoc>(TASKS);
  const kins = services.readStore.collection(KINS);
  return spawnLock(services).run(async () => {
    if (!(await kins.get(input.parentKinId))) throw kinNotFound();
    if (input.sourceKinId && !(await kins.get(input.sourceKinId))) throw kinNotFound();
    const parentTask = input.parentTaskId ? await tasks.get(input.parentTaskId) : null;
    if (input.parentTaskId && !parentTask) throw taskNotFound();
    const depth = parentTask ? parentTask.depth + 1 : 1;
    if (depth > maxDepth) throw new DomainError(400, 'MAX_TASK_DEPTH', `Max task depth (${maxDepth}) exceeded`);
    const running = await tasks.count({ status: { $in: ['pending', 'in_progress'] } });
    if (running >= maxConcurrent) throw new DomainError(400, 'MAX_CONCURRENT_TASKS', `Max concurrent tasks (${maxConcurrent}) reached`);

    const group = input.concurrencyGroup?.trim() || null;
    const spawn = {
      parentKinId: input.parentKinId,
      sourceKinId: input.sourceKinId,
      spawnType: input.sourceKinId ? ('other' as const) : ('self' as const),
      mode: input.mode,
      model: input.model,
      title: input.title,
      description: input.description,
      depth,
      parentTaskId: input.parentTaskId,
      cronId: input.cronId,
      allowHumanPrompt: input.allowHumanPrompt ?? true,
      concurrencyGroup: group,
      concurrencyMax: group ? Math.max(1, input.concurrencyMax ?? 1) : null,
    };
    const taskId = uuidv7();
    const spawned = await runTaskCommand(services, { type: 'SpawnTask', taskId, spawn, now: metadata.now }, metadata);
    await services.settle(spawned.position);
    if (!group) return { taskId, status: 'pending' as const };
    const joined = await runGroupCommand(
      services,
      { type: 'JoinGroup', group, taskId, parentKinId: input.parentKinId, max: spawn.concurrencyMax!, now: metadata.now },
      metadata,
    );
    await services.settle(joined.position);
    const queued = joined.state.queued.some((member) => member.taskId === taskId);
    return { taskId, status: queued ? ('queued' as const) : ('pending' as const) };
  });
}

async function taskDoc(services: Pick<Services, 'readStore'>, taskId: string): Promise<TaskDoc> {
  const task = await services.readStore.collection<TaskDoc>(TASKS).get(taskId);
  if (!task) throw taskNotFound();
  return task;
}

/** POST /api/tasks/:id/cancel and the cancel_task tool; the reactor stops its turn and frees its slot. */
export async function cancelTask(services: TaskServices, taskId: string, metadata: CommandMetadata) {
  const task = await taskDoc(services, taskId);
  if ((FINISHED_STATUSES as readonly string[]).includes(task.status)) throw taskFinished();
  const result = await runTaskCommand(services, { type: 'CancelTask', taskId, now: metadata.now }, metadata);
  await services.settle(result.position);
  return result;
}

/** POST /api/tasks/:id/force-promote: a slot past the group's maximum. */
export async function forcePromoteTask(services: TaskServices, taskId: string, metadata: CommandMetadata) {
  const task = await taskDoc(services, taskId);
  if (task.status !== 'queued' || !task.concurrencyGroup) throw taskNotQueued();
  const result = await runGroupCommand(services, { type: 'ForcePromote', group: task.concurrencyGroup, taskId, now: metadata.now }, metadata);
  await services.settle(result.position);
  return result;
}

/** respond_to_task: the parent Kin answers the question its task asked with request_input. */
export async function respondToTask(services: TaskServices, input: { taskId: string; kinId: string; answer: string }, metadata: CommandMetadata) {
  const state = await loadTask(services.eventStore, input.taskId);
  if (state.status === 'none' || state.task.parentKinId !== input.kinId) throw taskNotFound();
  const question = [...state.pending].reverse().find((p) => p.kind === 'parent');
  if (!question) throw conflict('NO_PENDING_REQUEST', 'This task has not asked you anything');
  const result = await runTaskCommand(
    services,
    { type: 'ProvideInput', taskId: input.taskId, requestId: question.requestId, content: input.answer, sourceType: 'kin', sourceId: input.kinId, inReplyTo: null, now: metadata.now },
    metadata,
  );
  await services.settle(result.position);
  return result;
}
