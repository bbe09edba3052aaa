import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { conflict } from '../es/errors.js';
import { parseTaskGroupEvent, taskGroupStream, type TaskGroupEvent } from '../events/tasks.js';

/**
 * A concurrency group: "at most M tasks active, the excess queued and promoted oldest-first when a
 * slot frees". Every decision that changes the count is taken on the group's own stream with its
 * revision, so two spawns (or a spawn and a finish) racing cannot both take the last slot, and a
 * release and the promotion it allows are one append: nothing can happen in between.
 */
type Member = { taskId: string; parentKinId: string; max: number };

export type GroupState = {
  active: Member[];
  /** Oldest first: the order of GroupTaskQueued is the order of queuedAt. */
  queued: (Member & { queuedAt: string })[];
  /** Every task that ever joined, so that joining again (a redelivered reaction) does nothing. */
  seen: string[];
};

type Base = { group: string; taskId: string; now: Date };
export type GroupCommand =
  | (Base & { type: 'JoinGroup'; parentKinId: string; max: number })
  | (Base & { type: 'LeaveGroup' })
  | (Base & { type: 'ForcePromote' });

export const initialGroupState = (): GroupState => ({ active: [], queued: [], seen: [] });

const without = <T extends { taskId: string }>(members: T[], taskId: string) => members.filter((m) => m.taskId !== taskId);

export function evolveGroup(state: GroupState, event: TaskGroupEvent): GroupState {
  const { taskId, parentKinId } = event.data;
  switch (event.type) {
    case 'GroupTaskQueued': {
      const member = { taskId, parentKinId, max: event.data.concurrencyMax, queuedAt: event.data.queuedAt };
      return { ...state, queued: [...state.queued, member], seen: [...state.seen, taskId] };
    }
    case 'GroupTaskAdmitted': {
      const member = { taskId, parentKinId, max: event.data.concurrencyMax };
      const seen = state.seen.includes(taskId) ? state.seen : [...state.seen, taskId];
      return { active: [...without(state.active, taskId), member], queued: without(state.queued, taskId), seen };
    }
    case 'GroupTaskReleased':
      return { ...state, active: without(state.active, taskId), queued: without(state.queued, taskId) };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const taskNotQueued = () => conflict('TASK_NOT_QUEUED', 'Task is not in queued status');

export function decideGroup(command: GroupCommand, state: GroupState): TaskGroupEvent[] {
  const { group, taskId } = command;
  const at = command.now.toISOString();
  switch (command.type) {
    case 'JoinGroup': {
      if (state.seen.includes(taskId)) return [];
      const { parentKinId, max } = command;
      if (state.active.length >= max) {
        return [{ type: 'GroupTaskQueued', data: { group, taskId, parentKinId, concurrencyMax: max, queuedAt: at } }];
      }
      return [{ type: 'GroupTaskAdmitted', data: { group, taskId, parentKinId, concurrencyMax: max, via: 'spawn', byTaskId: null, admittedAt: at } }];
    }
    case 'LeaveGroup': {
      const member = state.active.find((m) => m.taskId === taskId) ?? state.queued.find((m) => m.taskId === taskId);
      if (!member) return [];
      const released: TaskGroupEvent = { type: 'GroupTaskReleased', data: { group, taskId, parentKinId: member.parentKinId, releasedAt: at } };
      // At most one promotion per leaving task, judged with its own maximum (the spec's rule).
      const next = without(state.queued, taskId)[0];
      if (!next || without(state.active, taskId).length >= member.max) return [released];
      const admitted: TaskGroupEvent = {
        type: 'GroupTaskAdmitted',
        data: { group, taskId: next.taskId, parentKinId: next.parentKinId, concurrencyMax: next.max, via: 'promotion', byTaskId: taskId, admittedAt: at },
      };
      return [released, admitted];
    }
    case 'ForcePromote': {
      const member = state.queued.find((m) => m.taskId === taskId);
      if (!member) throw taskNotQueued();
      return [
        {
          type: 'GroupTaskAdmitted',
          data: { group, taskId, parentKinId: member.parentKinId, concurrencyMax: member.max, via: 'forced', byTaskId: null, admittedAt: at },
        },
      ];
    }
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const groupDecider: Decider<GroupState, GroupCommand, TaskGroupEvent> = {
  initialState: initialGroupState,
  evolve: evolveGroup,
  decide: decideGroup,
};

export const runGroupCommand = (deps: { runCommand: RunCommand }, command: GroupCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: taskGroupStream(command.group), decider: groupDecider, parse: parseTaskGroupEvent, command, metadata });
