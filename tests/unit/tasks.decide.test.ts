import { describe, expect, it } from 'vitest';
import { groupDecider, type GroupCommand } from '../../src/commands/taskGroups.js';
import { EMPTY_OUTPUT, NO_STATUS, startTurnId, taskDecider, type TaskCommand } from '../../src/commands/tasks.js';
import { fold } from '../../src/es/decider.js';
import type { TaskEvent, TaskGroupEvent } from '../../src/events/tasks.js';

const now = new Date('2026-11-28T10:00:00.000Z');

describe('a concurrency group', () => {
  const given = (...events: TaskGroupEvent[]) => fold(groupDecider, events);
  const when = (events: TaskGroupEvent[], command: Omit<GroupCommand, 'group' | 'now'>) =>
    groupDecider.decide({ group: 'g', now, ...command } as GroupCommand, given(...events));
  const join = (taskId: string, max = 2) => ({ type: 'JoinGroup' as const, taskId, parentKinId: 'k', max });
  /** Replays joins, appending what each decides. */
  const joined = (...ids: string[]) => ids.reduce<TaskGroupEvent[]>((events, id) => [...events, ...when(events, join(id))], []);

  it('admits up to its maximum, then queues', () => {
    const events = joined('a', 'b', 'c');
    expect(events.map((e) => `${e.type}:${e.data.taskId}`)).toEqual(['GroupTaskAdmitted:a', 'GroupTaskAdmitted:b', 'GroupTaskQueued:c']);
  });

  it('does nothing when a task joins again', () => {
    expect(when(joined('a', 'b', 'c'), join('c'))).toEqual([]);
    expect(when(joined('a'), join('a'))).toEqual([]);
  });

  it('promotes the oldest queued task in the same decision that releases a slot, once', () => {
    const events = joined('a', 'b', 'c', 'd');
    const released = when(events, { type: 'LeaveGroup', taskId: 'b' });
    expect(released.map((e) => e.type)).toEqual(['GroupTaskReleased', 'GroupTaskAdmitted']);
    expect(released[1]!.data).toMatchObject({ taskId: 'c', via: 'promotion', byTaskId: 'b' });
    expect(when([...events, ...released], { type: 'LeaveGroup', taskId: 'b' })).toEqual([]);
  });

  it('releases a cancelled queued task without promoting past the limit', () => {
    const released = when(joined('a', 'b', 'c', 'd'), { type: 'LeaveGroup', taskId: 'd' });
    expect(released.map((e) => `${e.type}:${e.data.taskId}`)).toEqual(['GroupTaskReleased:d']);
  });

  it('does not promote while the group is still full (after a force-promote)', () => {
    const events = joined('a', 'b', 'c', 'd');
    const forced = when(events, { type: 'ForcePromote', taskId: 'd' });
    expect(forced[0]!.data).toMatchObject({ taskId: 'd', via: 'forced' });
    const released = when([...events, ...forced], { type: 'LeaveGroup', taskId: 'a' });
    expect(released.map((e) => `${e.type}:${e.data.taskId}`)).toEqual(['GroupTaskReleased:a']);
  });

  it('refuses to force-promote a task that is not queued', () => {
    expect(() => when(joined('a'), { type: 'ForcePromote', taskId: 'a' })).toThrow(expect.objectContaining({ status: 409, code: 'TASK_NOT_QUEUED' }));
  });
});

