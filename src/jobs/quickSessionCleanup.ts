import { scheduleJob } from './schedule.js';
import { v7 as uuidv7 } from 'uuid';
import { closeQuickSession, purgeQuickSession, QUICK_SESSION_RETENTION_MS, type QuickSessionDeps } from '../commands/quickSessions.js';
import type { CommandMetadata } from '../es/decider.js';
import { QUICK_SESSIONS, type QuickSessionDoc } from '../projections/quickSessions.js';
import type { Services } from '../services.js';

const HOUR_MS = 60 * 60 * 1000;

type CleanupServices = QuickSessionDeps & Pick<Services, 'settle' | 'log'>;

/**
 * Closes the active sessions past their expiry (reason 'expired', which the live feed reports as
 * quick-session:closed) and forgets the sessions closed for longer than the retention period.
 * Sending to an expired session is refused whether or not this ran, so a late run is harmless.
 */
export async function cleanUpQuickSessions(services: CleanupServices, now = new Date()) {
  const sessions = services.readStore.collection<QuickSessionDoc>(QUICK_SESSIONS);
  const metadata: CommandMetadata = { actor: { kind: 'system', id: 'quick-session-cleanup' }, correlationId: uuidv7(), now };
  const expired = await sessions.find({ status: 'active', expiresAt: { $lt: now.getTime() } });
  const old = await sessions.find({ status: 'closed', closedAt: { $lt: now.getTime() - QUICK_SESSION_RETENTION_MS } });
  let last: number | null = null;
  const track = (position: number | null) => {
    if (position !== null) last = Math.max(last ?? position, position);
  };
  let closed = 0;
  let purged = 0;
  for (const session of expired) {
    try {
      track((await closeQuickSession(services, session.id, { by: null, reason: 'expired' }, metadata)).position);
      closed++;
    } catch (error) {
      services.log.error({ err: error, sessionId: session.id }, 'closing an expired quick session failed');
    }
  }
  for (const session of old) {
    try {
      const position = await purgeQuickSession(services, session.id, metadata);
      track(position);
      if (position !== null) purged++;
    } catch (error) {
      services.log.error({ err: error, sessionId: session.id }, 'purging a quick session failed');
    }
  }
  await services.settle(last);
  return { closed, purged };
}

/** Runs it now and then every `intervalMs`; returns the function that stops it. */
export const scheduleQuickSessionCleanup = (services: CleanupServices, intervalMs = HOUR_MS): (() => void) =>
  scheduleJob('quick session cleanup', () => cleanUpQuickSessions(services), intervalMs, services.log);
