import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import {
  cronRunStream,
  cronStream,
  parseCronEvent,
  parseCronRunEvent,
  type CronChanges,
  type CronCreator,
  type CronEvent,
  type CronRunEvent,
  type CronTrigger,
} from '../events/crons.js';
import type { Config } from '../config.js';
import { canonicalTimezone, readSchedule, ScheduleError, serverTimezone, slotOf, validateSchedule } from '../lib/cronSchedule.js';
import { CRONS, type CronDoc } from '../projections/crons.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { lastPosition, notify, type NotificationDeps } from './notifications.js';
import type { SpawnTaskInput } from './tasks.js';

// ── The cron stream ───────────────────────────────────────────────────────────────────────────

export type CronFacts = {
  kinId: string;
  name: string;
  schedule: string;
  timezone: string | null;
  taskDescription: string;
  targetKinId: string | null;
  model: string | null;
  runOnce: boolean;
  isActive: boolean;
  requiresApproval: boolean;
  createdBy: CronCreator;
};

export type CronState = { status: 'none' } | { status: 'active'; cron: CronFacts } | { status: 'deleted' };

export type NewCron = Pick<CronFacts, 'kinId' | 'name' | 'schedule' | 'timezone' | 'taskDescription' | 'targetKinId' | 'model' | 'runOnce'>;

/** Who edits: a user or the system (any cron), or a Kin (its own crons only; see `decideCron`). */
export type CronEditor = { by: 'user' | 'system' } | { by: 'kin'; kinId: string };

type Base = { cronId: string; now: Date; /** The zone of a cron without one (the server's). */ serverTimezone: string };

export type CronCommand =
  | (Base & { type: 'CreateCron'; cron: NewCron; createdBy: CronCreator })
  | (Base & { type: 'UpdateCron'; changes: CronChanges; editor: CronEditor })
  | (Base & { type: 'ApproveCron' })
  | (Base & { type: 'CompleteRunOnce' })
  | (Base & { type: 'ClearCronTarget'; targetKinId: string })
  | (Base & { type: 'DeleteCron'; editor: CronEditor });

export const cronNotFound = () => notFound('NOT_FOUND', 'Cron not found');

