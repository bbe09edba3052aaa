import { updateMemory } from '../commands/memories.js';
import type { CommandMetadata } from '../es/decider.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';
import { ask, importanceOf, jsonArrayIn, maintenanceModel } from './memoryLlm.js';
import { isRefusal, positions, stamped, throwIfAborted, type Progress, type UpkeepDeps } from './memoryUpkeepDeps.js';

/**
 * POST /api/memories/backfill-importance (memory-knowledge.md §3): the maintenance model scores
 * every memory whose importance is null, 20 at a time. Only unscored memories are asked about, so
 * a run after a crash (or a second run) scores what is left and nothing twice. The change does
 * not bump updatedAt and is not announced as memory:updated.
 */

export const BACKFILL_BATCH = 20;

export const SCORING_INSTRUCTIONS = [
  'You rate how useful each long-term memory of an AI agent is for its future conversations.',
  'Scale: 1 trivial … 5 moderately useful … 10 critical. Most memories should score between 3 and 7.',
  'Answer with a JSON array only: [{"index": <number of the memory>, "score": <1-10>}], one entry per memory.',
].join('\n');

const line = (memory: MemoryDoc, n: number) => `${n}. [${memory.category}] ${memory.content}${memory.subject ? ` (subject: ${memory.subject})` : ''}`;

export type BackfillResult = { updated: number; skipped: number };

export async function backfillImportance(
  deps: UpkeepDeps,
  input: { kinId?: string },
  metadata: CommandMetadata,
  options: { signal?: AbortSignal; onProgress?: Progress } = {},
): Promise<BackfillResult> {
  const pending = await deps.readStore
    .collection<MemoryDoc>(MEMORIES)
    .find({ importance: null, ...(input.kinId ? { kinId: input.kinId } : {}) }, { sort: { createdAt: 1, id: 1 } });
  const model = pending.length ? await maintenanceModel(deps) : null;
  if (!model) return { updated: 0, skipped: 0 };

  const written = positions();
  let updated = 0;
  let skipped = 0;
  options.onProgress?.(0, pending.length);
  for (let from = 0; from < pending.length; from += BACKFILL_BATCH) {
    throwIfAborted(options.signal);
    const batch = pending.slice(from, from + BACKFILL_BATCH);
    let scores: unknown[] | null = null;
    try {
      scores = jsonArrayIn(await ask(model, SCORING_INSTRUCTIONS, batch.map((memory, i) => line(memory, i + 1)).join('\n'), options.signal));
    } catch (error) {
      throwIfAborted(options.signal);
      deps.log.warn({ err: error }, 'an importance batch could not be scored');
    }
    if (!scores) skipped += batch.length;
    for (const entry of scores ?? []) {
      if (typeof entry !== 'object' || entry === null) continue;
      const { index, score } = entry as { index?: unknown; score?: unknown };
      const memory = typeof index === 'number' && Number.isInteger(index) ? batch[index - 1] : undefined;
      const importance = importanceOf(score);
      if (!memory || importance === null) continue;
      try {
        const result = await updateMemory(deps, { memoryId: memory.id, kinId: memory.kinId, changes: { importance }, touch: false }, stamped(metadata));
        written.track(result.position);
        if (result.changed) updated++;
      } catch (error) {
        if (!isRefusal(error, 'MEMORY_NOT_FOUND')) throw error;
      }
    }
    options.onProgress?.(Math.min(from + BACKFILL_BATCH, pending.length), pending.length);
  }
  await deps.settle(written.last);
  return { updated, skipped };
}
