import { createMemory, deleteMemory } from '../commands/memories.js';
import type { CommandMetadata } from '../es/decider.js';
import { memoryCategorySchema } from '../events/memories.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';
import { embeddingModelId } from './embeddings.js';
import { ask, importanceOf, jsonObjectIn, maintenanceModel, textOf } from './memoryLlm.js';
import type { ResolvedLanguageModel } from './providers.js';
import { consolidationClusters, mergedGeneration, mergedImportance, mergedMemoryId, type ClusterCandidate } from './memoryUpkeep.js';
import { isRefusal, positions, stamped, throwIfAborted, type Progress, type UpkeepDeps } from './memoryUpkeepDeps.js';

/**
 * Consolidation of one Kin's memories (memory-knowledge.md §3): near-duplicates are merged by the
 * maintenance model into one memory that replaces them.
 *
 * Safe to run again, and after a crash: a merged memory's id derives from its sources' ids, so
 * the same merge never makes two memories; a run first finishes merges that were cut short (the
 * merged memory exists, some sources were not deleted yet). A merged memory that was since deleted
 * (by a user) is not made again: its sources stay.
 */

export const MERGE_INSTRUCTIONS = [
  "You consolidate the long-term memories of an AI agent. The memories below look alike.",
  'First check that they really are about the same thing. If they are not, answer exactly {"abort": true}.',
  'Otherwise merge them into one standalone memory that preserves every detail of each; when they contradict each other, keep the most specific or the most recent version.',
  'Answer with one JSON object only:',
  '{"content": string, "category": "fact" | "preference" | "decision" | "knowledge", "subject": string | null, "importance": number from 1 to 10, at least the highest importance given}',
].join('\n');

const describe = (memory: MemoryDoc, n: number) =>
  `${n}. [${memory.category}] ${memory.content} (subject: ${memory.subject ?? 'none'}; importance: ${memory.importance ?? 'unscored'}; recorded: ${memory.createdAt})`;

export type ConsolidationOptions = { signal?: AbortSignal; onProgress?: Progress };

/** Deletes the sources of merges that a crash interrupted; returns how many. */
async function finishInterruptedMerges(deps: UpkeepDeps, kinId: string, metadata: CommandMetadata, track: (p: number | null) => void) {
  const memories = deps.readStore.collection<MemoryDoc>(MEMORIES);
  const merged = await memories.find({ kinId, consolidationGeneration: { $gt: 0 } });
  const sourceIds = [...new Set(merged.flatMap((memory) => memory.consolidatedFromIds ?? []))];
  if (sourceIds.length === 0) return 0;
  const leftovers = await memories.find({ kinId, id: { $in: sourceIds } });
  let removed = 0;
  for (const source of leftovers) {
    if (await deleteSource(deps, source, metadata, track)) removed++;
  }
  return removed;
}

async function deleteSource(deps: UpkeepDeps, source: MemoryDoc, metadata: CommandMetadata, track: (p: number | null) => void) {
  try {
    track((await deleteMemory(deps, { memoryId: source.id, kinId: source.kinId }, stamped(metadata))).position);
    return true;
  } catch (error) {
    if (isRefusal(error, 'MEMORY_NOT_FOUND')) return false;
    throw error;
  }
}

/** The memories consolidation may merge: vectors of the current model, below the last generation. */
async function candidates(deps: UpkeepDeps, kinId: string): Promise<{ docs: Map<string, MemoryDoc>; items: ClusterCandidate[] }> {
  const model = await embeddingModelId(deps.readStore);
  const eligible = await deps.readStore
    .collection<MemoryDoc>(MEMORIES)
    .find({ kinId, embeddingModel: model, consolidationGeneration: { $lt: deps.config.memory.consolidationMaxGeneration } }, { sort: { createdAt: 1, id: 1 } });
  const index = deps.readStore.searchIndex(MEMORIES);
  const items: ClusterCandidate[] = [];
  for (const memory of eligible) {
    const vector = (await index.get(memory.id))?.vector;
    if (vector) items.push({ id: memory.id, subject: memory.subject, importance: memory.importance, vector });
  }
  return { docs: new Map(eligible.map((memory) => [memory.id, memory])), items };
}

