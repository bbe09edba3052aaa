import { v5 as uuidv5 } from 'uuid';
import { depositMessage, PRIORITY, runTurnCommand, type DepositInput, type QueueInput } from '../commands/messages.js';
import { cancelPrompt } from '../commands/prompts.js';
import { runGroupCommand } from '../commands/taskGroups.js';
import { loadTask, runTaskCommand, type LiveTaskState, type TaskCommand, type TurnOutcome } from '../commands/tasks.js';
import type { CommandMetadata } from '../es/decider.js';
import { DomainError } from '../es/errors.js';
import type { RecordedEvent } from '../es/eventStore.js';
import type { Reactor } from '../es/reactors.js';
import { parseKinEvent } from '../events/kins.js';
import { parseMessageEvent, turnStream } from '../events/messages.js';
import { parsePromptEvent } from '../events/prompts.js';
import { FINISHED_STATUSES, parseTaskEvent, parseTaskGroupEvent, taskEventTypes } from '../events/tasks.js';
import { PROMPTS, type PromptDoc } from '../projections/prompts.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import type { Services } from '../services.js';

/** Ids of what a reaction records are derived from its cause, so that a redelivered event records nothing new. */
const NAMESPACE = '3f0e7b52-9c4d-4a1e-8b6f-2d7c5e9a1b30';
const derivedId = (key: string) => uuidv5(key, NAMESPACE);

const notFinished = { $nin: [...FINISHED_STATUSES] };
const labelOf = (task: LiveTaskState['task']) => task.title ?? task.description;

/**
 * The task process manager. Everything that happens to a task after a command is derived here from
 * the events, in log order, from a checkpoint: start when admitted, queue each turn, close a turn
 * (nudge or fail), deliver results, release the group slot (which promotes the next task in the same
 * append). A crash anywhere between two of these steps is repaired by the redelivery of the event
 * after the checkpoint, and every step is idempotent (derived ids, deciders that return []).
 */