export function evolveCron(state: CronState, event: CronEvent): CronState {
  switch (event.type) {
    case 'CronCreated': {
      const { cronId: _id, createdAt: _at, ...cron } = event.data;
      return { status: 'active', cron };
    }
    case 'CronUpdated':
      return state.status === 'active' ? { status: 'active', cron: { ...state.cron, ...event.data.changes } } : state;
    case 'CronApproved':
      return state.status === 'active' ? { status: 'active', cron: { ...state.cron, requiresApproval: false, isActive: true } } : state;
    case 'CronDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** What a Kin may not change on its own: when and what a cron runs, and switching it on. */
const NEEDS_APPROVAL: readonly (keyof CronChanges)[] = ['schedule', 'timezone', 'taskDescription', 'targetKinId', 'model'];

const sameValue = (a: unknown, b: unknown) => (a ?? null) === (b ?? null);

function changedFields(changes: CronChanges, cron: CronFacts): CronChanges {
  return Object.fromEntries(
    Object.entries(changes).filter(([key, value]) => value !== undefined && !sameValue(value, cron[key as keyof CronFacts])),
  ) as CronChanges;
}

/** The canonical zone name, or a 400 with the command's error code. */
function checkedTimezone(timezone: string | null, code: string): string | null {
  if (timezone === null) return null;
  const canonical = canonicalTimezone(timezone);
  if (!canonical) throw badRequest(code, `Invalid timezone: "${timezone}" — expected an IANA time zone such as "Europe/Paris"`);
  return canonical;
}

function checkSchedule(schedule: string, timezone: string, now: Date, code: string): void {
  try {
    validateSchedule(schedule, timezone, now);
  } catch (error) {
    if (error instanceof ScheduleError) throw badRequest(code, `Invalid schedule: "${schedule}" — ${error.reason}`);
    throw error;
  }
}

export function decideCron(command: CronCommand, state: CronState): CronEvent[] {
  const { cronId, now, serverTimezone } = command;
  const at = now.toISOString();
  if (command.type === 'CreateCron') {
    if (state.status !== 'none') throw conflict('CRON_EXISTS', 'A cron with this id already exists');
    const code = 'CRON_CREATE_ERROR';
    const timezone = checkedTimezone(command.cron.timezone, code);
    checkSchedule(command.cron.schedule, timezone ?? serverTimezone, now, code);
    const byKin = command.createdBy === 'kin';
    // A Kin's cron waits for a human's approval before it may ever fire.
    const data = { cronId, ...command.cron, timezone, isActive: !byKin, requiresApproval: byKin, createdBy: command.createdBy, createdAt: at };
    return [{ type: 'CronCreated', data }];
  }
  if (state.status !== 'active') throw cronNotFound();
  const { cron } = state;
  const { kinId } = cron;
  switch (command.type) {
    case 'UpdateCron': {
      const { editor } = command;
      if (editor.by === 'kin' && editor.kinId !== kinId) throw cronNotFound();
      const code = 'CRON_UPDATE_ERROR';
      const requested = { ...command.changes };
      if (requested.timezone !== undefined) requested.timezone = checkedTimezone(requested.timezone, code);
      const changes = changedFields(requested, cron);
      if (changes.schedule !== undefined || changes.timezone !== undefined) {
        const timezone = (changes.timezone !== undefined ? changes.timezone : cron.timezone) ?? serverTimezone;
        checkSchedule(changes.schedule ?? cron.schedule, timezone, now, code);
      }
      if (editor.by === 'kin' && (NEEDS_APPROVAL.some((key) => key in changes) || changes.isActive === true)) {
        // A Kin's edit of an approved cron is a new request: it stops until a human approves it again.
        if (!cron.requiresApproval) Object.assign(changes, { requiresApproval: true });
        if (cron.isActive || changes.isActive === true) Object.assign(changes, { isActive: false });
      }
      const effective = changedFields(changes, cron);
      if (Object.keys(effective).length === 0) return [];
      return [{ type: 'CronUpdated', data: { cronId, kinId, changes: effective, reason: 'edit', updatedAt: at } }];
    }
    case 'ApproveCron':
      if (!cron.requiresApproval) throw conflict('ALREADY_APPROVED', 'This cron does not require approval');
      return [{ type: 'CronApproved', data: { cronId, kinId, approvedAt: at } }];
    case 'CompleteRunOnce':
      if (!cron.isActive) return [];
      return [{ type: 'CronUpdated', data: { cronId, kinId, changes: { isActive: false }, reason: 'ran-once', updatedAt: at } }];
    case 'ClearCronTarget':
      if (cron.targetKinId !== command.targetKinId) return [];
      return [{ type: 'CronUpdated', data: { cronId, kinId, changes: { targetKinId: null }, reason: 'target-deleted', updatedAt: at } }];
    case 'DeleteCron':
      if (command.editor.by === 'kin' && command.editor.kinId !== kinId) throw cronNotFound();
      return [{ type: 'CronDeleted', data: { cronId, kinId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const cronDecider: Decider<CronState, CronCommand, CronEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveCron,
  decide: decideCron,
};

// ── A run's stream ────────────────────────────────────────────────────────────────────────────

export type CronRunState =
  | { status: 'none' }
  | { status: 'claimed' | 'failed'; cronId: string; kinId: string }
  | { status: 'triggered'; cronId: string; kinId: string; taskId: string };

export type CronRunCommand =
  | { type: 'ClaimCronRun'; runId: string; cronId: string; kinId: string; trigger: CronTrigger; slot: Date | null; now: Date }
  | { type: 'RecordCronRunTask'; runId: string; taskId: string; now: Date }
  | { type: 'RecordCronRunFailure'; runId: string; error: string; now: Date };

export const CRON_RUN_DUPLICATE = 'CRON_RUN_DUPLICATE';

export function evolveCronRun(state: CronRunState, event: CronRunEvent): CronRunState {
  switch (event.type) {
    case 'CronRunClaimed':
      return { status: 'claimed', cronId: event.data.cronId, kinId: event.data.kinId };
    case 'CronTriggered':
      return { status: 'triggered', cronId: event.data.cronId, kinId: event.data.kinId, taskId: event.data.taskId };
    case 'CronRunFailed':
      return { status: 'failed', cronId: event.data.cronId, kinId: event.data.kinId };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideCronRun(command: CronRunCommand, state: CronRunState): CronRunEvent[] {
  const { runId } = command;
  const at = command.now.toISOString();
  if (command.type === 'ClaimCronRun') {
    // The refusal that keeps one slot from running twice, whoever asks and however late.
    if (state.status !== 'none') throw conflict(CRON_RUN_DUPLICATE, 'This run of the cron has already been claimed');
    const { cronId, kinId, trigger, slot } = command;
    return [{ type: 'CronRunClaimed', data: { runId, cronId, kinId, trigger, slot: slot?.toISOString() ?? null, claimedAt: at } }];
  }
  if (state.status === 'none') throw notFound('NOT_FOUND', 'Cron run not found');
  const { cronId, kinId } = state;
  switch (command.type) {
    case 'RecordCronRunTask':
      if (state.status === 'triggered' && state.taskId === command.taskId) return [];
      if (state.status !== 'claimed') throw conflict('CRON_RUN_FINISHED', 'This run of the cron is already over');
      return [{ type: 'CronTriggered', data: { runId, cronId, kinId, taskId: command.taskId, triggeredAt: at } }];
    case 'RecordCronRunFailure':
      if (state.status !== 'claimed') return [];
      return [{ type: 'CronRunFailed', data: { runId, cronId, kinId, error: command.error, failedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const cronRunDecider: Decider<CronRunState, CronRunCommand, CronRunEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveCronRun,
  decide: decideCronRun,
};

/** Namespace of the run ids derived from (cron, slot). */
const RUN_NAMESPACE = '3c1f7e52-8a4b-4d1e-9c6a-5f2b0e7d9a10';
export const scheduledRunId = (cronId: string, slot: Date) => uuidv5(`${cronId}@${slot.toISOString()}`, RUN_NAMESPACE);

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

/** `config.crons`: the limits of tasks-crons-webhooks.md §1–2 (CRONS_MAX_ACTIVE, CRONS_MAX_CONCURRENT_EXEC). */
export type CronDeps = NotificationDeps & { config: Pick<Config, 'crons'> };

/** Spawns the task of a run (the tasks capability's spawnTask, bound to the services). */
export type CronTaskSpawner = (input: SpawnTaskInput, metadata: CommandMetadata) => Promise<{ taskId: string }>;

export type CronRunDeps = CronDeps & { eventStore: EventStore; spawn: CronTaskSpawner };

const runCron = (deps: CronDeps, command: CronCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: cronStream(command.cronId), decider: cronDecider, parse: parseCronEvent, command, metadata });

const runCronRun = (deps: CronDeps, command: CronRunCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: cronRunStream(command.runId), decider: cronRunDecider, parse: parseCronRunEvent, command, metadata });

/** The server's zone travels on the command, so that deciders stay pure. */
const base = (cronId: string, metadata: CommandMetadata) => ({ cronId, now: metadata.now, serverTimezone: serverTimezone() });

/** The cron as its own stream has it (authoritative, unlike the read model, which may lag). */
export async function loadCron(eventStore: EventStore, cronId: string): Promise<CronState> {
  const events = await eventStore.readStream(cronStream(cronId));
  return events.map(parseCronEvent).reduce(evolveCron, cronDecider.initialState());
}

/** A Kin by id or slug. */
export const findKinRef = (deps: Pick<CronDeps, 'readStore'>, ref: string) =>
  deps.readStore.collection<KinDoc>(KINS).findOne({ $or: [{ id: ref }, { slug: ref }] });

async function checkActiveLimit(deps: CronDeps, code: string, except?: string) {
  const { maxActive } = deps.config.crons;
  const active = await deps.readStore.collection<CronDoc>(CRONS).count(except ? { isActive: true, id: { $ne: except } } : { isActive: true });
  if (active >= maxActive) throw badRequest(code, `Max active crons (${maxActive}) reached`);
}

export type CreateCronInput = Omit<NewCron, 'timezone' | 'targetKinId' | 'model' | 'runOnce'> & {
  timezone?: string | null;
  targetKinId?: string | null;
  model?: string | null;
  runOnce?: boolean;
  createdBy: CronCreator;
};

/**
 * Creates a cron. A user's is active at once; a Kin's waits for approval, and every user gets a
 * `cron:pending-approval` notification. Kins are given by id or slug.
 */
export async function createCron(deps: CronDeps, input: CreateCronInput, metadata: CommandMetadata) {
  const code = 'CRON_CREATE_ERROR';
  const kin = await findKinRef(deps, input.kinId);
  if (!kin) throw badRequest(code, 'Kin not found');
  const target = input.targetKinId ? await findKinRef(deps, input.targetKinId) : null;
  if (input.targetKinId && !target) throw badRequest(code, 'Target Kin not found');
  await checkActiveLimit(deps, code);
  const cronId = uuidv7();
  const cron: NewCron = {
    kinId: kin.id,
    name: input.name,
    schedule: input.schedule.trim(),
    timezone: input.timezone ?? null,
    taskDescription: input.taskDescription,
    targetKinId: target?.id ?? null,
    model: input.model ?? null,
    runOnce: input.runOnce ?? false,
  };
  const created = await runCron(deps, { type: 'CreateCron', ...base(cronId, metadata), cron, createdBy: input.createdBy }, metadata);
  if (input.createdBy !== 'kin') return { cronId, position: created.position };
  const notified = await notify(
    deps,
    { type: 'cron:pending-approval', title: 'Cron needs approval', body: cron.name, kinId: kin.id, relatedId: cronId, relatedType: 'cron' },
    metadata,
  );
  return { cronId, position: lastPosition([created.position, notified.position]) };
}

/** A Kin that edits what a cron runs sends it back for approval (with a new notification). */
export async function updateCron(deps: CronDeps, cronId: string, changes: CronChanges, editor: CronEditor, metadata: CommandMetadata) {
  const code = 'CRON_UPDATE_ERROR';
  const request = { ...changes };
  if (typeof changes.targetKinId === 'string') {
    const target = await findKinRef(deps, changes.targetKinId);
    if (!target) throw badRequest(code, 'Target Kin not found');
    request.targetKinId = target.id;
  }
  if (typeof changes.schedule === 'string') request.schedule = changes.schedule.trim();
  if (changes.isActive === true) await checkActiveLimit(deps, code, cronId);
  const result = await runCron(deps, { type: 'UpdateCron', ...base(cronId, metadata), changes: request, editor }, metadata);
  const sentBack = result.events.some((event) => event.type === 'CronUpdated' && event.data.changes.requiresApproval === true);
  if (!sentBack || result.state.status !== 'active') return result;
  const { kinId, name } = result.state.cron;
  const notified = await notify(
    deps,
    { type: 'cron:pending-approval', title: 'Cron needs approval', body: name, kinId, relatedId: cronId, relatedType: 'cron' },
    metadata,
  );
  return { ...result, position: lastPosition([result.position, notified.position]) };
}

export const approveCron = (deps: CronDeps, cronId: string, metadata: CommandMetadata) =>
  runCron(deps, { type: 'ApproveCron', ...base(cronId, metadata) }, metadata);

export const deleteCron = (deps: CronDeps, cronId: string, editor: CronEditor, metadata: CommandMetadata) =>
  runCron(deps, { type: 'DeleteCron', ...base(cronId, metadata), editor }, metadata);

/** For the deletion of a Kin: its crons go with it, crons that targeted it run on their owner. */
export const clearCronTarget = (deps: CronDeps, cronId: string, targetKinId: string, metadata: CommandMetadata) =>
  runCron(deps, { type: 'ClearCronTarget', ...base(cronId, metadata), targetKinId }, metadata);

function taskOf(cronId: string, cron: CronFacts, trigger: CronTrigger, maxConcurrentExec: number): SpawnTaskInput {
  const scheduled = trigger === 'schedule';
  return {
    parentKinId: cron.kinId,
    // A target Kin executes the task for the owner (spawnType 'other'); otherwise the owner does.
    sourceKinId: cron.targetKinId,
    title: cron.name,
    description: cron.taskDescription,
    mode: 'async',
    model: cron.model,
    cronId,
    parentTaskId: null,
    // Scheduled firings share the cron's queue (excess ones wait); a manual trigger skips it.
    concurrencyGroup: scheduled ? `cron:${cronId}` : null,
    concurrencyMax: scheduled ? maxConcurrentExec : null,
  };
}

/** Spawns the run's task and records it on the run (SSE cron:triggered), or records the failure. */
async function spawnRun(deps: CronRunDeps, runId: string, cronId: string, cron: CronFacts, trigger: CronTrigger, metadata: CommandMetadata) {
  let taskId: string;
  try {
    ({ taskId } = await deps.spawn(taskOf(cronId, cron, trigger, deps.config.crons.maxConcurrentExec), metadata));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await runCronRun(deps, { type: 'RecordCronRunFailure', runId, error: message, now: new Date() }, metadata);
    throw error;
  }
  const recorded = await runCronRun(deps, { type: 'RecordCronRunTask', runId, taskId, now: new Date() }, metadata);
  return { taskId, position: recorded.position };
}

/**
 * POST /api/crons/:id/trigger: runs the cron now, active or not (but never before approval),
 * outside its concurrency group.
 */
export async function triggerCron(deps: CronRunDeps, cronId: string, metadata: CommandMetadata) {
  const state = await loadCron(deps.eventStore, cronId);
  if (state.status !== 'active') throw cronNotFound();
  const { cron } = state;
  if (cron.requiresApproval) throw badRequest('CRON_TRIGGER_ERROR', 'Cron is pending approval and cannot be triggered');
  const runId = uuidv7();
  await runCronRun(deps, { type: 'ClaimCronRun', runId, cronId, kinId: cron.kinId, trigger: 'manual', slot: null, now: metadata.now }, metadata);
  try {
    return await spawnRun(deps, runId, cronId, cron, 'manual', metadata);
  } catch (error) {
    if (error instanceof DomainError && error.status >= 500) throw error;
    throw badRequest('CRON_TRIGGER_ERROR', error instanceof Error ? error.message : String(error));
  }
}

export type FireOutcome =
  | { outcome: 'fired'; taskId: string; slot: Date }
  | { outcome: 'skipped'; reason: 'inactive' | 'pending-approval' | 'kin-missing' }
  | { outcome: 'gone' }
  | { outcome: 'duplicate'; slot: Date }
  | { outcome: 'failed'; slot: Date; error: string };

/**
 * A scheduled firing at `runAt` (agenda's start of the run). Skipped unless the cron is active and
 * approved; its slot is claimed first, so a slot that was already run (before a restart, by
 * another worker) is refused here and spawns nothing. A run-once cron is switched off by its first
 * firing. The task joins the cron's concurrency group (`cron:<id>`, at most 5 running).
 */
export async function fireScheduledCron(deps: CronRunDeps, cronId: string, runAt: Date, metadata: CommandMetadata): Promise<FireOutcome> {
  const state = await loadCron(deps.eventStore, cronId);
  if (state.status !== 'active') return { outcome: 'gone' };
  const { cron } = state;
  if (cron.requiresApproval) return { outcome: 'skipped', reason: 'pending-approval' };
  if (!cron.isActive) return { outcome: 'skipped', reason: 'inactive' };
  if (!(await deps.readStore.collection<KinDoc>(KINS).get(cron.kinId))) return { outcome: 'skipped', reason: 'kin-missing' };
  const slot = slotOf(readSchedule(cron.schedule, cron.timezone ?? serverTimezone()), runAt);
  const runId = scheduledRunId(cronId, slot);
  try {
    await runCronRun(deps, { type: 'ClaimCronRun', runId, cronId, kinId: cron.kinId, trigger: 'schedule', slot, now: metadata.now }, metadata);
  } catch (error) {
    if (error instanceof DomainError && error.code === CRON_RUN_DUPLICATE) return { outcome: 'duplicate', slot };
    throw error;
  }
  if (cron.runOnce) await runCron(deps, { type: 'CompleteRunOnce', ...base(cronId, metadata) }, metadata);
  try {
    const { taskId } = await spawnRun(deps, runId, cronId, cron, 'schedule', metadata);
    return { outcome: 'fired', taskId, slot };
  } catch (error) {
    return { outcome: 'failed', slot, error: error instanceof Error ? error.message : String(error) };
  }
}
