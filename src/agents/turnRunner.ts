import { v7 as uuidv7 } from 'uuid';
import type { Logger } from 'pino';
import { runTurnCommand } from '../commands/messages.js';
import { DomainError } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import { QUEUE, type QueueItemDoc } from '../projections/messages.js';
import type { RunCommand } from '../es/commandRunner.js';
import { runTurn, SHUTDOWN, STOP_REASON, type TurnDeps } from './turn.js';
import { createTurnIndex, slotOf, type OpenTurn } from './turnScheduler.js';

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

const POLL_MS = 1000;
/** Events read from the log per query while catching up. */
const READ_BATCH = 500;

/**
 * The queue worker. The queue is a read model of the turn streams; starting a turn is a command
 * with an expected revision, so a message is started once even if two runners race. Turns found
 * in progress at start-up were cut by a crash or a shutdown and are run again: nothing of them was
 * recorded, so the message is answered once.
 *
 * Which turn runs next comes from an index of the open turns by slot (src/agents/turnScheduler.ts):
 * it is loaded from the queue's read model once, then follows the log from where that read model
 * was, so that a pass reads only the events appended since the last one and looks at one turn per
 * waiting slot, however many messages are queued.
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
  const open = createTurnIndex();
  /** Position of the last logged event the index has taken into account; null until it is loaded. */
  let read: number | null = null;
  let stopped = true;
  let scheduling: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  const queue = () => deps.readStore.collection<QueueItemDoc>(QUEUE);
  // The stores of the whole service, reached through the turn's dependencies (built on first use).
  const services = () => deps.turn().services;

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

  /** The index as of the read model once it holds the whole log at start-up; false if stopped first. */
  async function load(): Promise<boolean> {
    const { eventStore, projections } = services();
    const head = await eventStore.headPosition();
    while (!(await projections.waitFor(head, POLL_MS))) if (stopped) return false;
    open.load(await queue().find({ status: { $in: ['pending', 'processing'] } }), head);
    read = head;
    return true;
  }

  /** Takes in the events appended since the last pass (by this process or another one). */
  async function catchUp() {
    const { eventStore } = services();
    for (;;) {
      const events = await eventStore.readAll({ fromPosition: read! + 1, limit: READ_BATCH });
      for (const event of events) open.apply(event);
      if (events.length > 0) read = events.at(-1)!.position;
      if (events.length < READ_BATCH) return;
    }
  }

  /** The turn's queue item, started; null when it is closed, gone, or not in the read model yet. */
  async function startNext(turn: OpenTurn): Promise<QueueItemDoc | null> {
    let position: number | null;
    try {
      const result = await runTurnCommand(
        deps,
        { type: 'StartTurn', queueItemId: turn.id, userMessageId: uuidv7(), now: new Date() },
        { actor: { kind: 'system', id: 'turn-runner' }, correlationId: turn.id, now: new Date() },
      );
      position = result.position;
    } catch (error) {
      // Answered or removed meanwhile (another runner): nothing to do with it.
      if (!(error instanceof DomainError)) throw error;
      open.drop(turn.id);
      return null;
    }
    // A resumed turn starts with no new event: its item is then as recent as the index's last news of it.
    await deps.settle(Math.max(position ?? -1, turn.position));
    const item = await queue().get(turn.id);
    // Otherwise it was closed or purged meanwhile, which the index reads in the log at the next pass.
    return item?.status === 'processing' ? item : null;
  }

  async function schedule() {
    if (read === null && !(await load())) return;
    await catchUp();
    for (const turn of open.next((slot) => !running.has(slot))) {
      if (stopped) return;
      if (deps.paused?.(turn.kinId)) continue;
      // A started turn nobody runs was cut short: it is resumed first (it sorts first in its slot).
      const item = await startNext(turn);
      if (item) launch(item);
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
