import { describe, expect, it } from 'vitest';
import { importanceOf, jsonArrayIn, jsonObjectIn } from '../../src/agents/memoryLlm.js';
import { snapshotMemoriesDecider } from '../../src/commands/memories.js';
import {
  candidatePairs,
  consolidationClusters,
  cosineSimilarity,
  isStale,
  mergedGeneration,
  mergedImportance,
  mergedMemoryId,
  recalibratedImportance,
  type ClusterCandidate,
} from '../../src/agents/memoryUpkeep.js';

const DAY = 86_400_000;
const now = new Date('2026-06-01T00:00:00.000Z');
const aged = (days: number, importance: number | null, retrievalCount: number) => ({
  importance,
  retrievalCount,
  createdAt: new Date(now.getTime() - days * DAY).toISOString(),
});

/** A unit vector at `degrees` in the plane: cos(a − b) is the similarity of two of them. */
const at = (degrees: number): number[] => [Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180)];
const memory = (id: string, degrees: number, subject: string | null = null, importance: number | null = null): ClusterCandidate => ({
  id,
  subject,
  importance,
  vector: at(degrees),
});

describe('consolidation clusters', () => {
  it('pairs memories of one subject at similarity ≥ 0.85 (null is one subject)', () => {
    // cos 30° = 0.866, cos 35° = 0.819.
    const memories = [memory('a', 0), memory('b', 30), memory('c', 65)];
    expect(candidatePairs(memories)).toEqual([[0, 1]]);
    expect(cosineSimilarity(at(0), at(30))).toBeCloseTo(0.866, 3);
    expect(consolidationClusters(memories)).toEqual([['a', 'b']]);
    expect(consolidationClusters(memories, { similarity: 0.8 })).toEqual([['a', 'b', 'c']]);
  });

  it('pairs memories of different subjects only at ≥ 0.95, and only between groups whose sizes multiply to 100 or less', () => {
    // cos 15° = 0.966, cos 20° = 0.940.
    expect(consolidationClusters([memory('a', 0, 'Ada'), memory('b', 15, 'Bob'), memory('c', 35, 'Cy')])).toEqual([['a', 'b']]);
    expect(consolidationClusters([memory('a', 0, 'Ada'), memory('b', 20, 'Bob')])).toEqual([]);
    const big = Array.from({ length: 11 }, (_, i) => memory(`ada${i}`, 90 + 50 * i, 'Ada'));
    const tenBobs = Array.from({ length: 10 }, (_, i) => memory(`bob${i}`, 91 + 50 * i, 'Bob'));
    // 11 × 10 = 110 > 100: never compared, however alike.
    expect(candidatePairs([...big, ...tenBobs]).some(([i, j]) => (i < 11) !== (j < 11))).toBe(false);
    expect(candidatePairs([...big.slice(0, 10), ...tenBobs]).some(([i, j]) => (i < 10) !== (j < 10))).toBe(true);
  });

  it('skips cross-subject comparisons when there are more than 20 subject groups', () => {
    // Orthogonal vectors, but m1 is m0's twin.
    const axis = (i: number) => Array.from({ length: 21 }, (_, j) => (j === i ? 1 : 0));
    const groups = Array.from({ length: 21 }, (_, i) => ({ id: `m${i}`, subject: `subject ${i}`, importance: null, vector: axis(i === 1 ? 0 : i) }));
    expect(consolidationClusters(groups)).toEqual([]);
    expect(consolidationClusters(groups.slice(0, 20))).toEqual([['m0', 'm1']]);
  });

  it('joins pairs transitively and cuts clusters above 3 by importance into chunks of 3, dropping a trailing single', () => {
    // a–b, b–c, c–d, d–e are ≥ 0.85 apart by 20°: one chain of five.
    const chain = [memory('a', 0, null, 2), memory('b', 20, null, null), memory('c', 40, null, 9), memory('d', 60, null, 7), memory('e', 80, null, 1)];
    expect(consolidationClusters(chain)).toEqual([
      ['c', 'd', 'b'],
      ['a', 'e'],
    ]);
    expect(consolidationClusters(chain.slice(0, 4))).toEqual([['c', 'd', 'b']]);
    expect(consolidationClusters([memory('x', 0), memory('y', 90)])).toEqual([]);
  });

  it('names a merge by its sources whatever their order, and sets its generation and importance', () => {
    expect(mergedMemoryId(['b', 'a'])).toBe(mergedMemoryId(['a', 'b']));
    expect(mergedMemoryId(['a', 'b'])).not.toBe(mergedMemoryId(['a', 'c']));
    expect(mergedGeneration([0, 0])).toBe(1);
    expect(mergedGeneration([2, 4])).toBe(5);
    expect(mergedGeneration([5, 4], 5)).toBe(5);
    expect(mergedImportance(6, [4, null])).toBe(6);
    expect(mergedImportance(3, [4, 7])).toBe(7);
    expect(mergedImportance(null, [null])).toBeNull();
  });
});