export function taskReactor(services: () => Services): Reactor {
  async function queue(input: QueueInput & { queueItemId: string }, metadata: CommandMetadata) {
    const s = services();
    const { queueItemId, ...rest } = input;
    const command = { type: 'QueueMessage' as const, queueItemId, sessionId: null, fileIds: [], ...rest, now: metadata.now };
    const result = await runTurnCommand(s, command, metadata);
    await s.settle(result.position);
    s.turns.kick();
  }

  async function deposit(input: DepositInput, metadata: CommandMetadata) {
    const s = services();
    await s.settle((await depositMessage(s, input, metadata)).position);
  }

  /** Commands a reaction may find moot (the task ended meanwhile): a refusal is not a failure to retry. */
  async function task(command: TaskCommand, metadata: CommandMetadata) {
    try {
      const result = await runTaskCommand(services(), command, metadata);
      await services().settle(result.position);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }

  async function liveTask(taskId: string): Promise<LiveTaskState | null> {
    const state = await loadTask(services().eventStore, taskId);
    return state.status === 'none' ? null : state;
  }

  /** Result delivery (tasks-crons-webhooks.md §1 "Resolution"), then the informational notice to a delegated Kin. */
  async function deliverOutcome(state: LiveTaskState, outcome: { result: string } | { error: string }, metadata: CommandMetadata) {
    const { task: t, executingKinId } = state;
    const label = labelOf(t);
    const completed = 'result' in outcome;
    const forTurn = completed ? `[Task: ${label}] Result: ${outcome.result || '(no result given)'}` : `[Task failed: ${label}] Error: ${outcome.error}`;
    const forInformation = completed ? `[Task completed: ${label}] ${outcome.result}` : forTurn;
    const source = { sourceType: 'task' as const, sourceId: executingKinId };
    if (t.parentTaskId) {
      // A sub-task of a task reports to that task's conversation.
      const parent = await liveTask(t.parentTaskId);
      if (parent && t.mode === 'await') {
        await task({ type: 'DeliverChildResult', taskId: t.parentTaskId, childTaskId: t.taskId, content: forTurn, sourceId: executingKinId, now: metadata.now }, metadata);
      } else if (parent) {
        const messageId = derivedId(`outcome:${t.taskId}`);
        await deposit({ messageId, kinId: parent.task.parentKinId, taskId: t.parentTaskId, content: forInformation, ...source, metadata: { resolvedTaskId: t.taskId } }, metadata);
      }
    } else if (t.mode === 'await' || (!completed && t.cronId)) {
      const queueItemId = derivedId(`outcome:${t.taskId}`);
      await queue({ queueItemId, kinId: t.parentKinId, content: forTurn, ...source, priority: PRIORITY.task, metadata: { resolvedTaskId: t.taskId } }, metadata);
    } else {
      const messageId = derivedId(`outcome:${t.taskId}`);
      await deposit({ messageId, kinId: t.parentKinId, content: forInformation, ...source, metadata: { resolvedTaskId: t.taskId } }, metadata);
    }
    if (t.spawnType === 'other') {
      const notice = completed ? `[Task completed: ${label}] ${outcome.result}` : `[Task failed: ${label}] ${outcome.error}`;
      await deposit({ messageId: derivedId(`notice:${t.taskId}`), kinId: executingKinId, content: notice, sourceType: 'task', sourceId: t.parentKinId, metadata: { relatedTaskId: t.taskId } }, metadata);
    }
  }

  /** After a task ends: its pending prompts are cancelled and its group slot (or queue place) is released. */
  async function release(state: LiveTaskState, metadata: CommandMetadata) {
    const s = services();
    const prompts = await s.readStore.collection<PromptDoc>(PROMPTS).find({ taskId: state.task.taskId, status: 'pending' });
    for (const prompt of prompts) await s.settle((await cancelPrompt(s, prompt.id, metadata)).position);
    const group = state.task.concurrencyGroup;
    if (!group) return;
    const released = await runGroupCommand(s, { type: 'LeaveGroup', group, taskId: state.task.taskId, now: metadata.now }, metadata);
    await s.settle(released.position);
  }

  /** The task a turn belongs to, from its MessageQueued. */
  async function taskOfTurn(queueItemId: string): Promise<string | null> {
    const [queued] = await services().eventStore.readStream(turnStream(queueItemId), { limit: 1 });
    if (!queued) return null;
    const event = parseMessageEvent(queued);
    return event.type === 'MessageQueued' ? event.data.taskId : null;
  }

  async function endTurn(queueItemId: string, outcome: TurnOutcome, metadata: CommandMetadata) {
    const taskId = await taskOfTurn(queueItemId);
    if (!taskId) return;
    const children = await services().readStore.collection<TaskDoc>(TASKS).count({ parentTaskId: taskId, mode: 'await', status: notFinished });
    await task({ type: 'EndTaskTurn', taskId, turnId: queueItemId, outcome, waitingForChildren: children > 0, now: metadata.now }, metadata);
  }

  async function react(recorded: RecordedEvent) {
    const s = services();
    const metadata: CommandMetadata = {
      actor: { kind: 'system', id: 'tasks' },
      correlationId: recorded.metadata.correlationId,
      causationId: recorded.id,
      now: new Date(),
    };
    const now = metadata.now;

    if (recorded.type === 'GroupTaskAdmitted') {
      const { taskId } = parseTaskGroupEvent(recorded).data;
      return task({ type: 'StartTask', taskId, now }, metadata);
    }
    if (recorded.type === 'AssistantMessageRecorded' || recorded.type === 'TurnFailed') {
      const event = parseMessageEvent(recorded);
      if (event.type === 'AssistantMessageRecorded') {
        const { content, toolCalls } = event.data;
        return endTurn(event.data.queueItemId, !content && toolCalls.length === 0 ? { kind: 'empty' } : { kind: 'answered' }, metadata);
      }
      if (event.type === 'TurnFailed') return endTurn(event.data.queueItemId, { kind: 'failed', error: event.data.error }, metadata);
      return;
    }
    if (recorded.type === 'PromptCreated' || recorded.type === 'PromptAnswered') {
      const event = parsePromptEvent(recorded);
      const taskId = event.data.taskId;
      if (!taskId) return;
      if (event.type === 'PromptCreated') {
        return task({ type: 'AwaitInput', taskId, requestId: event.data.promptId, kind: 'human', question: event.data.question, limit: 0, now }, metadata);
      }
      if (event.type === 'PromptAnswered') {
        const by = recorded.metadata.actor;
        const human = by.kind === 'user' || by.kind === 'apiKey';
        const answer = { content: event.data.responseText, sourceType: human ? ('user' as const) : ('system' as const), sourceId: by.id };
        return task({ type: 'ProvideInput', taskId, requestId: event.data.promptId, ...answer, inReplyTo: null, now }, metadata);
      }
      return;
    }
    if (recorded.type === 'KinDeleted') {
      const { kinId } = parseKinEvent(recorded).data;
      const orphans = await s.readStore
        .collection<TaskDoc>(TASKS)
        .find({ $or: [{ parentKinId: kinId }, { executingKinId: kinId }], status: notFinished });
      for (const orphan of orphans) await task({ type: 'FailTask', taskId: orphan.id, error: 'The Kin of this task was deleted', now }, metadata);
      return;
    }

    const event = parseTaskEvent(recorded);
    const { taskId } = event.data;
    switch (event.type) {
      case 'TaskSpawned': {
        const { concurrencyGroup: group, concurrencyMax, parentKinId } = event.data;
        if (!group) return task({ type: 'StartTask', taskId, now }, metadata);
        // Normally joined by spawnTask already; this covers a crash between the two appends.
        const joined = await runGroupCommand(s, { type: 'JoinGroup', group, taskId, parentKinId, max: concurrencyMax ?? 1, now }, metadata);
        return s.settle(joined.position);
      }
      case 'TaskStarted': {
        const state = await liveTask(taskId);
        if (!state) return;
        const first = { content: state.task.description, sourceType: 'system' as const, sourceId: null, metadata: { executingKinId: state.executingKinId } };
        return queue({ queueItemId: event.data.turnId, kinId: event.data.parentKinId, taskId, ...first, priority: PRIORITY.task }, metadata);
      }
      case 'TaskTurnOpened': {
        const { turnId, parentKinId, content, sourceType, sourceId, inReplyTo } = event.data;
        const state = await liveTask(taskId);
        if (!state) return;
        const turnMetadata = { executingKinId: state.executingKinId, ...(inReplyTo ? { inReplyTo } : {}) };
        return queue({ queueItemId: turnId, kinId: parentKinId, taskId, content, sourceType, sourceId, priority: PRIORITY.task, metadata: turnMetadata }, metadata);
      }
      case 'TaskAwaitingInput': {
        if (event.data.kind !== 'parent') return;
        const state = await liveTask(taskId);
        if (!state) return;
        const content = `[Task "${labelOf(state.task)}" asks]: ${event.data.question ?? ''}\n(Answer with respond_to_task, task_id: ${taskId})`;
        const queueItemId = derivedId(`ask:${event.data.requestId}`);
        const source = { sourceType: 'task' as const, sourceId: state.executingKinId };
        return queue({ queueItemId, kinId: event.data.parentKinId, content, ...source, priority: PRIORITY.task, metadata: { relatedTaskId: taskId } }, metadata);
      }
      case 'TaskReported': {
        const state = await liveTask(taskId);
        if (!state) return;
        const content = `[Task report: ${labelOf(state.task)}] ${event.data.message}`;
        const id = derivedId(`report:${event.data.reportId}`);
        const source = { sourceType: 'task' as const, sourceId: state.executingKinId, metadata: { relatedTaskId: taskId } };
        if (state.task.mode === 'await') return queue({ queueItemId: id, kinId: event.data.parentKinId, content, ...source, priority: PRIORITY.task }, metadata);
        return deposit({ messageId: id, kinId: event.data.parentKinId, content, ...source }, metadata);
      }
      case 'TaskCompleted':
      case 'TaskFailed': {
        const state = await liveTask(taskId);
        if (!state) return;
        await deliverOutcome(state, event.type === 'TaskCompleted' ? { result: event.data.result } : { error: event.data.error }, metadata);
        return release(state, metadata);
      }
      case 'TaskCancelled': {
        const state = await liveTask(taskId);
        if (!state) return;
        // Stop the turn in progress (its partial answer is recorded), then close one not started yet.
        await s.turns.stopTask(event.data.parentKinId, taskId);
        if (state.turn) {
          try {
            const closed = await runTurnCommand(s, { type: 'FailTurn', queueItemId: state.turn.id, messageId: derivedId(`cancelled:${taskId}`), error: 'Task cancelled', now }, metadata);
            await s.settle(closed.position);
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
          }
        }
        if (state.task.spawnType === 'other') {
          const notice = { content: `[Task cancelled: ${labelOf(state.task)}]`, sourceType: 'task' as const, sourceId: state.task.parentKinId, metadata: { relatedTaskId: taskId } };
          await deposit({ messageId: derivedId(`notice:${taskId}`), kinId: state.executingKinId, ...notice }, metadata);
        }
        return release(state, metadata);
      }
      default:
        return;
    }
  }

  return {
    name: 'tasks',
    handles: [...taskEventTypes, 'GroupTaskAdmitted', 'AssistantMessageRecorded', 'TurnFailed', 'PromptCreated', 'PromptAnswered', 'KinDeleted'],
    react,
  };
}
