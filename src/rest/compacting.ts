import { z } from 'zod';
import { purgeCompaction, rollBackCompaction } from '../commands/compacting.js';
import { visibleSnapshotDocs } from '../projections/compacting.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { defineOperation, type Operation } from './operation.js';

/**
 * /api/kins/:id/compacting/* (messages.md §7). The compaction state of a Kin is its
 * `compaction-<kinId>` stream (src/events/compacting.ts): running appends a snapshot, rolling back
 * and purging append events too; messages are never deleted.
 */

const kinRef = z.object({ id: z.string().min(1).describe('Kin id or slug') });
const success = z.object({ success: z.literal(true) });

const snapshotOut = z
  .object({ id: z.string(), messagesUpToId: z.string(), isActive: z.boolean(), createdAt: z.string() })
  .meta({ id: 'CompactingSnapshot' });

const rollbackInput = z
  .object({ snapshotId: z.string({ error: 'snapshotId is required' }).min(1, 'snapshotId is required') })
  .meta({ id: 'CompactingRollbackInput' });

export function compactingOperations(services: Services): Operation[] {
  const tags = ['Compacting'];
  /** What the model is given changed: the last turn's numbers no longer hold. */
  const forgetUsage = (kinId: string) => services.contextUsage.delete(kinId);

  return [
    defineOperation({
      name: 'compactingSnapshots',
      summary: "List a Kin's compaction snapshots (newest first, at most 10)",
      method: 'get',
      path: '/api/kins/:id/compacting/snapshots',
      auth: 'user',
      tags,
      params: kinRef,
      output: z.object({ snapshots: z.array(snapshotOut) }),
      async handler({ params }) {
        const kin = await findKin(services, params.id);
        const docs = await visibleSnapshotDocs(services.readStore, kin.id);
        return { snapshots: docs.map((doc) => ({ id: doc.id, messagesUpToId: doc.messagesUpToId, isActive: doc.isActive, createdAt: doc.createdAt })) };
      },
    }),
    defineOperation({
      name: 'runCompacting',
      summary: 'Summarize the oldest messages now (422 NOTHING_TO_COMPACT with 15 or fewer; 502 COMPACTING_FAILED when the model fails)',
      method: 'post',
      path: '/api/kins/:id/compacting/run',
      auth: 'user',
      tags,
      params: kinRef,
      output: z.object({ success: z.literal(true), summary: z.string(), memoriesExtracted: z.number().int() }),
      async handler({ params }, ctx) {
        const kin = await findKin(services, params.id);
        const { summary, memoriesExtracted } = await services.compacting.run(kin.id, ctx.commandMetadata());
        return { success: true as const, summary, memoriesExtracted };
      },
    }),
    defineOperation({
      name: 'purgeCompacting',
      summary: 'Stop applying compaction: no summary, every message is raw context again (nothing is deleted)',
      method: 'post',
      path: '/api/kins/:id/compacting/purge',
      auth: 'user',
      tags,
      params: kinRef,
      output: success,
      async handler({ params }, ctx) {
        const kin = await findKin(services, params.id);
        const result = await purgeCompaction(services, kin.id, ctx.commandMetadata());
        await services.settle(result.position);
        forgetUsage(kin.id);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'rollbackCompacting',
      summary: 'Make an earlier snapshot the active one again; later snapshots are marked rolled back',
      method: 'post',
      path: '/api/kins/:id/compacting/rollback',
      auth: 'user',
      tags,
      params: kinRef,
      body: rollbackInput,
      output: success,
      async handler({ params, body }, ctx) {
        const kin = await findKin(services, params.id);
        const result = await rollBackCompaction(services, kin.id, body.snapshotId, ctx.commandMetadata());
        await services.settle(result.position);
        forgetUsage(kin.id);
        return { success: true as const };
      },
    }),
  ];
}
