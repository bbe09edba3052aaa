import { v7 as uuidv7 } from 'uuid';
import type { Logger } from 'pino';
import { runTurnCommand } from '../commands/messages.js';
import { DomainError } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import { QUEUE, type QueueItemDoc } from '../projections/messages.js';
import type { RunCommand } from '../es/commandRunner.js';
import { runTurn, SHUTDOWN, STOP_REASON, type TurnDeps } from './turn.js';

export type TurnRunner = {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Looks for work now (after a message was queued). */
  kick(): void;
  /** Stops the generation in progress in that conversation; false when there is none. */
  stopGeneration(kinId: string, sessionId: string | null): boolean;
  /** Stops a task's turn in progress (its partial answer is kept) and waits until it is recorded. */
  stopTask(kinId: string, taskId: string): Promise<boolean>;
  isProcessing(kinId: string): boolean;
};

/**
 * A Kin answers one main-conversation message at a time, and one quick-session message. Each task
 * has its own slot (one turn at a time); how many tasks run at once is bounded by the task limits,
 * since a task's turns are only queued while it is active.
 */
const slotOf = (item: Pick<QueueItemDoc, 'kinId' | 'sessionId' | 'taskId'>) =>
  item.taskId ? `${item.kinId}:task:${item.taskId}` : `${item.kinId}:${item.sessionId ? 'quick' : 'main'}`;

const POLL_MS = 1000;

/**
 * The queue worker. The queue is a read model of the turn streams; starting a turn is a command
 * with an expected revision, so a message is started once even if two runners race. Turns found
 * in progress at start-up were cut by a crash or a shutdown and are run again: nothing of them was
 * recorded, so the message is answered once.
 */
export function createTurnRunner(deps: {
  readStore: ReadStore;
  runCommand: RunCommand;
  settle: (position: number | null) => Promise<void>;
  log: Logger;
  turn: () => TurnDeps;
  /** Slots to leave alone for now (e.g. a Kin being compacted). */
  paused?: (kinId: string) => boolean;
}): TurnRunner {
  const running = new Map<string, { item: QueueItemDoc; controller: AbortController; done: Promise<void> }>();
  let stopped = true;
  let scheduling: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  const queue = () => deps.readStore.collection<QueueItemDoc>(QUEUE);

  function launch(item: QueueItemDoc) {
    const controller = new AbortController();
    const done = runTurn(deps.turn(), item, controller.signal)
      .catch((error: unknown) => deps.log.error({ err: error, queueItemId: item.id }, 'turn failed unexpectedly'))
      .finally(() => {
        running.delete(slotOf(item));
        if (!stopped) kick();
      });
    running.set(slotOf(item), { item, controller, done });
  }

  async function startNext(item: QueueItemDoc) {
    try {
      const result = await runTurnCommand(
        deps,
        { type: 'StartTurn', queueItemId: item.id, userMessageId: uuidv7(), now: new Date() },
        { actor: { kind: 'system', id: 'turn-runner' }, correlationId: item.id, now: new Date() },
      );
      await deps.settle(result.position);
      return true;
    } catch (error) {
      // Removed or answered meanwhile (another runner): nothing to do with it.
      if (error instanceof DomainError) return false;
      throw error;
    }
  }

  async function schedule() {
    const pending = await queue().find({ status: { $in: ['pending', 'processing'] } }, { sort: { status: -1, priority: -1, queuedAt: 1 } });
    for (const item of pending) {
      if (stopped) return;
      const slot = slotOf(item);
      if (running.has(slot) || deps.paused?.(item.kinId)) continue;
      // A processing item nobody runs was cut short: resume it first ('processing' sorts before
      // 'pending'); StartTurn is then a no-op.
      if (await startNext(item)) launch(item);
    }
  }

  function kick() {
    if (stopped) return;
    if (scheduling) {
      again = true;
      return;
    }
    scheduling = schedule()
      .catch((error: unknown) => deps.log.error({ err: error }, 'turn scheduling failed'))
      .finally(() => {
        scheduling = null;
        if (again) {
          again = false;
          kick();
        }
      });
  }

  return {
    async start() {
      stopped = false;
      kick();
      timer = setInterval(kick, POLL_MS);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await scheduling;
      const turns = [...running.values()];
      for (const turn of turns) turn.controller.abort(SHUTDOWN);
      await Promise.all(turns.map((turn) => turn.done));
    },
    kick,
    stopGeneration(kinId, sessionId) {
      const turn = running.get(slotOf({ kinId, sessionId }));
      // The quick slot is per Kin: only that session's own turn may be stopped.
      if (!turn || turn.item.sessionId !== sessionId) return false;
      turn.controller.abort(STOP_REASON);
      return true;
    },
    async stopTask(kinId, taskId) {
      const turn = running.get(slotOf({ kinId, sessionId: null, taskId }));
      if (!turn) return false;
      turn.controller.abort(STOP_REASON);
      await turn.done;
      return true;
    },
    isProcessing: (kinId) => running.has(`${kinId}:main`),
  };
}
