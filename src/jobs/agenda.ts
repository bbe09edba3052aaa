import { hostname } from 'node:os';
import { join } from 'node:path';
import { Agenda, type AgendaBackend, type Job } from 'agenda';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config.js';
import {
  clearCronTarget,
  deleteCron,
  fireScheduledCron,
  loadCron,
  type CronDeps,
  type CronTaskSpawner,
} from '../commands/crons.js';
import type { CommandMetadata } from '../es/decider.js';
import { DomainError } from '../es/errors.js';
import type { Reactor } from '../es/reactors.js';
import { cronEventTypes, parseCronEvent } from '../events/crons.js';
import { parseKinEvent } from '../events/kins.js';
import { readSchedule, serverTimezone } from '../lib/cronSchedule.js';
import { Mutex } from '../lib/mutex.js';
import { CRONS, type CronDoc } from '../projections/crons.js';
import type { Services } from '../services.js';
import { SqliteBackend } from '../stores/agenda/sqliteBackend.js';

/**
 * Crons on agenda 6. A cron's definition lives in its event stream; agenda only holds the
 * schedule: one job per active, approved cron (name `cron-run`, unique by `data.cronId`), kept in
 * line with the events by the `cron-scheduler` reactor and re-checked at start-up. A firing
 * spawns the cron's task (src/commands/crons.ts, fireScheduledCron).
 *
 * Missed runs: agenda runs a job whose time passed while the server was down once when it
 * starts, then computes the next run from that start, so a cron that missed many slots runs
 * once, not once per slot. Every scheduled run claims its slot in the event store first, so a
 * slot never runs twice, whatever agenda or a second worker does.
 *
 * Backend: @agendajs/mongo-backend (collection `agendaJobs`) when MONGODB_URI is set, else the
 * SQLite backend in its own file `<dataDir>/jobs.db`.
 */

export const CRON_JOB = 'cron-run';

/** A job's data: enough to tell whether it still matches its cron without reading the cron. */
export type CronJobData = { cronId: string; kinId: string; schedule: string; timezone: string };

/** agenda's poll: also the precision of second-level schedules, which need it at 1 s. */
const PROCESS_EVERY_MS = 1000;
/**
 * A firing only spawns a task, so a lock older than this belongs to a dead worker (a crash): its
 * jobs resume after at most this long. Should a slow firing outlive it and a second worker start
 * the same run, the slot claim refuses the second.
 */
const LOCK_LIFETIME_MS = 15_000;
/** How long a shutdown waits for firings in progress. */
const DRAIN_MS = 10_000;

export type CronScheduler = {
  /** Connects the backend, brings every cron's job in line, and starts processing. */
  start(): Promise<void>;
  /** Stops processing, lets firings in progress finish (they release their jobs), disconnects. */
  stop(): Promise<void>;
  /** Makes the cron's job match the cron: scheduled, re-scheduled after a schedule change, or removed. */
  sync(cronId: string): Promise<void>;
  /** The tasks capability's spawnTask, bound to the services (also used by manual triggers). */
  spawn: CronTaskSpawner;
  /** Follows cron events (sync) and Kin deletions (their crons go, crons targeting them lose the target). */
  reactor: Reactor;
};

export type CronSchedulerDeps = Pick<Services, 'config' | 'log' | 'eventStore' | 'readStore' | 'runCommand' | 'settle' | 'projections'> & {
  spawn: CronTaskSpawner;
};

/** The MongoDB backend (and its driver) is loaded only when configured. */
export async function agendaBackendFor(config: Pick<Config, 'mongodbUri' | 'dataDir'>): Promise<AgendaBackend> {
  if (!config.mongodbUri) return new SqliteBackend({ path: join(config.dataDir, 'jobs.db') });
  const { MongoBackend } = await import('@agendajs/mongo-backend');
  return new MongoBackend({ address: config.mongodbUri, collection: 'agendaJobs' });
}

/**
 * agenda connects its backend from its constructor without handling a failure (and the Mongo
 * backend opens a new client on every connect): we connect first, and agenda gets that promise.
 */