describe('a task', () => {
  const spawned: TaskEvent = {
    type: 'TaskSpawned',
    data: {
      taskId: 't',
      parentKinId: 'k',
      sourceKinId: null,
      spawnType: 'self',
      mode: 'await',
      model: null,
      title: 'T',
      description: 'do it',
      depth: 1,
      parentTaskId: null,
      cronId: null,
      allowHumanPrompt: false,
      concurrencyGroup: null,
      concurrencyMax: null,
      spawnedAt: now.toISOString(),
    },
  };
  const started: TaskEvent = { type: 'TaskStarted', data: { taskId: 't', parentKinId: 'k', executingKinId: 'k', turnId: startTurnId('t'), startedAt: now.toISOString() } };
  const when = (events: TaskEvent[], command: Record<string, unknown>) =>
    taskDecider.decide({ taskId: 't', now, ...command } as TaskCommand, fold(taskDecider, events));
  const endTurn = (turnId: string, outcome: Record<string, unknown> = { kind: 'answered' }, waitingForChildren = false) => ({ type: 'EndTaskTurn', turnId, outcome, waitingForChildren });

  it('starts once', () => {
    expect(when([spawned], { type: 'StartTask' })).toEqual([started]);
    expect(when([spawned, started], { type: 'StartTask' })).toEqual([]);
  });

  it('gets one nudge when a turn ends without a status, then fails', () => {
    const [nudge] = when([spawned, started], endTurn(startTurnId('t')));
    expect(nudge).toMatchObject({ type: 'TaskTurnOpened', data: { reason: 'nudge', sourceType: 'system' } });
    const turnId = (nudge as Extract<TaskEvent, { type: 'TaskTurnOpened' }>).data.turnId;
    expect(when([spawned, started, nudge!], endTurn(startTurnId('t')))).toEqual([]);
    expect(when([spawned, started, nudge!], endTurn(turnId))).toEqual([{ type: 'TaskFailed', data: { taskId: 't', parentKinId: 'k', error: NO_STATUS, failedAt: now.toISOString() } }]);
  });

  it('fails on an empty answer or a failed turn, and waits for its sub-tasks or an answer instead of a nudge', () => {
    expect(when([spawned, started], endTurn(startTurnId('t'), { kind: 'empty' }))[0]).toMatchObject({ type: 'TaskFailed', data: { error: EMPTY_OUTPUT } });
    expect(when([spawned, started], endTurn(startTurnId('t'), { kind: 'failed', error: 'boom' }))[0]).toMatchObject({ type: 'TaskFailed', data: { error: 'boom' } });
    expect(when([spawned, started], endTurn(startTurnId('t'), { kind: 'answered' }, true))).toEqual([]);
    const [asked] = when([spawned, started], { type: 'AwaitInput', requestId: 'r', kind: 'parent', question: '?', limit: 3 });
    expect(asked).toMatchObject({ type: 'TaskAwaitingInput', data: { status: 'awaiting_kin_response', requestInputCount: 1 } });
    expect(when([spawned, started, asked!], endTurn(startTurnId('t'), { kind: 'failed', error: 'restart' }))).toEqual([]);
  });

  it('takes an answer once, and only to a question it asked', () => {
    const [asked] = when([spawned, started], { type: 'AwaitInput', requestId: 'r', kind: 'parent', question: '?', limit: 3 });
    const answer = { type: 'ProvideInput', requestId: 'r', content: 'blue', sourceType: 'kin', sourceId: 'k', inReplyTo: null };
    const [opened] = when([spawned, started, asked!], answer);
    expect(opened).toMatchObject({ type: 'TaskTurnOpened', data: { reason: 'answer', content: 'blue', requestId: 'r' } });
    expect(when([spawned, started, asked!, opened!], answer)).toEqual([]);
    expect(() => when([spawned, started], { ...answer, requestId: 'other' })).toThrow(expect.objectContaining({ code: 'NO_PENDING_REQUEST' }));
  });

  it('enforces the request_input limit and allowHumanPrompt', () => {
    expect(() => when([spawned, started], { type: 'AwaitInput', requestId: 'r', kind: 'parent', question: '?', limit: 0 })).toThrow('Max request_input limit (0) reached');
    expect(() => when([spawned, started], { type: 'AwaitInput', requestId: 'p', kind: 'human', question: '?', limit: 0 })).toThrow(expect.objectContaining({ code: 'HUMAN_PROMPT_NOT_ALLOWED' }));
  });

  it('cannot be cancelled or finished again once it has ended', () => {
    const [completed] = when([spawned, started], { type: 'UpdateTaskStatus', status: 'completed', result: '42', error: null });
    expect(completed).toMatchObject({ type: 'TaskCompleted', data: { result: '42' } });
    expect(() => when([spawned, started, completed!], { type: 'CancelTask' })).toThrow(expect.objectContaining({ status: 409, code: 'TASK_NOT_CANCELLABLE', message: 'Task is already finished' }));
    expect(() => when([spawned, started, completed!], { type: 'UpdateTaskStatus', status: 'failed', result: null, error: 'x' })).toThrow(expect.objectContaining({ code: 'TASK_FINISHED' }));
    expect(when([spawned, started, completed!], { type: 'FailTask', error: 'late' })).toEqual([]);
    expect(when([spawned], { type: 'CancelTask' })[0]).toMatchObject({ type: 'TaskCancelled' });
  });
});
