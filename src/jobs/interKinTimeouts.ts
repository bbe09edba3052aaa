import { v7 as uuidv7 } from 'uuid';
import { runTaskCommand } from '../commands/tasks.js';
import type { CommandMetadata } from '../es/decider.js';
import { DomainError } from '../es/errors.js';
import { TASKS, type TaskDoc } from '../projections/tasks.js';
import type { Services } from '../services.js';
import { scheduleJob } from './schedule.js';

type TimeoutServices = Pick<Services, 'config' | 'readStore' | 'runCommand' | 'settle' | 'log'>;

/**
 * A task waiting for another Kin's reply goes on without it after the inter-Kin response timeout
 * (5 min by default). Derived from the read model (when it started waiting), so a restart does
 * not lose the deadline; a reply arriving later finds the task no longer waiting for it.
 */
export async function timeOutKinRequests(services: TimeoutServices, now = new Date()) {
  const timeoutMs = services.config.tasks.interKinTimeoutMs;
  const cutoff = new Date(now.getTime() - timeoutMs).toISOString();
  const waiting = await services.readStore
    .collection<TaskDoc>(TASKS)
    .find({ status: 'awaiting_kin_response', pendingRequestKind: 'kin', awaitingSince: { $lt: cutoff } });
  const metadata: CommandMetadata = { actor: { kind: 'system', id: 'inter-kin-timeout' }, correlationId: uuidv7(), now };
  const content = `No reply came within ${Math.round(timeoutMs / 60_000)} minute(s); go on without it.`;
  for (const task of waiting) {
    try {
      const command = { type: 'ProvideInput' as const, taskId: task.id, requestId: task.pendingRequestId!, content, sourceType: 'system' as const, sourceId: null, inReplyTo: task.pendingRequestId, now };
      await services.settle((await runTaskCommand(services, command, metadata)).position);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }
  return { timedOut: waiting.length };
}

export const scheduleInterKinTimeouts = (services: TimeoutServices, intervalMs = 15_000): (() => void) =>
  scheduleJob('inter-Kin response timeouts', () => timeOutKinRequests(services), intervalMs, services.log);
