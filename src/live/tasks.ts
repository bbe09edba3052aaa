import type { LiveMapper, LiveMessage } from './feed.js';
import type { ReadStore } from '../es/readStore.js';
import { ACTIVE_STATUSES, parseTaskEvent, parseTaskGroupEvent, taskEventTypes, taskGroupEventTypes } from '../events/tasks.js';
import { avatarUrlOf, KINS, type KinDoc } from '../projections/kins.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import { queueUpdate } from './messages.js';

const taskTypes: ReadonlySet<string> = new Set(taskEventTypes);
const groupTypes: ReadonlySet<string> = new Set(taskGroupEventTypes);

/** Title and executing Kin of a task, as task:status / task:done carry them (platform.md §10). */
async function described(readStore: ReadStore, taskId: string) {
  const task = await readStore.collection<TaskDoc>(TASKS).get(taskId);
  if (!task) return null;
  const kin = await readStore.collection<KinDoc>(KINS).get(task.executingKinId);
  return { task, title: task.title ?? task.description, senderName: kin?.name ?? null, senderAvatarUrl: kin ? avatarUrlOf(kin) : null };
}

/** DECISIONS §16: a change of a concurrency group's queue is a queue:update of the parent Kin, with the group's counts. */
async function groupUpdate(readStore: ReadStore, kinId: string, group: string, max: number | null): Promise<LiveMessage> {
  const tasks = readStore.collection<TaskDoc>(TASKS);
  const active = await tasks.count({ concurrencyGroup: group, status: { $in: [...ACTIVE_STATUSES] } });
  const queued = await tasks.count({ concurrencyGroup: group, status: 'queued' });
  return queueUpdate(readStore, kinId, { taskQueue: { group, active, queued, max } });
}

/** task:status as a task moves, task:done when it ends, queue:update when its group's queue changes. */
export const taskLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (groupTypes.has(recorded.type)) {
    const event = parseTaskGroupEvent(recorded);
    const { taskId, parentKinId: kinId, group } = event.data;
    const about = await described(readStore, taskId);
    if (!about) return [];
    const { title, senderName, senderAvatarUrl } = about;
    const update = await groupUpdate(readStore, kinId, group, about.task.concurrencyMax);
    switch (event.type) {
      case 'GroupTaskQueued':
        return [{ type: 'task:status', kinId, data: { taskId, kinId, status: 'queued', title, senderName, senderAvatarUrl, concurrencyGroup: group } }, update];
      case 'GroupTaskAdmitted': {
        const onSpawn = event.data.via === 'spawn' ? { concurrencyGroup: group } : {};
        return [{ type: 'task:status', kinId, data: { taskId, kinId, status: 'pending', title, senderName, senderAvatarUrl, ...onSpawn } }, update];
      }
      case 'GroupTaskReleased':
        return [update];
    }
  }
  if (!taskTypes.has(recorded.type)) return [];
  const event = parseTaskEvent(recorded);
  const { taskId, parentKinId: kinId } = event.data;
  const about = await described(readStore, taskId);
  if (!about) return [];
  const { title, senderName, senderAvatarUrl } = about;
  const status = (value: string): LiveMessage => ({ type: 'task:status', kinId, data: { taskId, kinId, status: value, title, senderName, senderAvatarUrl } });
  switch (event.type) {
    case 'TaskSpawned':
      // A grouped task's first status is its group's decision (queued or pending).
      return event.data.concurrencyGroup ? [] : [status('pending')];
    case 'TaskStarted':
      return [status('in_progress')];
    case 'TaskTurnOpened':
      return event.data.reason === 'answer' ? [status('in_progress')] : [];
    case 'TaskAwaitingInput':
      return [status(event.data.status)];
    case 'TaskReported':
      return [];
    case 'TaskCompleted':
      return [{ type: 'task:done', kinId, data: { taskId, kinId, status: 'completed', result: event.data.result, error: null, title, senderName, senderAvatarUrl } }];
    case 'TaskFailed':
      return [{ type: 'task:done', kinId, data: { taskId, kinId, status: 'failed', result: null, error: event.data.error, title, senderName, senderAvatarUrl } }];
    case 'TaskCancelled':
      return [status('cancelled')];
  }
};
