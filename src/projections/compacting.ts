import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import { compactionEventTypes, MAX_VISIBLE_SNAPSHOTS, parseCompactionEvent } from '../events/compacting.js';
import type { ActiveCompaction } from '../commands/compacting.js';

export const COMPACTING_SNAPSHOTS = 'compacting_snapshots';

/** A snapshot of a Kin's conversation (messages.md §7), with its marks; none is ever deleted. */
export type SnapshotDoc = Doc & {
  id: string;
  kinId: string;
  /** Revision of its SnapshotTaken in the Kin's compaction stream: the order they were taken in. */
  seq: number;
  summary: string;
  messagesUpToId: string;
  upToCreatedAt: string;
  messageCount: number;
  model: string;
  /** At most one per Kin: its summary and boundary are what the model is given. */
  isActive: boolean;
  /** Taken after a snapshot that was rolled back to. */
  rolledBack: boolean;
  /** Beyond the newest MAX_VISIBLE_SNAPSHOTS: no longer listed nor a rollback target. */
  retired: boolean;
  createdAt: string;
};

/**
 * The per-event equivalent of folding the stream (src/commands/compacting.ts): after a rollback
 * the target is the active snapshot, which is what the replay up to it yields.
 */
export const compactingProjection: Projection = {
  name: 'compacting',
  version: 1,
  handles: compactionEventTypes,
  collections: [COMPACTING_SNAPSHOTS],
  async setup(store) {
    await store.collection(COMPACTING_SNAPSHOTS).ensureIndex({ fields: { kinId: 1, seq: -1 } });
    await store.collection(COMPACTING_SNAPSHOTS).ensureIndex({ fields: { kinId: 1, isActive: 1 } });
  },
  async apply(recorded, store) {
    const snapshots = store.collection<SnapshotDoc>(COMPACTING_SNAPSHOTS);
    const event = parseCompactionEvent(recorded);
    const { kinId } = event.data;
    switch (event.type) {
      case 'SnapshotTaken': {
        const { snapshotId, summary, upToMessageId, upToCreatedAt, messageCount, model, createdAt } = event.data;
        await snapshots.update({ kinId, isActive: true, id: { $ne: snapshotId } }, { $set: { isActive: false } });
        await snapshots.replace({
          id: snapshotId,
          kinId,
          seq: recorded.revision,
          summary,
          messagesUpToId: upToMessageId,
          upToCreatedAt,
          messageCount,
          model,
          isActive: true,
          rolledBack: false,
          retired: false,
          createdAt,
        });
        const older = await snapshots.find({ kinId, retired: false }, { sort: { seq: -1 }, skip: MAX_VISIBLE_SNAPSHOTS });
        if (older.length) await snapshots.update({ id: { $in: older.map((doc) => doc.id) } }, { $set: { retired: true } });
        return;
      }
      case 'SnapshotsRolledBack': {
        const { toSnapshotId, rolledBackIds } = event.data;
        await snapshots.update({ kinId, isActive: true, id: { $ne: toSnapshotId } }, { $set: { isActive: false } });
        await snapshots.update({ id: toSnapshotId }, { $set: { isActive: true, rolledBack: false } });
        if (rolledBackIds.length) await snapshots.update({ id: { $in: rolledBackIds } }, { $set: { rolledBack: true } });
        return;
      }
      case 'CompactionPurged':
        await snapshots.update({ kinId, isActive: true }, { $set: { isActive: false } });
        return;
    }
  },
};

/** The snapshot a Kin's next turn starts from, or null (never compacted, or purged). */
export async function activeCompaction(readStore: ReadStore, kinId: string): Promise<ActiveCompaction | null> {
  const doc = await readStore.collection<SnapshotDoc>(COMPACTING_SNAPSHOTS).findOne({ kinId, isActive: true });
  return doc ? { snapshotId: doc.id, summary: doc.summary, boundary: { createdAt: doc.upToCreatedAt, id: doc.messagesUpToId } } : null;
}

/** The snapshots a Kin shows, newest first. */
export const visibleSnapshotDocs = (readStore: ReadStore, kinId: string): Promise<SnapshotDoc[]> =>
  readStore.collection<SnapshotDoc>(COMPACTING_SNAPSHOTS).find({ kinId, retired: false }, { sort: { seq: -1 } });
