import type { Logger } from 'pino';

/**
 * Runs `job` now (or after `firstDelayMs`) and then every `intervalMs`, logging failures; returns
 * the function that stops it. The timers never hold the process open.
 */
export function scheduleJob(name: string, job: () => Promise<unknown>, intervalMs: number, log: Logger, firstDelayMs = 0): () => void {
  const run = () => {
    job().catch((error: unknown) => log.error({ err: error, job: name }, 'scheduled job failed'));
  };
  const first = setTimeout(run, firstDelayMs);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
