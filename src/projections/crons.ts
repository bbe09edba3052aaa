import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import { cronEventTypes, parseCronEvent, parseCronRunEvent, type CronCreator } from '../events/crons.js';
import { serverTimezone } from '../lib/cronSchedule.js';
import { KINS, type KinDoc } from './kins.js';

export const CRONS = 'crons';

export type CronDoc = Doc & {
  id: string;
  kinId: string;
  name: string;
  schedule: string;
  /** null: the server's time zone. */
  timezone: string | null;
  taskDescription: string;
  targetKinId: string | null;
  model: string | null;
  runOnce: boolean;
  isActive: boolean;
  requiresApproval: boolean;
  /** Epoch ms, as the API gives them. */
  lastTriggeredAt: number | null;
  createdBy: CronCreator;
  createdAt: number;
  updatedAt: number;
};

export const cronsProjection: Projection = {
  name: 'crons',
  version: 1,
  // A run sets lastTriggeredAt when it is claimed, whether or not its task could be spawned.
  handles: [...cronEventTypes, 'CronRunClaimed'],
  collections: [CRONS],
  async setup(store) {
    const crons = store.collection(CRONS);
    await crons.ensureIndex({ fields: { kinId: 1, createdAt: 1 } });
    await crons.ensureIndex({ fields: { isActive: 1 } });
    await crons.ensureIndex({ fields: { targetKinId: 1 } });
  },
  async apply(recorded, store) {
    const crons = store.collection<CronDoc>(CRONS);
    if (recorded.type === 'CronRunClaimed') {
      const run = parseCronRunEvent(recorded);
      if (run.type === 'CronRunClaimed') await crons.update({ id: run.data.cronId }, { $set: { lastTriggeredAt: Date.parse(run.data.claimedAt) } });
      return;
    }
    const event = parseCronEvent(recorded);
    switch (event.type) {
      case 'CronCreated': {
        const { cronId, createdAt, ...fields } = event.data;
        const at = Date.parse(createdAt);
        await crons.replace({ id: cronId, ...fields, lastTriggeredAt: null, createdAt: at, updatedAt: at });
        return;
      }
      case 'CronUpdated':
        await crons.update({ id: event.data.cronId }, { $set: { ...event.data.changes, updatedAt: Date.parse(event.data.updatedAt) } });
        return;
      case 'CronApproved':
        await crons.update(
          { id: event.data.cronId },
          { $set: { requiresApproval: false, isActive: true, updatedAt: Date.parse(event.data.approvedAt) } },
        );
        return;
      case 'CronDeleted':
        await crons.delete({ id: event.data.cronId });
        return;
    }
  },
};

/** CronSummary of tasks-crons-webhooks.md §2, plus the cron's effective time zone. */
export type CronSummary = {
  id: string;
  kinId: string;
  kinName: string;
  kinAvatarUrl: string | null;
  name: string;
  schedule: string;
  timezone: string;
  taskDescription: string;
  targetKinId: string | null;
  targetKinName: string | null;
  targetKinAvatarUrl: string | null;
  model: string | null;
  runOnce: boolean;
  isActive: boolean;
  requiresApproval: boolean;
  lastTriggeredAt: number | null;
  createdBy: CronCreator;
  createdAt: number;
};

/** The spec's avatar URL for summaries: without the `?v` cache key. */
const plainAvatarUrl = (kin: KinDoc | undefined) => (kin?.avatar ? `/api/uploads/kins/${kin.id}/avatar.${kin.avatar.ext}` : null);

/** Adds the owner's and the target's names and avatars, reading the Kins once. */
export async function cronSummaries(readStore: ReadStore, docs: CronDoc[]): Promise<CronSummary[]> {
  const ids = [...new Set(docs.flatMap((doc) => (doc.targetKinId ? [doc.kinId, doc.targetKinId] : [doc.kinId])))];
  const kins = ids.length ? await readStore.collection<KinDoc>(KINS).find({ id: { $in: ids } }) : [];
  const byId = new Map(kins.map((kin) => [kin.id, kin]));
  const zone = serverTimezone();
  return docs.map((doc) => {
    const kin = byId.get(doc.kinId);
    const target = doc.targetKinId ? byId.get(doc.targetKinId) : undefined;
    return {
      id: doc.id,
      kinId: doc.kinId,
      kinName: kin?.name ?? 'Unknown',
      kinAvatarUrl: plainAvatarUrl(kin),
      name: doc.name,
      schedule: doc.schedule,
      timezone: doc.timezone ?? zone,
      taskDescription: doc.taskDescription,
      targetKinId: doc.targetKinId,
      targetKinName: doc.targetKinId ? (target?.name ?? 'Unknown') : null,
      targetKinAvatarUrl: plainAvatarUrl(target),
      model: doc.model,
      runOnce: doc.runOnce,
      isActive: doc.isActive,
      requiresApproval: doc.requiresApproval,
      lastTriggeredAt: doc.lastTriggeredAt,
      createdBy: doc.createdBy,
      createdAt: doc.createdAt,
    };
  });
}
