import { v5 as uuidv5 } from 'uuid';
import { effectiveImportance } from './memoryScoring.js';

/**
 * The pure rules of memory upkeep (memory-knowledge.md §3): which memories consolidation clusters,
 * how importance is recalibrated after a compaction, which memories are stale. No I/O here, so each
 * rule is tested on its own (tests/unit/memoryUpkeep.test.ts); src/agents/memoryConsolidation.ts
 * and src/agents/snapshotMemories.ts run them over the stores.
 */

export const CONSOLIDATION = {
  /** Within a subject group. */
  similarity: 0.85,
  /** Across subject groups: never lower than this. */
  crossSubjectSimilarity: 0.95,
  /** Cross-subject comparisons only when there are at most this many groups… */
  maxGroupsForCrossSubject: 20,
  /** …and only between two groups whose sizes multiply to at most this. */
  maxCrossProduct: 100,
  /** Larger clusters are cut into chunks of this size. */
  maxClusterSize: 3,
  maxGeneration: 5,
} as const;

/** Extraction: a new memory this close (cosine distance) to one of the 3 nearest is a duplicate. */
export const NEAR_DUPLICATE_DISTANCE = 0.15;
export const NEAR_DUPLICATE_NEIGHBOURS = 3;

const DAY_MS = 86_400_000;

export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export type ClusterCandidate = { id: string; subject: string | null; importance: number | null; vector: readonly number[] };

export type ClusterOptions = { similarity?: number };

/**
 * Step 2 of consolidation: the candidate pairs (as index pairs into `memories`). Same subject
 * (null is one subject): similarity ≥ threshold. Different subjects, when there are at most 20
 * groups and the two groups' sizes multiply to at most 100: similarity ≥ max(threshold, 0.95).
 */
export function candidatePairs(memories: readonly ClusterCandidate[], options: ClusterOptions = {}): [number, number][] {
  const threshold = options.similarity ?? CONSOLIDATION.similarity;
  const crossThreshold = Math.max(threshold, CONSOLIDATION.crossSubjectSimilarity);
  const groups = new Map<string | null, number[]>();
  memories.forEach((memory, i) => groups.set(memory.subject, [...(groups.get(memory.subject) ?? []), i]));
  const similar = (i: number, j: number, min: number) => cosineSimilarity(memories[i]!.vector, memories[j]!.vector) >= min;

  const pairs: [number, number][] = [];
  const members = [...groups.values()];
  for (const group of members) {
    for (let a = 0; a < group.length; a++) {
      for (let b = a + 1; b < group.length; b++) if (similar(group[a]!, group[b]!, threshold)) pairs.push([group[a]!, group[b]!]);
    }
  }
  if (members.length <= CONSOLIDATION.maxGroupsForCrossSubject) {
    for (let g = 0; g < members.length; g++) {
      for (let h = g + 1; h < members.length; h++) {
        const [left, right] = [members[g]!, members[h]!];
        if (left.length * right.length > CONSOLIDATION.maxCrossProduct) continue;
        for (const i of left) for (const j of right) if (similar(i, j, crossThreshold)) pairs.push([Math.min(i, j), Math.max(i, j)]);
      }
    }
  }
  return pairs;
}

/**
 * Steps 2–3: the clusters to merge, as lists of ids. Pairs are joined by union-find; a cluster of
 * more than 3 is sorted by importance (highest first, unscored = 5) and cut into chunks of 3, a
 * trailing chunk of one being dropped. Within a cluster the input order is kept (ties too).
 */
export function consolidationClusters(memories: readonly ClusterCandidate[], options: ClusterOptions = {}): string[][] {
  const parent = memories.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (const [a, b] of candidatePairs(memories, options)) {
    const [ra, rb] = [root(a), root(b)];
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const byRoot = new Map<number, number[]>();
  memories.forEach((_, i) => byRoot.set(root(i), [...(byRoot.get(root(i)) ?? []), i]));

  const clusters: string[][] = [];
  for (const members of byRoot.values()) {
    if (members.length < 2) continue;
    if (members.length <= CONSOLIDATION.maxClusterSize) {
      clusters.push(members.map((i) => memories[i]!.id));
      continue;
    }
    const ranked = [...members].sort(
      (a, b) => effectiveImportance(memories[b]!.importance) - effectiveImportance(memories[a]!.importance) || a - b,
    );
    for (let from = 0; from < ranked.length; from += CONSOLIDATION.maxClusterSize) {
      const chunk = ranked.slice(from, from + CONSOLIDATION.maxClusterSize);
      if (chunk.length >= 2) clusters.push(chunk.map((i) => memories[i]!.id));
    }
  }
  return clusters;
}

/** Namespace of merged memory ids: the same sources always give the same merged memory. */
const MERGED_MEMORY_NAMESPACE = '5f0b7c2e-3a51-4d0e-9a0c-6d1c0a7e4b21';

/** The id of the memory that merges these sources, whatever their order. */
export const mergedMemoryId = (sourceIds: readonly string[]): string => uuidv5([...sourceIds].sort().join(','), MERGED_MEMORY_NAMESPACE);

/** Step 5: one more than the highest source generation, at most the maximum. */
export const mergedGeneration = (sourceGenerations: readonly number[], maxGeneration: number = CONSOLIDATION.maxGeneration): number =>
  Math.min(Math.max(0, ...sourceGenerations) + 1, maxGeneration);

/** The merged memory's importance: the model's, never below the highest source's (null when none is known). */
export function mergedImportance(proposed: number | null, sources: readonly (number | null)[]): number | null {
  const known = [proposed, ...sources].filter((value): value is number => value !== null);
  return known.length ? Math.max(...known) : null;
}

export type AgingMemory = { importance: number | null; retrievalCount: number; createdAt: string };

const ageInDays = (memory: AgingMemory, now: Date) => (now.getTime() - Date.parse(memory.createdAt)) / DAY_MS;

/**
 * Importance recalibration after a compaction, for a memory with an importance and at least 7
 * days old: expected retrievals = age × 0.1; ratio ≥ 2 → +0.5, ≥ 1 → +0.2; never retrieved and
 * older than 30 days → −0.3; ratio < 0.3 and older than 14 days → −0.2. Rounded to 0.1, clamped to
 * [1, 10]. Returns the new importance, or null when it does not change.
 */
export function recalibratedImportance(memory: AgingMemory, now: Date): number | null {
  if (memory.importance === null) return null;
  const age = ageInDays(memory, now);
  if (age < 7) return null;
  const ratio = memory.retrievalCount / (age * 0.1);
  let delta = 0;
  if (ratio >= 2) delta = 0.5;
  else if (ratio >= 1) delta = 0.2;
  else if (memory.retrievalCount === 0 && age > 30) delta = -0.3;
  else if (ratio < 0.3 && age > 14) delta = -0.2;
  const next = Math.min(10, Math.max(1, Math.round((memory.importance + delta) * 10) / 10));
  return next === memory.importance ? null : next;
}

/** Stale: never retrieved, and importance ≤ 1 older than 60 days or ≤ 2 older than 90 (unscored never is). */
export function isStale(memory: AgingMemory, now: Date): boolean {
  if (memory.retrievalCount !== 0 || memory.importance === null) return false;
  const age = ageInDays(memory, now);
  return (memory.importance <= 1 && age > 60) || (memory.importance <= 2 && age > 90);
}