describe('importance recalibration', () => {
  it('leaves unscored memories and those younger than 7 days alone', () => {
    expect(recalibratedImportance(aged(100, null, 0), now)).toBeNull();
    expect(recalibratedImportance(aged(6.9, 5, 50), now)).toBeNull();
  });

  it('raises well-retrieved memories: ratio ≥ 2 → +0.5, ≥ 1 → +0.2', () => {
    // 10 days: 1 retrieval expected.
    expect(recalibratedImportance(aged(10, 5, 2), now)).toBe(5.5);
    expect(recalibratedImportance(aged(10, 5, 1), now)).toBe(5.2);
    expect(recalibratedImportance(aged(10, 9.8, 3), now)).toBe(10);
  });

  it('lowers neglected ones: never retrieved past 30 days → −0.3, ratio < 0.3 past 14 days → −0.2', () => {
    expect(recalibratedImportance(aged(31, 5, 0), now)).toBe(4.7);
    expect(recalibratedImportance(aged(20, 5, 0), now)).toBe(4.8);
    expect(recalibratedImportance(aged(40, 5, 1), now)).toBe(4.8);
    expect(recalibratedImportance(aged(10, 5, 0), now)).toBeNull();
    expect(recalibratedImportance(aged(40, 1.1, 0), now)).toBe(1);
    expect(recalibratedImportance(aged(40, 1, 0), now)).toBeNull();
  });

  it('keeps a middling ratio unchanged, and rounds to one decimal', () => {
    expect(recalibratedImportance(aged(20, 5, 1), now)).toBeNull();
    expect(recalibratedImportance(aged(10, 4.15, 1), now)).toBe(4.4);
  });
});

describe('stale pruning', () => {
  it('deletes never-retrieved memories of importance ≤ 1 after 60 days or ≤ 2 after 90 days', () => {
    expect(isStale(aged(61, 1, 0), now)).toBe(true);
    expect(isStale(aged(59, 1, 0), now)).toBe(false);
    expect(isStale(aged(61, 2, 0), now)).toBe(false);
    expect(isStale(aged(91, 2, 0), now)).toBe(true);
    expect(isStale(aged(91, 2.1, 0), now)).toBe(false);
    expect(isStale(aged(400, 1, 1), now)).toBe(false);
    expect(isStale(aged(400, null, 0), now)).toBe(false);
  });
});

describe("reading the model's JSON", () => {
  it('finds an array or an object in prose or a code fence, else null', () => {
    expect(jsonArrayIn('Sure!\n```json\n[{"index": 1, "score": 7}]\n```')).toEqual([{ index: 1, score: 7 }]);
    expect(jsonArrayIn('no array here')).toBeNull();
    expect(jsonArrayIn('[not json]')).toBeNull();
    expect(jsonObjectIn('{"abort": true}')).toEqual({ abort: true });
    expect(jsonObjectIn('[1, 2]')).toBeNull();
  });

  it('rounds and clamps importance to 1–10, anything else is null', () => {
    expect([importanceOf(7.6), importanceOf(0), importanceOf(42), importanceOf('3'), importanceOf('high'), importanceOf(null)]).toEqual([8, 1, 10, 3, null, null]);
  });
});

describe('recording what a snapshot gave the memories', () => {
  it('records the counts once: a second run for the same snapshot decides nothing and the first counts stand', () => {
    const command = {
      type: 'RecordSnapshotMemories' as const,
      snapshotId: 's1',
      kinId: 'k1',
      counts: { memoriesExtracted: 2, memoriesConsolidated: 1, memoriesPruned: 0 },
      now,
    };
    const [event] = snapshotMemoriesDecider.decide(command, snapshotMemoriesDecider.initialState());
    expect(event).toEqual({ type: 'SnapshotMemoriesProcessed', data: { snapshotId: 's1', kinId: 'k1', memoriesExtracted: 2, memoriesConsolidated: 1, memoriesPruned: 0, processedAt: now.toISOString() } });
    const state = snapshotMemoriesDecider.evolve(snapshotMemoriesDecider.initialState(), event!);
    expect(snapshotMemoriesDecider.decide({ ...command, counts: { memoriesExtracted: 0, memoriesConsolidated: 0, memoriesPruned: 0 } }, state)).toEqual([]);
    expect(state.recorded).toEqual(command.counts);
  });
});
