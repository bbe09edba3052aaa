import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** A cron's definition: created, changed, approved, deleted. */
export const cronStream = (cronId: string) => `cron-${cronId}`;

/**
 * One stream per run. A scheduled run's id is derived from the cron and its slot, so claiming a
 * slot twice (a restart, a second worker) meets an existing stream and is refused; the cron's own
 * stream stays small however often it fires.
 */
export const cronRunStream = (runId: string) => `cronrun-${runId}`;

export const cronCreatorSchema = z.enum(['user', 'kin']);
export type CronCreator = z.infer<typeof cronCreatorSchema>;

/** The fields a change may carry; a CronUpdated event holds only those that did change. */
export const cronChangesSchema = z.object({
  name: z.string().optional(),
  schedule: z.string().optional(),
  /** null: the server's time zone. */
  timezone: z.string().nullable().optional(),
  taskDescription: z.string().optional(),
  targetKinId: z.string().nullable().optional(),
  model: z.string().nullable().optional(),
  isActive: z.boolean().optional(),
  runOnce: z.boolean().optional(),
  requiresApproval: z.boolean().optional(),
});
export type CronChanges = z.infer<typeof cronChangesSchema>;

/** Why a cron changed, besides an edit: its run-once firing, or the deletion of its target Kin. */
export const cronChangeReasonSchema = z.enum(['edit', 'ran-once', 'target-deleted']);

export const cronEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('CronCreated'),
    data: z.object({
      cronId: z.string(),
      kinId: z.string(),
      name: z.string(),
      schedule: z.string(),
      timezone: z.string().nullable(),
      taskDescription: z.string(),
      targetKinId: z.string().nullable(),
      model: z.string().nullable(),
      runOnce: z.boolean(),
      isActive: z.boolean(),
      requiresApproval: z.boolean(),
      createdBy: cronCreatorSchema,
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('CronUpdated'),
    data: z.object({ cronId: z.string(), kinId: z.string(), changes: cronChangesSchema, reason: cronChangeReasonSchema, updatedAt: z.string() }),
  }),
  z.object({
    type: z.literal('CronApproved'),
    data: z.object({ cronId: z.string(), kinId: z.string(), approvedAt: z.string() }),
  }),
  z.object({
    type: z.literal('CronDeleted'),
    data: z.object({ cronId: z.string(), kinId: z.string(), deletedAt: z.string() }),
  }),
]);
export type CronEvent = z.infer<typeof cronEventSchema>;
export const cronEventTypes = ['CronCreated', 'CronUpdated', 'CronApproved', 'CronDeleted'] as const;

export const parseCronEvent = (recorded: RecordedEvent): CronEvent => cronEventSchema.parse({ type: recorded.type, data: recorded.data });

export const cronTriggerSchema = z.enum(['schedule', 'manual']);
export type CronTrigger = z.infer<typeof cronTriggerSchema>;

export const cronRunEventSchema = z.discriminatedUnion('type', [
  z.object({
    // Recorded before the task is spawned: a crash in between loses that run rather than doubling it.
    type: z.literal('CronRunClaimed'),
    data: z.object({
      runId: z.string(),
      cronId: z.string(),
      kinId: z.string(),
      trigger: cronTriggerSchema,
      /** The schedule instant this run is for (scheduled runs); null for a manual trigger. */
      slot: z.string().nullable(),
      claimedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('CronTriggered'),
    data: z.object({ runId: z.string(), cronId: z.string(), kinId: z.string(), taskId: z.string(), triggeredAt: z.string() }),
  }),
  z.object({
    type: z.literal('CronRunFailed'),
    data: z.object({ runId: z.string(), cronId: z.string(), kinId: z.string(), error: z.string(), failedAt: z.string() }),
  }),
]);
export type CronRunEvent = z.infer<typeof cronRunEventSchema>;
export const cronRunEventTypes = ['CronRunClaimed', 'CronTriggered', 'CronRunFailed'] as const;

export const parseCronRunEvent = (recorded: RecordedEvent): CronRunEvent =>
  cronRunEventSchema.parse({ type: recorded.type, data: recorded.data });
