import type { Logger } from 'pino';
import type { MemoryDeps } from '../commands/memories.js';
import type { CommandMetadata } from '../es/decider.js';
import { DomainError } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { MemoryLlmDeps } from './memoryLlm.js';

/** What the memory upkeep steps (backfill, consolidation, re-embedding, extraction) need. */
export type UpkeepDeps = MemoryDeps &
  MemoryLlmDeps & {
    eventStore: EventStore;
    settle: (position: number | null) => Promise<void>;
    log: Logger;
  };

/** Called as a step advances: `done` of `total` units (memories or clusters). */
export type Progress = (done: number, total: number) => void;

/** A step's commands keep the caller's actor and correlation; each gets its own time. */
export const stamped = (metadata: CommandMetadata): CommandMetadata => ({ ...metadata, now: new Date() });

/** Whether `error` is one of these domain refusals (a memory deleted meanwhile, a Kin gone…). */
export const isRefusal = (error: unknown, ...codes: string[]): boolean => error instanceof DomainError && codes.includes(error.code);

/** The highest position a step appended, so that it settles once before answering. */
export function positions() {
  let last: number | null = null;
  return {
    track(position: number | null) {
      if (position !== null) last = Math.max(last ?? position, position);
    },
    get last() {
      return last;
    },
  };
}

/** Rethrows when the step was asked to stop (a shutdown): that is not a failure to count. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}
