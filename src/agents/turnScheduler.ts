import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';
import { messageEventTypes, parseMessageEvent } from '../events/messages.js';
import { parseQuickSessionEvent } from '../events/quickSessions.js';
import type { QueueItemDoc } from '../projections/messages.js';

/** What the scheduler keeps of an open turn: enough to find its slot and its place in it. */
export type OpenTurn = {
  id: string;
  kinId: string;
  sessionId: string | null;
  taskId: string | null;
  priority: number;
  queuedAt: string;
  /** Started and not closed: a turn cut by a crash or a shutdown, resumed before anything else. */
  started: boolean;
  /** The last event seen for it: the read model must include it before the turn reads its item. */
  position: number;
};

type SlotKey = Pick<OpenTurn, 'kinId' | 'sessionId'> & { taskId?: string | null };

/**
 * A Kin answers one main-conversation message at a time, and one quick-session message. Each task
 * has its own slot (one turn at a time); how many tasks run at once is bounded by the task limits,
 * since a task's turns are only queued while it is active.
 */
export const slotOf = (turn: SlotKey): string =>
  turn.taskId ? `${turn.kinId}:task:${turn.taskId}` : `${turn.kinId}:${turn.sessionId ? 'quick' : 'main'}`;

/** Started turns first, then priority (highest first), then arrival. */
const runsBefore = (a: OpenTurn, b: OpenTurn): number =>
  Number(b.started) - Number(a.started) || b.priority - a.priority || a.queuedAt.localeCompare(b.queuedAt) || a.id.localeCompare(b.id);

const TURN_EVENTS: ReadonlySet<string> = new Set(messageEventTypes);
const CLOSING_EVENTS: ReadonlySet<string> = new Set(['QueuedMessageRemoved', 'AssistantMessageRecorded', 'TurnFailed'] satisfies (typeof messageEventTypes)[number][]);
const turnRef = z.object({ queueItemId: z.string() });

/**
 * The open turns (queued or started, not closed nor removed), grouped by slot and kept in the
 * order they run in, so that picking the next turns costs one look per busy-or-waiting slot, not
 * a scan of everything queued. Filled from the queue's read model once, then kept up to date from
 * the log (`apply`), which says exactly what changed.
 */
export type TurnIndex = {
  /** Starts over from the read model's open items, which include every event up to `position`. */
  load(items: readonly QueueItemDoc[], position: number): void;
  /** Takes a logged event into account; events of other capabilities are ignored. */
  apply(event: RecordedEvent): void;
  /** Forgets a turn (it turned out closed or gone). */
  drop(id: string): void;
  /** The turn each waiting slot runs next, for the slots `isFree` accepts, in the order they run in. */
  next(isFree: (slot: string) => boolean): OpenTurn[];
  /** Open turns in all. */
  size(): number;
};

export function createTurnIndex(): TurnIndex {
  const turns = new Map<string, OpenTurn>();
  /** Each slot's open turns, in running order; a slot without open turns has no entry. */
  const slots = new Map<string, OpenTurn[]>();

  function remove(id: string) {
    const turn = turns.get(id);
    if (!turn) return;
    turns.delete(id);
    const slot = slotOf(turn);
    const line = slots.get(slot);
    if (!line) return;
    const at = line.indexOf(turn);
    if (at >= 0) line.splice(at, 1);
    if (line.length === 0) slots.delete(slot);
  }

  /** Inserts by binary search: a slot may hold thousands of queued turns. */
  function put(turn: OpenTurn) {
    remove(turn.id);
    turns.set(turn.id, turn);
    const slot = slotOf(turn);
    const line = slots.get(slot) ?? [];
    if (line.length === 0) slots.set(slot, line);
    let low = 0;
    let high = line.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (runsBefore(line[middle]!, turn) <= 0) low = middle + 1;
      else high = middle;
    }
    line.splice(low, 0, turn);
  }

  function purgeSession(kinId: string, sessionId: string) {
    const line = slots.get(slotOf({ kinId, sessionId }));
    for (const turn of line?.filter((candidate) => candidate.sessionId === sessionId) ?? []) remove(turn.id);
  }

  return {
    load(items, position) {
      turns.clear();
      slots.clear();
      for (const item of items) {
        if (item.status !== 'pending' && item.status !== 'processing') continue;
        const { id, kinId, sessionId, priority, queuedAt } = item;
        put({ id, kinId, sessionId, taskId: item.taskId ?? null, priority, queuedAt, started: item.status === 'processing', position });
      }
    },
    apply(recorded) {
      if (recorded.type === 'QuickSessionPurged') {
        const purged = parseQuickSessionEvent(recorded);
        if (purged.type === 'QuickSessionPurged') purgeSession(purged.data.kinId, purged.data.sessionId);
        return;
      }
      if (!TURN_EVENTS.has(recorded.type) || !recorded.stream.startsWith('turn-')) return;
      const { position } = recorded;
      if (CLOSING_EVENTS.has(recorded.type)) {
        // Only the id matters here: an answer's content and tool results are left unread.
        remove(turnRef.parse(recorded.data).queueItemId);
        return;
      }
      const event = parseMessageEvent(recorded);
      if (event.type === 'MessageQueued') {
        const { queueItemId: id, kinId, sessionId, taskId, priority, queuedAt } = event.data;
        put({ id, kinId, sessionId, taskId, priority, queuedAt, started: turns.get(id)?.started ?? false, position });
      } else if (event.type === 'TurnStarted') {
        const turn = turns.get(event.data.queueItemId);
        if (turn) put({ ...turn, started: true, position });
      }
    },
    drop: remove,
    next(isFree) {
      const heads: OpenTurn[] = [];
      for (const [slot, line] of slots) if (isFree(slot)) heads.push(line[0]!);
      return heads.sort(runsBefore);
    },
    size: () => turns.size,
  };
}
