import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import {
  FINISHED_STATUSES,
  parseTaskEvent,
  parseTaskGroupEvent,
  taskEventTypes,
  taskGroupEventTypes,
  type RequestKind,
  type TaskMode,
  type TaskStatus,
} from '../events/tasks.js';

export const TASKS = 'tasks';

/** The task record of tasks-crons-webhooks.md §1 (ISO timestamps), plus what the engine needs. */
export type TaskDoc = Doc & {
  id: string;
  parentKinId: string;
  sourceKinId: string | null;
  /** sourceKinId ?? parentKinId: whose identity, tools and model run the task. */
  executingKinId: string;
  spawnType: 'self' | 'other';
  mode: TaskMode;
  model: string | null;
  title: string | null;
  description: string;
  status: TaskStatus;
  result: string | null;
  error: string | null;
  depth: number;
  parentTaskId: string | null;
  cronId: string | null;
  requestInputCount: number;
  interKinRequestCount: number;
  pendingRequestId: string | null;
  /** What the pending request waits for, and since when (the inter-Kin response timeout). */
  pendingRequestKind: RequestKind | null;
  awaitingSince: string | null;
  channelOriginId: string | null;
  allowHumanPrompt: boolean;
  concurrencyGroup: string | null;
  concurrencyMax: number | null;
  queuedAt: string | null;
  createdAt: string;
  updatedAt: string;
};

const notFinished = { $nin: [...FINISHED_STATUSES] };

export const tasksProjection: Projection = {
  name: 'tasks',
  version: 2,
  // A deleted cron leaves its past runs in the list, no longer tied to it (tasks-crons-webhooks.md §2).
  handles: [...taskEventTypes, ...taskGroupEventTypes, 'CronDeleted'],
  collections: [TASKS],
  async setup(store) {
    const tasks = store.collection(TASKS);
    await tasks.ensureIndex({ fields: { createdAt: -1 } });
    await tasks.ensureIndex({ fields: { status: 1 } });
    await tasks.ensureIndex({ fields: { parentKinId: 1, createdAt: -1 } });
    await tasks.ensureIndex({ fields: { concurrencyGroup: 1, status: 1 } });
    await tasks.ensureIndex({ fields: { parentTaskId: 1 } });
    await tasks.ensureIndex({ fields: { cronId: 1 } });
  },
  async apply(recorded, store) {
    const tasks = store.collection<TaskDoc>(TASKS);
    if (recorded.type === 'CronDeleted') {
      const { cronId } = recorded.data as { cronId: string };
      await tasks.update({ cronId }, { $set: { cronId: null } });
      return;
    }
    if ((taskGroupEventTypes as readonly string[]).includes(recorded.type)) {
      const event = parseTaskGroupEvent(recorded);
      switch (event.type) {
        case 'GroupTaskQueued':
          await tasks.update({ id: event.data.taskId, status: 'queued' }, { $set: { queuedAt: event.data.queuedAt, updatedAt: event.data.queuedAt } });
          return;
        case 'GroupTaskAdmitted':
          // A task cancelled meanwhile stays cancelled; only a waiting one becomes pending.
          await tasks.update({ id: event.data.taskId, status: 'queued' }, { $set: { status: 'pending', queuedAt: null, updatedAt: event.data.admittedAt } });
          return;
        case 'GroupTaskReleased':
          return;
      }
    }
    const event = parseTaskEvent(recorded);
    const { taskId } = event.data;
    switch (event.type) {
      case 'TaskSpawned': {
        const { taskId: id, spawnedAt, ...fields } = event.data;
        const grouped = fields.concurrencyGroup !== null;
        await tasks.replace({
          id,
          ...fields,
          executingKinId: fields.sourceKinId ?? fields.parentKinId,
          // A grouped task waits until its group has decided (GroupTaskQueued / GroupTaskAdmitted).
          status: grouped ? 'queued' : 'pending',
          queuedAt: grouped ? spawnedAt : null,
          result: null,
          error: null,
          requestInputCount: 0,
          interKinRequestCount: 0,
          pendingRequestId: null,
          pendingRequestKind: null,
          awaitingSince: null,
          channelOriginId: null,
          createdAt: spawnedAt,
          updatedAt: spawnedAt,
        });
        return;
      }
      case 'TaskStarted':
        await tasks.update({ id: taskId, status: notFinished }, { $set: { status: 'in_progress', queuedAt: null, updatedAt: event.data.startedAt } });
        return;
      case 'TaskTurnOpened':
        await tasks.update(
          { id: taskId, status: notFinished },
          { $set: { status: 'in_progress', pendingRequestId: null, pendingRequestKind: null, awaitingSince: null, updatedAt: event.data.openedAt } },
        );
        return;
      case 'TaskAwaitingInput': {
        const { status, requestId, kind, requestInputCount, interKinRequestCount, at } = event.data;
        await tasks.update(
          { id: taskId, status: notFinished },
          { $set: { status, pendingRequestId: requestId, pendingRequestKind: kind, awaitingSince: at, requestInputCount, interKinRequestCount, updatedAt: at } },
        );
        return;
      }
      case 'TaskReported':
        await tasks.update({ id: taskId }, { $set: { updatedAt: event.data.reportedAt } });
        return;
      case 'TaskCompleted':
        await tasks.update({ id: taskId }, { $set: { status: 'completed', result: event.data.result, ...ended(event.data.completedAt) } });
        return;
      case 'TaskFailed':
        await tasks.update({ id: taskId }, { $set: { status: 'failed', error: event.data.error, ...ended(event.data.failedAt) } });
        return;
      case 'TaskCancelled':
        await tasks.update({ id: taskId }, { $set: { status: 'cancelled', ...ended(event.data.cancelledAt) } });
        return;
    }
  },
};

const ended = (at: string) => ({ pendingRequestId: null, pendingRequestKind: null, awaitingSince: null, queuedAt: null, updatedAt: at });
