import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import { createTurnIndex, slotOf } from '../../src/agents/turnScheduler.js';
import type { QueueItemDoc } from '../../src/projections/messages.js';

const kinA = 'kin-a';
const kinB = 'kin-b';
const at = (second: number) => `2026-12-01T10:00:${String(second).padStart(2, '0')}.000Z`;

let position = 0;
const metadata = { actor: { kind: 'system' as const, id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at(0), schemaVersion: 1 };
const recorded = (stream: string, type: string, data: Record<string, unknown>): RecordedEvent => ({
  id: `e${++position}`,
  stream,
  type,
  revision: 0,
  position,
  data,
  metadata,
  recordedAt: at(0),
});

type Queued = { kinId?: string; sessionId?: string | null; taskId?: string | null; priority?: number; second?: number };
const queued = (id: string, { kinId = kinA, sessionId = null, taskId = null, priority = 100, second = 0 }: Queued = {}) =>
  recorded(`turn-${id}`, 'MessageQueued', {
    queueItemId: id,
    kinId,
    sessionId,
    content: `message ${id}`,
    fileIds: [],
    sourceType: 'user',
    sourceId: 'u1',
    priority,
    queuedAt: at(second),
    taskId,
    metadata: {},
  });
const started = (id: string, kinId = kinA) =>
  recorded(`turn-${id}`, 'TurnStarted', { queueItemId: id, kinId, userMessageId: `m-${id}`, startedAt: at(30) });
const answered = (id: string, kinId = kinA) =>
  recorded(`turn-${id}`, 'AssistantMessageRecorded', {
    queueItemId: id,
    kinId,
    messageId: `a-${id}`,
    content: 'done',
    toolCalls: [],
    model: 'fake-chat',
    providerId: null,
    usage: null,
    aborted: false,
    metadata: {},
    createdAt: at(40),
  });

const everySlotFree = () => true;
const nextIds = (index: ReturnType<typeof createTurnIndex>, isFree: (slot: string) => boolean = everySlotFree) =>
  index.next(isFree).map((turn) => turn.id);

describe('the index of open turns', () => {
  it('offers one turn per conversation slot: a Kin’s main conversation, its quick sessions, each task', () => {
    const index = createTurnIndex();
    for (const event of [
      queued('main-1', { second: 1 }),
      queued('main-2', { second: 2 }),
      queued('quick-1', { sessionId: 's1', second: 3 }),
      queued('quick-2', { sessionId: 's2', second: 4 }),
      queued('task-1', { taskId: 't1', priority: 50, second: 5 }),
      queued('other-kin', { kinId: kinB, second: 6 }),
    ]) {
      index.apply(event);
    }
    expect(index.size()).toBe(6);
    expect(nextIds(index)).toEqual(['main-1', 'quick-1', 'other-kin', 'task-1']);
  });

  it('orders a slot by priority, then arrival, whatever order the messages came in', () => {
    const index = createTurnIndex();
    index.apply(queued('late-low', { priority: 50, second: 1 }));
    index.apply(queued('late-high', { priority: 100, second: 9 }));
    index.apply(queued('early-high', { priority: 100, second: 2 }));
    const order: string[] = [];
    for (let next = nextIds(index); next.length; next = nextIds(index)) {
      order.push(next[0]!);
      index.apply(started(next[0]!));
      index.apply(answered(next[0]!));
    }
    expect(order).toEqual(['early-high', 'late-high', 'late-low']);
    expect(index.size()).toBe(0);
  });

  it('offers nothing for a busy slot, and the next turn once it is free', () => {
    const index = createTurnIndex();
    index.apply(queued('one', { second: 1 }));
    index.apply(queued('two', { second: 2 }));
    index.apply(started('one'));
    const busy = new Set([slotOf({ kinId: kinA, sessionId: null })]);
    expect(nextIds(index, (slot) => !busy.has(slot))).toEqual([]);
    index.apply(answered('one'));
    busy.clear();
    expect(nextIds(index, (slot) => !busy.has(slot))).toEqual(['two']);
  });

  it('resumes a started turn before any queued one, even of a higher priority', () => {
    const index = createTurnIndex();
    index.apply(queued('cut', { priority: 50, second: 1 }));
    index.apply(queued('urgent', { priority: 100, second: 2 }));
    index.apply(started('cut'));
    expect(nextIds(index)).toEqual(['cut']);
  });

  it('forgets removed and failed turns, and the turns of a purged quick session only', () => {
    const index = createTurnIndex();
    index.apply(queued('removed', { second: 1 }));
    index.apply(queued('failed', { second: 2 }));
    index.apply(queued('purged', { sessionId: 's1', second: 3 }));
    index.apply(queued('kept', { sessionId: 's2', second: 4 }));
    index.apply(recorded('turn-removed', 'QueuedMessageRemoved', { queueItemId: 'removed', kinId: kinA, removedAt: at(5) }));
    index.apply(recorded('turn-failed', 'TurnFailed', { queueItemId: 'failed', kinId: kinA, messageId: 'x', error: 'boom', createdAt: at(6) }));
    index.apply(recorded('quicksession-s1', 'QuickSessionPurged', { sessionId: 's1', kinId: kinA, purgedAt: at(7) }));
    expect(index.size()).toBe(1);
    expect(nextIds(index)).toEqual(['kept']);
  });

  it('starts from the read model and replays the log after it without counting a turn twice', () => {
    const index = createTurnIndex();
    const item = (id: string, status: QueueItemDoc['status'], second: number): QueueItemDoc => ({
      id,
      kinId: kinA,
      sessionId: null,
      status,
      priority: 100,
      content: id,
      fileIds: [],
      sourceType: 'user',
      sourceId: 'u1',
      userMessageId: null,
      queuedAt: at(second),
      taskId: null,
    });
    index.load([item('in-progress', 'processing', 2), item('waiting', 'pending', 1), item('over', 'done', 0)], 10);
    expect(index.size()).toBe(2);
    expect(nextIds(index)).toEqual(['in-progress']);
    // Events the read model already held come again: the index ends where the log ends.
    index.apply(queued('in-progress', { second: 2 }));
    index.apply(started('in-progress'));
    index.apply(answered('in-progress'));
    index.apply(queued('waiting', { second: 1 }));
    expect(index.size()).toBe(1);
    expect(nextIds(index)).toEqual(['waiting']);
  });

  it('ignores the events of other capabilities', () => {
    const index = createTurnIndex();
    index.apply(recorded(`kin-${kinA}`, 'KinCreated', { kinId: kinA }));
    index.apply(recorded('message-x', 'InformationalMessageDeposited', { messageId: 'x' }));
    expect(index.size()).toBe(0);
  });

  it('picks the next turn among thousands queued without looking at each of them', () => {
    const index = createTurnIndex();
    for (let i = 0; i < 5_000; i++) index.apply(queued(`q${String(i).padStart(5, '0')}`, { second: i % 60 }));
    let compared = 0;
    const next = index.next((slot) => {
      compared++;
      return slot.length > 0;
    });
    expect(next.map((turn) => turn.id)).toEqual(['q00000']);
    expect(compared).toBe(1);
  });
});
