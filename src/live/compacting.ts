import type { LiveMapper } from './feed.js';
import { parseCompactionEvent } from '../events/compacting.js';

/**
 * compacting:done when a snapshot is recorded (platform.md §10). `compacting:start` and
 * `compacting:error` are not facts of the log: src/agents/compacting.ts publishes them as they
 * happen. Rollbacks and purges send nothing (messages.md §7).
 *
 * `memoriesExtracted` is 0 until memory extraction from compaction exists.
 */
export const compactingLiveMessages: LiveMapper = (recorded) => {
  if (recorded.type !== 'SnapshotTaken' || !recorded.stream.startsWith('compaction-')) return [];
  const event = parseCompactionEvent(recorded);
  if (event.type !== 'SnapshotTaken') return [];
  const { kinId, summary } = event.data;
  return [{ type: 'compacting:done', kinId, data: { kinId, summary, memoriesExtracted: 0 } }];
};
