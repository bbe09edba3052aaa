import { v7 as uuidv7 } from 'uuid';
import type { SnapshotMemoryCounts } from '../commands/memories.js';
import type { CommandMetadata } from '../es/decider.js';
import { conflict } from '../es/errors.js';
import { Mutex } from '../lib/mutex.js';
import type { LiveFeed } from '../live/feed.js';
import { backfillImportance, type BackfillResult } from '../agents/importanceBackfill.js';
import { consolidateKinMemories } from '../agents/memoryConsolidation.js';
import { reembedMemories, type ReembedResult } from '../agents/memoryReembed.js';
import type { Progress, UpkeepDeps } from '../agents/memoryUpkeepDeps.js';
import { processSnapshotMemories, type SnapshotMemoriesRef } from '../agents/snapshotMemories.js';

/**
 * The memory maintenance jobs of memory-knowledge.md §3 — importance backfill, consolidation,
 * re-embedding — and the memory step of a compaction.
 *
 * A REST call runs its job to the end and answers with the result; the job does not depend on the
 * connection (a client that goes away does not stop it). Progress goes to the live feed
 * (/api/sse, GraphQL `live`), with `kinId` on the envelope when the job is for one Kin:
 *
 * - `memory:job-progress {job, jobId, kinId?, done, total}` — when the job knows its size
 *   (done 0), then after each batch (backfill: 20 memories, re-embed: 10 memories) or merged
 *   cluster (consolidate);
 * - `memory:job-done {job, jobId, kinId?, result}` — `result` is the REST answer;
 * - `memory:job-failed {job, jobId, kinId?, error}` — the REST call answers the error.
 *
 * `job` is `backfill-importance`, `consolidate` or `reembed`; `jobId` is new for each run.
 *
 * Each job is idempotent and safe to run again after a crash (see each step's file). Jobs that
 * could step on each other run one at a time: backfills one after the other, re-embeddings one
 * after the other, and per Kin consolidation and the compaction step; a second call waits for the
 * first and then finds what is left.
 */

export type MemoryJobName = 'backfill-importance' | 'consolidate' | 'reembed';

export type MemoryJobs = {
  backfillImportance(input: { kinId?: string }, metadata: CommandMetadata): Promise<BackfillResult>;
  consolidate(input: { kinId: string }, metadata: CommandMetadata): Promise<{ removed: number }>;
  reembed(input: { kinId?: string; all?: boolean }, metadata: CommandMetadata): Promise<ReembedResult>;
  /**
   * messages.md §7 step 5 for one snapshot, once (the compactor, then or instead the snapshot
   * reactor): the recorded counts, null when the Kin is gone.
   */
  processSnapshot(snapshot: SnapshotMemoriesRef, metadata: CommandMetadata, signal?: AbortSignal): Promise<SnapshotMemoryCounts | null>;
  /** Stops the running jobs (they fail with the shutdown) and waits for them. */
  stop(): Promise<void>;
};

export type MemoryJobServices = UpkeepDeps & { live: LiveFeed };

/** One mutex per key, forgotten when nobody holds or waits for it. */
function keyedLocks() {
  const locks = new Map<string, Mutex>();
  return async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const mutex = locks.get(key) ?? new Mutex();
    locks.set(key, mutex);
    try {
      return await mutex.run(work);
    } finally {
      if (!mutex.locked && locks.get(key) === mutex) locks.delete(key);
    }
  };
}

/** The memory step of a compaction is the system's doing, whoever asked for the compaction. */
const systemMetadata = (metadata: CommandMetadata, id: string): CommandMetadata => ({
  actor: { kind: 'system', id },
  correlationId: metadata.correlationId,
  causationId: metadata.causationId,
  now: metadata.now,
});

/** `services` is a thunk: the jobs are part of the services they use. */
export function createMemoryJobs(services: () => MemoryJobServices): MemoryJobs {
  const locked = keyedLocks();
  const stopping = new AbortController();
  const running = new Set<Promise<unknown>>();

  function track<T>(work: Promise<T>): Promise<T> {
    const settled = work.catch(() => {});
    running.add(settled);
    void settled.finally(() => running.delete(settled));
    return work;
  }

  function runJob<R>(job: MemoryJobName, lock: string, kinId: string | undefined, work: (signal: AbortSignal, progress: Progress) => Promise<R>): Promise<R> {
    if (stopping.signal.aborted) return Promise.reject(conflict('SHUTTING_DOWN', 'The server is shutting down'));
    const jobId = uuidv7();
    const publish = (type: string, data: Record<string, unknown>) =>
      services().live.publish({ type, ...(kinId ? { kinId } : {}), data: { job, jobId, ...(kinId ? { kinId } : {}), ...data } });
    const progress: Progress = (done, total) => publish('memory:job-progress', { done, total });
    return track(
      locked(lock, async () => {
        try {
          const result = await work(stopping.signal, progress);
          publish('memory:job-done', { result });
          return result;
        } catch (error) {
          publish('memory:job-failed', { error: error instanceof Error ? error.message : String(error) });
          throw error;
        }
      }),
    );
  }

  const kinLock = (kinId: string) => `kin:${kinId}`;

  return {
    backfillImportance: (input, metadata) =>
      runJob('backfill-importance', 'backfill', input.kinId, (signal, onProgress) =>
        backfillImportance(services(), input, metadata, { signal, onProgress }),
      ),
    consolidate: (input, metadata) =>
      runJob('consolidate', kinLock(input.kinId), input.kinId, (signal, onProgress) =>
        consolidateKinMemories(services(), input.kinId, metadata, { signal, onProgress }),
      ),
    reembed: (input, metadata) =>
      runJob('reembed', 'reembed', input.kinId, (signal, onProgress) => reembedMemories(services(), input, metadata, { signal, onProgress })),
    processSnapshot(snapshot, metadata, signal) {
      const aborted = signal ? AbortSignal.any([signal, stopping.signal]) : stopping.signal;
      return track(
        locked(kinLock(snapshot.kinId), () => processSnapshotMemories(services(), snapshot, systemMetadata(metadata, 'memory-extraction'), aborted)),
      );
    },
    async stop() {
      stopping.abort(new Error('The server is shutting down'));
      await Promise.all([...running]);
    },
  };
}