export function connectingOnce(backend: AgendaBackend): AgendaBackend {
  let connecting: Promise<void> | null = null;
  return {
    name: backend.name,
    repository: backend.repository,
    notificationChannel: backend.notificationChannel,
    logger: backend.logger,
    ownsConnection: backend.ownsConnection,
    connect: () => (connecting ??= backend.connect()),
    async disconnect() {
      connecting = null;
      await backend.disconnect();
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createCronScheduler(
  deps: CronSchedulerDeps,
  options: { backend?: () => AgendaBackend; processEveryMs?: number } = {},
): CronScheduler {
  const { log, readStore } = deps;
  const cronDeps: CronDeps = deps;
  const runDeps = { ...cronDeps, eventStore: deps.eventStore, spawn: deps.spawn };
  let agenda: Agenda | null = null;
  let backend: AgendaBackend | null = null;
  /** Jobs agenda is running here, until it has saved their state (which releases their lock). */
  const inFlight = new Set<string>();
  const syncLock = new Mutex();
  const metadata = (): CommandMetadata => ({ actor: { kind: 'system', id: 'cron-scheduler' }, correlationId: uuidv7(), now: new Date() });

  async function fire(job: Job) {
    const { cronId } = job.attrs.data as CronJobData;
    // agenda sets lastRunAt when the run starts: never before its scheduled time.
    const runAt = job.attrs.lastRunAt ?? new Date();
    const result = await fireScheduledCron(runDeps, cronId, runAt, metadata());
    switch (result.outcome) {
      case 'fired':
        log.debug({ cronId, slot: result.slot, taskId: result.taskId }, 'cron fired');
        return;
      case 'failed':
        log.warn({ cronId, slot: result.slot, error: result.error }, 'cron fired but its task could not be spawned');
        return;
      case 'duplicate':
        log.info({ cronId, slot: result.slot }, 'cron slot already run; not running it again');
        return;
      case 'skipped':
        log.debug({ cronId, reason: result.reason }, 'cron firing skipped');
        return;
      case 'gone':
        await sync(cronId);
        return;
    }
  }

  function sync(cronId: string): Promise<void> {
    return syncLock.run(async () => {
      const running = agenda;
      if (!running) throw new Error('The cron scheduler is not running');
      const state = await loadCron(deps.eventStore, cronId);
      const cron = state.status === 'active' && state.cron.isActive && !state.cron.requiresApproval ? state.cron : null;
      const existing = (await running.queryJobs({ name: CRON_JOB, data: { cronId } })).jobs;
      if (!cron) {
        if (existing.length) await running.cancel({ name: CRON_JOB, data: { cronId } });
        return;
      }
      const timezone = cron.timezone ?? serverTimezone();
      const current = existing.length === 1 ? (existing[0]!.data as CronJobData) : null;
      // Unchanged: keep the job as it is, so that a run that is due (missed while down) stays due.
      if (current && current.schedule === cron.schedule && current.timezone === timezone) return;
      if (existing.length) await running.cancel({ name: CRON_JOB, data: { cronId } });
      const schedule = readSchedule(cron.schedule, timezone);
      const data: CronJobData = { cronId, kinId: cron.kinId, schedule: cron.schedule, timezone };
      const job = running.create(CRON_JOB, data).unique({ 'data.cronId': cronId });
      if (schedule.kind === 'cron') {
        job.repeatEvery(schedule.expression, { timezone, skipImmediate: true });
      } else {
        // A one-shot whose instant passed while the cron was off does not run late.
        if (schedule.at.getTime() <= Date.now()) return;
        job.schedule(schedule.at);
      }
      await job.save();
    });
  }

  /** Crons that should have a job, and jobs whose cron may be gone: each is synced. */
  async function reconcile(running: Agenda) {
    await deps.settle(await deps.eventStore.headPosition());
    const active = await readStore.collection<CronDoc>(CRONS).find({ isActive: true, requiresApproval: false });
    const { jobs } = await running.queryJobs({ name: CRON_JOB });
    const ids = new Set([...active.map((cron) => cron.id), ...jobs.map((job) => (job.data as CronJobData).cronId)]);
    for (const cronId of ids) {
      try {
        await sync(cronId);
      } catch (error) {
        log.error({ err: error, cronId }, 'could not schedule a cron at start-up');
      }
    }
  }

  async function cascadeKinDeletion(kinId: string, position: number, causation: { id: string; correlationId: string }) {
    // The read model must include every cron created before the deletion.
    if (!(await deps.projections.waitFor(position))) throw new Error('read models are behind; retrying the cascade later');
    const md: CommandMetadata = { actor: { kind: 'system', id: 'kin-deletion' }, correlationId: causation.correlationId, causationId: causation.id, now: new Date() };
    const crons = readStore.collection<CronDoc>(CRONS);
    for (const cron of await crons.find({ kinId })) {
      try {
        await deleteCron(cronDeps, cron.id, { by: 'system' }, md);
      } catch (error) {
        if (!(error instanceof DomainError && error.status === 404)) throw error;
      }
    }
    for (const cron of await crons.find({ targetKinId: kinId })) await clearCronTarget(cronDeps, cron.id, kinId, md);
  }

  const reactor: Reactor = {
    name: 'cron-scheduler',
    handles: [...cronEventTypes, 'KinDeleted'],
    async react(recorded) {
      if (recorded.type === 'KinDeleted') {
        const { kinId } = parseKinEvent(recorded).data;
        await cascadeKinDeletion(kinId, recorded.position, { id: recorded.id, correlationId: recorded.metadata.correlationId });
        return;
      }
      await sync(parseCronEvent(recorded).data.cronId);
    },
  };

  return {
    spawn: deps.spawn,
    reactor,
    sync,
    async start() {
      if (agenda) return;
      const connected = connectingOnce(options.backend?.() ?? (await agendaBackendFor(deps.config)));
      await connected.connect();
      const created = new Agenda({
        backend: connected,
        name: `kinbot@${hostname()}:${process.pid}`,
        processEvery: options.processEveryMs ?? PROCESS_EVERY_MS,
        maxConcurrency: 20,
        defaultLockLifetime: LOCK_LIFETIME_MS,
      });
      created.on('error', (error: Error) => log.error({ err: error }, 'cron scheduler error'));
      created.on('start', (job: Job) => void inFlight.add(String(job.attrs._id)));
      created.on('complete', (job: Job) => void inFlight.delete(String(job.attrs._id)));
      created.define(CRON_JOB, fire, { concurrency: 10, lockLifetime: LOCK_LIFETIME_MS });
      await created.ready;
      agenda = created;
      backend = connected;
      await reconcile(created);
      await created.start();
    },
    async stop() {
      const running = agenda;
      if (!running) return;
      // No sync starts after this; one in progress finishes first.
      await syncLock.run(() => {
        agenda = null;
      });
      // Releases the jobs held for a coming run; runs in progress go on and release theirs.
      await running.stop(false);
      const deadline = Date.now() + DRAIN_MS;
      while (inFlight.size > 0 && Date.now() < deadline) await sleep(20);
      await backend?.disconnect();
      backend = null;
    },
  };
}
