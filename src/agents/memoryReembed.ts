import { reembedMemory, type Embedded } from '../commands/memories.js';
import type { CommandMetadata } from '../es/decider.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';
import { embeddingModelId, embedText, embedTexts } from './embeddings.js';
import { isRefusal, positions, stamped, throwIfAborted, type Progress, type UpkeepDeps } from './memoryUpkeepDeps.js';

/**
 * POST /api/memories/reembed (memory-knowledge.md §3): vectors from the current embedding model,
 * 10 memories at a time (one batched embedding call, the ten commands in parallel).
 *
 * By default only memories whose vector is not of the current model (or that have none) are
 * re-embedded: that is all of them after a model change, and after a crash a second run does only
 * what is left. `all: true` re-embeds every memory. A memory whose text cannot be embedded keeps
 * its old vector and counts as failed.
 */

export const REEMBED_BATCH = 10;

export type ReembedResult = { total: number; success: number; failed: number };

/** Vectors for the texts, one by one when the batch fails (one text must not fail the others). */
async function vectorsFor(deps: UpkeepDeps, texts: string[]): Promise<Embedded[] | null> {
  const outcome = await embedTexts(deps, texts);
  if (outcome.ok) return outcome.vectors.map((embedding) => ({ embedding, embeddingModel: outcome.model }));
  if (outcome.reason === 'no-embedding-provider') return null;
  return Promise.all(texts.map((text) => embedText(deps, text)));
}

export async function reembedMemories(
  deps: UpkeepDeps,
  input: { kinId?: string; all?: boolean },
  metadata: CommandMetadata,
  options: { signal?: AbortSignal; onProgress?: Progress } = {},
): Promise<ReembedResult> {
  const model = await embeddingModelId(deps.readStore);
  const memories = await deps.readStore.collection<MemoryDoc>(MEMORIES).find(input.kinId ? { kinId: input.kinId } : {}, { sort: { createdAt: 1, id: 1 } });
  const targets = input.all ? memories : memories.filter((memory) => memory.embeddingModel !== model);
  const total = targets.length;
  const written = positions();
  let success = 0;
  let failed = 0;
  options.onProgress?.(0, total);
  for (let from = 0; from < total; from += REEMBED_BATCH) {
    throwIfAborted(options.signal);
    const batch = targets.slice(from, from + REEMBED_BATCH);
    const vectors = await vectorsFor(deps, batch.map((memory) => memory.content));
    if (!vectors) {
      // No provider serves the model: nothing can be re-embedded, now or in the next batches.
      failed += total - from;
      options.onProgress?.(total, total);
      break;
    }
    await Promise.all(
      batch.map(async (memory, i) => {
        try {
          const result = await reembedMemory(deps, memory.id, stamped(metadata), { content: memory.content, embedded: vectors[i]! });
          written.track(result.position);
          if (result.embedded) success++;
          else failed++;
        } catch (error) {
          if (!isRefusal(error, 'MEMORY_NOT_FOUND')) throw error;
          failed++;
        }
      }),
    );
    options.onProgress?.(from + batch.length, total);
  }
  await deps.settle(written.last);
  return { total, success, failed };
}
