import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';
import { sourceTypeSchema } from './messages.js';

/**
 * Two kinds of streams. `task-<taskId>`: the life of one task (spawned → started → its turns,
 * questions and answers → completed | failed | cancelled). `taskgroup-<group>`: a concurrency
 * group, the consistency boundary of "at most M active": admissions, the queue and releases are
 * decided there with an expected revision, so concurrent spawns and finishes cannot overfill it.
 */
export const taskStream = (taskId: string) => `task-${taskId}`;
export const taskGroupStream = (group: string) => `taskgroup-${encodeURIComponent(group)}`;

export const taskStatusSchema = z.enum([
  'queued',
  'pending',
  'in_progress',
  'awaiting_human_input',
  'awaiting_kin_response',
  'completed',
  'failed',
  'cancelled',
]);
export type TaskStatus = z.infer<typeof taskStatusSchema>;
export const FINISHED_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];
/** What a concurrency group counts against its maximum. */
export const ACTIVE_STATUSES: readonly TaskStatus[] = ['pending', 'in_progress', 'awaiting_human_input', 'awaiting_kin_response'];

export const taskModeSchema = z.enum(['await', 'async']);
export type TaskMode = z.infer<typeof taskModeSchema>;

/** Why a turn of the task was opened (the first one is opened by TaskStarted). */
export const turnReasonSchema = z.enum(['nudge', 'answer', 'child']);
export type TurnReason = z.infer<typeof turnReasonSchema>;

/** Who the task waits for: a human (prompt_human), its parent Kin (request_input), another Kin (send_message). */
export const requestKindSchema = z.enum(['human', 'parent', 'kin']);
export type RequestKind = z.infer<typeof requestKindSchema>;

const spawnedData = z.object({
  taskId: z.string(),
  /** The Kin that requested the task; its conversation receives the result. */
  parentKinId: z.string(),
  /** The Kin that executes it when delegated (spawnType other). */
  sourceKinId: z.string().nullable(),
  spawnType: z.enum(['self', 'other']),
  mode: taskModeSchema,
  model: z.string().nullable(),
  title: z.string().nullable(),
  description: z.string(),
  depth: z.number().int(),
  parentTaskId: z.string().nullable(),
  cronId: z.string().nullable(),
  allowHumanPrompt: z.boolean(),
  concurrencyGroup: z.string().nullable(),
  concurrencyMax: z.number().int().nullable(),
  spawnedAt: z.string(),
});
export type TaskSpawnedData = z.infer<typeof spawnedData>;

const ref = { taskId: z.string(), parentKinId: z.string() };

export const taskEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('TaskSpawned'), data: spawnedData }),
  z.object({
    type: z.literal('TaskStarted'),
    data: z.object({ ...ref, executingKinId: z.string(), turnId: z.string(), startedAt: z.string() }),
  }),
  z.object({
    type: z.literal('TaskTurnOpened'),
    data: z.object({
      ...ref,
      turnId: z.string(),
      reason: turnReasonSchema,
      /** The message that opens the turn (the nudge, the answer, a sub-task's result). */
      content: z.string(),
      sourceType: sourceTypeSchema,
      sourceId: z.string().nullable(),
      /** The request this turn answers, if any (an answered request is no longer pending). */
      requestId: z.string().nullable(),
      /** Set when the turn reads a Kin's reply: it runs without the inter-Kin tools (no ping-pong). */
      inReplyTo: z.string().nullable(),
      openedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('TaskAwaitingInput'),
    data: z.object({
      ...ref,
      requestId: z.string(),
      kind: requestKindSchema,
      status: z.enum(['awaiting_human_input', 'awaiting_kin_response']),
      question: z.string().nullable(),
      /** Counters after this request (carried, so that applying the event twice changes nothing). */
      requestInputCount: z.number().int(),
      interKinRequestCount: z.number().int(),
      at: z.string(),
    }),
  }),
  z.object({
    type: z.literal('TaskReported'),
    data: z.object({ ...ref, reportId: z.string(), message: z.string(), reportedAt: z.string() }),
  }),
  z.object({ type: z.literal('TaskCompleted'), data: z.object({ ...ref, result: z.string(), completedAt: z.string() }) }),
  z.object({ type: z.literal('TaskFailed'), data: z.object({ ...ref, error: z.string(), failedAt: z.string() }) }),
  z.object({ type: z.literal('TaskCancelled'), data: z.object({ ...ref, cancelledAt: z.string() }) }),
]);
export type TaskEvent = z.infer<typeof taskEventSchema>;
export const taskEventTypes = [
  'TaskSpawned',
  'TaskStarted',
  'TaskTurnOpened',
  'TaskAwaitingInput',
  'TaskReported',
  'TaskCompleted',
  'TaskFailed',
  'TaskCancelled',
] as const;
export const parseTaskEvent = (recorded: RecordedEvent): TaskEvent => taskEventSchema.parse({ type: recorded.type, data: recorded.data });

const member = { group: z.string(), taskId: z.string(), parentKinId: z.string() };

export const taskGroupEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('GroupTaskQueued'),
    data: z.object({ ...member, concurrencyMax: z.number().int(), queuedAt: z.string() }),
  }),
  z.object({
    type: z.literal('GroupTaskAdmitted'),
    data: z.object({
      ...member,
      concurrencyMax: z.number().int(),
      /** `spawn`: a free slot at spawn time; `promotion`: a slot freed by `byTaskId`; `forced`: force-promote. */
      via: z.enum(['spawn', 'promotion', 'forced']),
      byTaskId: z.string().nullable(),
      admittedAt: z.string(),
    }),
  }),
  /** The task finished or was cancelled: it leaves the group (from a slot or from the queue). */
  z.object({ type: z.literal('GroupTaskReleased'), data: z.object({ ...member, releasedAt: z.string() }) }),
]);
export type TaskGroupEvent = z.infer<typeof taskGroupEventSchema>;
export const taskGroupEventTypes = ['GroupTaskQueued', 'GroupTaskAdmitted', 'GroupTaskReleased'] as const;
export const parseTaskGroupEvent = (recorded: RecordedEvent): TaskGroupEvent =>
  taskGroupEventSchema.parse({ type: recorded.type, data: recorded.data });
