import type { LiveMapper } from './feed.js';
import { parseSnapshotMemoriesEvent } from '../events/memories.js';
import { COMPACTING_SNAPSHOTS, type SnapshotDoc } from '../projections/compacting.js';

/**
 * compacting:done (platform.md §10) once a compaction is complete: its snapshot is taken and the
 * memories it gave are recorded (SnapshotMemoriesProcessed, messages.md §7 steps 5 and 7), so that
 * `memoriesExtracted` is the real count. `compacting:start` and `compacting:error` are not facts of
 * the log: src/agents/compacting.ts publishes them as they happen. Rollbacks and purges send
 * nothing (messages.md §7).
 */
export const compactingLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (recorded.type !== 'SnapshotMemoriesProcessed') return [];
  const { snapshotId, kinId, memoriesExtracted } = parseSnapshotMemoriesEvent(recorded).data;
  const snapshot = await readStore.collection<SnapshotDoc>(COMPACTING_SNAPSHOTS).get(snapshotId);
  if (!snapshot) return [];
  return [{ type: 'compacting:done', kinId, data: { kinId, summary: snapshot.summary, memoriesExtracted } }];
};
