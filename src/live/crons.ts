import type { LiveMapper } from './feed.js';
import { cronEventTypes, parseCronEvent, parseCronRunEvent } from '../events/crons.js';

const handled: ReadonlySet<string> = new Set([...cronEventTypes, 'CronTriggered']);

/**
 * cron:created / cron:updated / cron:deleted / cron:triggered (platform.md §10). Approval and a
 * run-once cron switching itself off are updates; a cron whose target Kin was deleted reports
 * `targetKinId: null`.
 */
export const cronLiveMessages: LiveMapper = (recorded) => {
  if (!handled.has(recorded.type)) return [];
  if (recorded.type === 'CronTriggered') {
    const run = parseCronRunEvent(recorded);
    if (run.type !== 'CronTriggered') return [];
    const { cronId, kinId, taskId } = run.data;
    return [{ type: 'cron:triggered', kinId, data: { cronId, kinId, taskId } }];
  }
  const event = parseCronEvent(recorded);
  const { cronId, kinId } = event.data;
  switch (event.type) {
    case 'CronCreated':
      return [{ type: 'cron:created', kinId, data: { cronId, kinId } }];
    case 'CronUpdated': {
      const { targetKinId } = event.data.changes;
      return [{ type: 'cron:updated', kinId, data: targetKinId === undefined ? { cronId, kinId } : { cronId, kinId, targetKinId } }];
    }
    case 'CronApproved':
      return [{ type: 'cron:updated', kinId, data: { cronId, kinId } }];
    case 'CronDeleted':
      return [{ type: 'cron:deleted', kinId, data: { cronId, kinId } }];
  }
};
