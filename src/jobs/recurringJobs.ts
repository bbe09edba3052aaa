import { hostname } from 'node:os';
import { Agenda } from 'agenda';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { agendaBackendFor, connectingOnce } from './agenda.js';

/** A maintenance job that runs every `intervalMs` (first at start-up). */
export type RecurringJob = { name: string; intervalMs: number; run: () => Promise<unknown> };

export type RecurringJobs = { stop(): Promise<void> };

/** Hourly work needs no finer polling than this. */
const PROCESS_EVERY_MS = 30_000;
/** How long a shutdown waits for a run in progress. */
const DRAIN_MS = 10_000;

/**
 * Recurring maintenance on agenda, on the same backend as the crons (src/jobs/agenda.ts) but with
 * an agenda of its own: agenda only takes the jobs it has a definition for, so the two never pick
 * each other's. Each job is one `single` agenda job (`every`): with several servers on one
 * backend, one of them runs it at a time, and a run that fell due while every server was down
 * runs at the next start.
 */
export async function startRecurringJobs(deps: { config: Config; log: Logger }, jobs: readonly RecurringJob[]): Promise<RecurringJobs> {
  const { log } = deps;
  const backend = connectingOnce(await agendaBackendFor(deps.config));
  await backend.connect();
  const agenda = new Agenda({ backend, name: `kinbot-maintenance@${hostname()}:${process.pid}`, processEvery: PROCESS_EVERY_MS });
  agenda.on('error', (error: Error) => log.error({ err: error }, 'maintenance scheduler error'));
  for (const job of jobs) {
    agenda.define(job.name, async () => {
      try {
        await job.run();
      } catch (error) {
        log.error({ err: error, job: job.name }, 'scheduled job failed');
        throw error;
      }
    });
  }
  await agenda.ready;
  // Saved before processing starts, so that the first poll already finds a run that is due.
  for (const job of jobs) await agenda.every(job.intervalMs, job.name);
  await agenda.start();
  return {
    async stop() {
      await agenda.drain({ timeout: DRAIN_MS, closeConnection: false });
      await backend.disconnect();
    },
  };
}