/** Runs consolidation for one Kin; `removed` is the net number of memories that went away. */
export async function consolidateKinMemories(
  deps: UpkeepDeps,
  kinId: string,
  metadata: CommandMetadata,
  options: ConsolidationOptions = {},
): Promise<{ removed: number }> {
  const written = positions();
  const track = written.track;
  let removed = await finishInterruptedMerges(deps, kinId, metadata, track);
  await deps.settle(written.last);

  const { docs, items } = await candidates(deps, kinId);
  const model = items.length >= 2 ? await maintenanceModel(deps) : null;
  const clusters = model ? consolidationClusters(items, { similarity: deps.config.memory.consolidationSimilarity }) : [];
  options.onProgress?.(0, clusters.length);

  for (const [done, cluster] of clusters.entries()) {
    throwIfAborted(options.signal);
    const sources = cluster.map((id) => docs.get(id)!);
    removed += await merge(deps, kinId, sources, model!, metadata, track, options.signal);
    options.onProgress?.(done + 1, clusters.length);
  }
  await deps.settle(written.last);
  return { removed };
}

async function merge(
  deps: UpkeepDeps,
  kinId: string,
  sources: MemoryDoc[],
  model: ResolvedLanguageModel,
  metadata: CommandMetadata,
  track: (p: number | null) => void,
  signal: AbortSignal | undefined,
): Promise<number> {
  // A source changed or deleted since the cluster was formed: the cluster no longer stands.
  const current = await deps.readStore.collection<MemoryDoc>(MEMORIES).find({ id: { $in: sources.map((s) => s.id) } });
  if (current.length !== sources.length || current.some((doc) => doc.content !== sources.find((s) => s.id === doc.id)?.content)) return 0;

  let answer: Record<string, unknown> | null;
  try {
    answer = jsonObjectIn(await ask(model, MERGE_INSTRUCTIONS, sources.map((memory, i) => describe(memory, i + 1)).join('\n'), signal));
  } catch (error) {
    throwIfAborted(signal);
    deps.log.warn({ err: error, kinId }, 'a consolidation merge failed; the memories stay as they are');
    return 0;
  }
  const content = textOf(answer?.content);
  if (!answer || answer.abort === true || !content) return 0;

  const first = sources[0]!;
  const category = memoryCategorySchema.safeParse(answer.category);
  const ids = sources.map((memory) => memory.id);
  try {
    const created = await createMemory(
      deps,
      {
        memoryId: mergedMemoryId(ids),
        kinId,
        content,
        category: category.success ? category.data : first.category,
        subject: typeof answer.subject === 'string' && answer.subject.trim() ? answer.subject.trim() : first.subject,
        // Shared only if every source was: merging must not publish what one of them kept private.
        scope: sources.every((memory) => memory.scope === 'shared') ? 'shared' : 'private',
        sourceChannel: 'automatic',
        importance: mergedImportance(importanceOf(answer.importance), sources.map((memory) => memory.importance)),
        consolidationGeneration: mergedGeneration(
          sources.map((memory) => memory.consolidationGeneration),
          deps.config.memory.consolidationMaxGeneration,
        ),
        consolidatedFromIds: ids,
      },
      stamped(metadata),
    );
    track(created.position);
  } catch (error) {
    // Made by an earlier run and deleted since: not made again, and its sources are kept.
    if (isRefusal(error, 'MEMORY_EXISTS', 'KIN_NOT_FOUND')) return 0;
    throw error;
  }
  let deleted = 0;
  for (const source of sources) if (await deleteSource(deps, source, metadata, track)) deleted++;
  return deleted - 1;
}
