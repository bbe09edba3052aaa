import { describe, expect, it } from 'vitest';
import {
  decideCompaction,
  evolveCompaction,
  foldCompaction,
  initialCompactionState,
  type CompactionCommand,
  type CompactionState,
} from '../../src/commands/compacting.js';
import { compactionTrigger, COMPACTING_MESSAGE_THRESHOLD, COMPACTING_MIN_KEEP } from '../../src/agents/compacting.js';
import type { CompactionEvent } from '../../src/events/compacting.js';
import type { DomainError } from '../../src/es/errors.js';

const kinId = 'kin-1';
const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();

const take = (n: number, basedOn: string | null): CompactionCommand => ({
  type: 'TakeSnapshot',
  kinId,
  snapshotId: `s${n}`,
  summary: `summary ${n}`,
  upTo: { createdAt: `2026-11-28T09:${String(n).padStart(2, '0')}:00.000Z`, id: `m${n}` },
  messageCount: 20,
  model: 'fake-chat',
  basedOn,
  now,
});
const rollBack = (toSnapshotId: string): CompactionCommand => ({ type: 'RollBack', kinId, toSnapshotId, now });
const purge: CompactionCommand = { type: 'Purge', kinId, now };

/** Given events, when command, then events (or the error's code). */
function given(events: CompactionEvent[]) {
  const state = foldCompaction(events);
  return {
    state,
    when(command: CompactionCommand): CompactionEvent[] | string {
      try {
        return decideCompaction(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
  };
}

/** Runs commands in order, each decided on the state the previous ones left. */
function history(...commands: CompactionCommand[]): CompactionEvent[] {
  return commands.reduce<CompactionEvent[]>((events, command) => [...events, ...decideCompaction(command, foldCompaction(events))], []);
}

const activeOf = (state: CompactionState) => state.active;

describe('compaction decider', () => {
  it('takes a snapshot that becomes the active summary and boundary', () => {
    const events = history(take(1, null));
    expect(events).toEqual([
      {
        type: 'SnapshotTaken',
        data: { snapshotId: 's1', kinId, summary: 'summary 1', upToMessageId: 'm1', upToCreatedAt: '2026-11-28T09:01:00.000Z', messageCount: 20, model: 'fake-chat', createdAt: at },
      },
    ]);
    expect(foldCompaction(events).active).toEqual({ snapshotId: 's1', summary: 'summary 1', boundary: { createdAt: '2026-11-28T09:01:00.000Z', id: 'm1' } });
  });

  it('refuses a snapshot written from a state that has changed since (rollback or purge meanwhile)', () => {
    const events = history(take(1, null), take(2, 's1'));
    expect(given(events).when(take(3, 's1'))).toBe('COMPACTION_CHANGED');
    expect(given(events).when(take(3, 's2'))).toHaveLength(1);
    const purged = history(take(1, null), take(2, 's1'), purge);
    expect(given(purged).when(take(3, 's2'))).toBe('COMPACTION_CHANGED');
    expect(given(purged).when(take(3, null))).toHaveLength(1);
  });

  it('takes the same snapshot once', () => {
    expect(given(history(take(1, null))).when(take(1, null))).toEqual([]);
  });

  it('rolls back to an earlier snapshot, marking the later ones rolled back', () => {
    const events = history(take(1, null), take(2, 's1'), take(3, 's2'));
    expect(given(events).when(rollBack('s1'))).toEqual([{ type: 'SnapshotsRolledBack', data: { kinId, toSnapshotId: 's1', rolledBackIds: ['s2', 's3'], at } }]);
    const after = foldCompaction(history(take(1, null), take(2, 's1'), take(3, 's2'), rollBack('s1')));
    expect(after.active?.snapshotId).toBe('s1');
    expect(after.snapshots.map((s) => [s.snapshotId, s.rolledBack])).toEqual([['s1', false], ['s2', true], ['s3', true]]);
  });

  it('answers SNAPSHOT_NOT_FOUND and ALREADY_ACTIVE', () => {
    const events = history(take(1, null), take(2, 's1'));
    expect(given(events).when(rollBack('nope'))).toBe('SNAPSHOT_NOT_FOUND');
    expect(given(events).when(rollBack('s2'))).toBe('ALREADY_ACTIVE');
    expect(given([]).when(rollBack('s1'))).toBe('SNAPSHOT_NOT_FOUND');
  });

  it('purges once: nothing applies afterwards, and a rollback can restore a snapshot', () => {
    const events = history(take(1, null), purge);
    expect(events.at(-1)).toEqual({ type: 'CompactionPurged', data: { kinId, at } });
    expect(foldCompaction(events).active).toBeNull();
    expect(given(events).when(purge)).toEqual([]);
    expect(foldCompaction(history(take(1, null), purge, rollBack('s1'))).active?.snapshotId).toBe('s1');
  });

  it('keeps ten snapshots visible; older ones are no rollback target but stay in the state', () => {
    const commands = Array.from({ length: 12 }, (_, i) => take(i + 1, i === 0 ? null : `s${i}`));
    const events = history(...commands);
    expect(foldCompaction(events).snapshots).toHaveLength(12);
    expect(given(events).when(rollBack('s2'))).toBe('SNAPSHOT_NOT_FOUND');
    expect(given(events).when(rollBack('s3'))).toHaveLength(1);
  });
});

describe('rollback is a replay', () => {
  /** Deterministic pseudo-random numbers, so that a failure can be reproduced. */
  const random = (seed: number) => () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);

  it('gives the active summary and boundary of the stream folded up to the target snapshot', () => {
    let rollbacks = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      let events: CompactionEvent[] = [];
      let taken = 0;
      for (let step = 0; step < 25; step++) {
        const state = foldCompaction(events);
        const roll = next();
        let command: CompactionCommand;
        if (roll < 0.5 || state.snapshots.length === 0) command = take(++taken, state.active?.snapshotId ?? null);
        else if (roll < 0.6) command = purge;
        else command = rollBack(state.snapshots[Math.floor(next() * state.snapshots.length)]!.snapshotId);
        let decided: CompactionEvent[];
        try {
          decided = decideCompaction(command, state);
        } catch {
          continue;
        }
        events = [...events, ...decided];
        const last = decided[0];
        if (last?.type !== 'SnapshotsRolledBack') continue;
        rollbacks++;
        const target = events.findIndex((e) => e.type === 'SnapshotTaken' && e.data.snapshotId === last.data.toSnapshotId);
        // fold(all events, the rollback included) == fold(events up to the target snapshot)
        expect(activeOf(foldCompaction(events))).toEqual(activeOf(foldCompaction(events.slice(0, target + 1))));
        expect(foldCompaction(events).active?.snapshotId).toBe(last.data.toSnapshotId);
      }
    }
    expect(rollbacks).toBeGreaterThan(200);
  });

  it('evolves the same whether folded at once or one event at a time', () => {
    const events = history(take(1, null), take(2, 's1'), rollBack('s1'), take(3, 's1'), purge, rollBack('s2'));
    const stepwise = events.reduce(evolveCompaction, initialCompactionState());
    expect(stepwise).toEqual(foldCompaction(events));
    expect(stepwise.active?.snapshotId).toBe('s2');
    expect(stepwise.snapshots.map((s) => [s.snapshotId, s.rolledBack])).toEqual([['s1', false], ['s2', false], ['s3', true]]);
  });
});

describe('compaction trigger', () => {
  const usage = (contextTokens: number) => ({ contextTokens, contextWindow: 10_000 });

  it('fires on more non-compacted messages than batch + keep', () => {
    expect(compactionTrigger({ nonCompacted: COMPACTING_MESSAGE_THRESHOLD, usage: null, thresholdPercent: 75 })).toBeNull();
    expect(compactionTrigger({ nonCompacted: COMPACTING_MESSAGE_THRESHOLD + 1, usage: null, thresholdPercent: 75 })).toBe('messages');
  });

  it('fires when the last turn used more than the threshold of the context window and something can be summarized', () => {
    expect(compactionTrigger({ nonCompacted: 20, usage: usage(7_500), thresholdPercent: 75 })).toBeNull();
    expect(compactionTrigger({ nonCompacted: 20, usage: usage(7_501), thresholdPercent: 75 })).toBe('context');
    expect(compactionTrigger({ nonCompacted: 20, usage: usage(5_001), thresholdPercent: 50 })).toBe('context');
    expect(compactionTrigger({ nonCompacted: COMPACTING_MIN_KEEP, usage: usage(9_999), thresholdPercent: 50 })).toBeNull();
    expect(compactionTrigger({ nonCompacted: 20, usage: null, thresholdPercent: 50 })).toBeNull();
  });
});
