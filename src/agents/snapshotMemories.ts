import { v5 as uuidv5 } from 'uuid';
import type { Boundary } from '../commands/compacting.js';
import {
  createMemory,
  deleteMemory,
  recordSnapshotMemories,
  snapshotMemoriesRecorded,
  updateMemory,
  type SnapshotMemoryCounts,
} from '../commands/memories.js';
import type { CommandMetadata } from '../es/decider.js';
import { memoryCategorySchema, memoryStream, type MemoryChanges } from '../events/memories.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { MEMORIES, type MemoryDoc } from '../projections/memories.js';
import { summarizedMessages, transcriptLines } from './compacting.js';
import { embedText } from './embeddings.js';
import { consolidateKinMemories } from './memoryConsolidation.js';
import { ask, extractionModel, importanceOf, jsonArrayIn, textOf } from './memoryLlm.js';
import { recallScope } from './memorySearch.js';
import { isStale, NEAR_DUPLICATE_DISTANCE, NEAR_DUPLICATE_NEIGHBOURS, recalibratedImportance } from './memoryUpkeep.js';
import { isRefusal, positions, stamped, throwIfAborted, type UpkeepDeps } from './memoryUpkeepDeps.js';

/**
 * What a compaction does for the Kin's memories once its snapshot is taken (messages.md §7 step 5,
 * memory-knowledge.md §3): extract memories from the summarized messages, consolidate, recalibrate
 * importance, prune stale memories, and record the counts (SnapshotMemoriesProcessed, reported as
 * compacting:done).
 *
 * Run by the compactor right after the snapshot, and by a reactor on SnapshotTaken, so that a
 * crash in between or midway is made good at the next start. The two never run it at once (the
 * Kin's lock, src/jobs/memoryJobs.ts) and a recorded snapshot is not run again. A run cut short
 * and run again creates nothing twice: an extracted memory's id derives from (snapshot, item).
 */

/** The SnapshotTaken facts this needs (`takenAt`: the snapshot's createdAt). */
export type SnapshotMemoriesRef = { snapshotId: string; kinId: string; upTo: Boundary; messageCount: number; takenAt: string };

/** The Kin's memories the model sees (newest change first), so that it updates rather than repeats. */
export const EXISTING_MEMORIES_SHOWN = 100;

export const EXTRACTION_INSTRUCTIONS = [
  'You keep the long-term memory of an AI agent (a Kin). Below are its existing memories and messages of its conversation that are being summarized.',
  'Extract only durable facts worth remembering for months: identity, lasting preferences, life changes, possessions, habits, skills, relationships.',
  'Skip one-off events, temporary states, reasons and explanations, trivia and general knowledge. Most conversations hold few or none.',
  'Each memory is one standalone statement that makes sense without the conversation.',
  'When a message changes what an existing memory says, update that memory instead of adding one.',
  'Answer with a JSON array only ([] when there is nothing to keep), each item:',
  '{"action": "add" | "update", "content": string, "category": "fact" | "preference" | "decision" | "knowledge", "subject": string | null, "importance": 1-10, "sourceContext": "1-2 sentences on where it came from", "updateIndex": <number of the existing memory, for "update">}',
].join('\n');

/** Namespace of extracted memory ids: (snapshot, item) always names the same memory. */
const EXTRACTED_MEMORY_NAMESPACE = '0c6f9a2d-41b7-4e58-8d3a-2b9e7c4f1a60';
export const extractedMemoryId = (snapshotId: string, item: number) => uuidv5(`${snapshotId}:${item}`, EXTRACTED_MEMORY_NAMESPACE);

type Item = Record<string, unknown>;

/** Among the 3 nearest vectors of the Kin's and shared memories, one closer than 0.15 (cosine distance). */
async function hasNearDuplicate(deps: UpkeepDeps, kinId: string, embedded: { embedding: number[]; embeddingModel: string }) {
  const hits = await deps.readStore.searchIndex(MEMORIES).vectorSearch(embedded.embedding, {
    filter: { $and: [recallScope(kinId), { embeddingModel: embedded.embeddingModel }] },
    limit: NEAR_DUPLICATE_NEIGHBOURS,
  });
  return hits.some((hit) => 1 - hit.similarity < NEAR_DUPLICATE_DISTANCE);
}

/** Applies the model's items; returns how many memories they added or updated. */
async function applyItems(deps: UpkeepDeps, snapshot: SnapshotMemoriesRef, existing: MemoryDoc[], items: unknown[], metadata: CommandMetadata) {
  const { kinId, snapshotId } = snapshot;
  let count = 0;
  for (const [i, raw] of items.entries()) {
    if (typeof raw !== 'object' || raw === null) continue;
    const item = raw as Item;
    const content = textOf(item.content);
    const category = memoryCategorySchema.safeParse(item.category);
    if (!content || !category.success) continue;
    const fields = { content, category: category.data, importance: importanceOf(item.importance) };
    const subject = textOf(item.subject);
    const sourceContext = textOf(item.sourceContext);

    const index = typeof item.updateIndex === 'number' && Number.isInteger(item.updateIndex) ? item.updateIndex : null;
    const target = item.action === 'update' && index !== null ? existing[index - 1] : undefined;
    if (target) {
      // What the model left out (null or absent) is kept as it is.
      const changes: MemoryChanges = { content, category: category.data };
      if (fields.importance !== null) changes.importance = fields.importance;
      if (subject) changes.subject = subject;
      if (sourceContext) changes.sourceContext = sourceContext;
      try {
        const updated = await updateMemory(deps, { memoryId: target.id, kinId, changes }, stamped(metadata));
        await deps.settle(updated.position);
        count++;
        continue;
      } catch (error) {
        // Deleted meanwhile: what it says is added as a new memory, as an invalid index would be.
        if (!isRefusal(error, 'MEMORY_NOT_FOUND')) throw error;
      }
    }

    const memoryId = extractedMemoryId(snapshotId, i);
    // Made by an earlier run for this snapshot (and perhaps merged or deleted since): counted, not made again.
    if ((await deps.eventStore.readStream(memoryStream(memoryId), { limit: 1 })).length > 0) {
      count++;
      continue;
    }
    const embedded = await embedText(deps, content);
    if (embedded.embedding && embedded.embeddingModel && (await hasNearDuplicate(deps, kinId, { embedding: embedded.embedding, embeddingModel: embedded.embeddingModel }))) {
      continue;
    }
    try {
      const created = await createMemory(
        deps,
        { memoryId, kinId, ...fields, subject, sourceContext, scope: 'private', sourceChannel: 'automatic', sourceMessageId: snapshot.upTo.id, embedded },
        stamped(metadata),
      );
      // The next item's duplicate check must see this one.
      await deps.settle(created.position);
      count++;
    } catch (error) {
      if (isRefusal(error, 'MEMORY_EXISTS')) count++;
      else throw error;
    }
  }
  return count;
}

/** Extraction: asks the extraction model about the summarized messages; a model failure extracts nothing. */
export async function extractMemories(deps: UpkeepDeps, snapshot: SnapshotMemoriesRef, kin: KinDoc, metadata: CommandMetadata, signal?: AbortSignal): Promise<number> {
  const messages = await summarizedMessages(deps.readStore, kin.id, snapshot.upTo, snapshot.messageCount);
  if (messages.length === 0) return 0;
  const model = await extractionModel(deps, kin);
  if (!model) return 0;
  const existing = await deps.readStore
    .collection<MemoryDoc>(MEMORIES)
    .find({ kinId: kin.id }, { sort: { updatedAt: -1, id: -1 }, limit: EXISTING_MEMORIES_SHOWN });
  const known = existing.map((memory, i) => `${i + 1}. [${memory.category}] ${memory.content}${memory.subject ? ` (subject: ${memory.subject})` : ''}`);
  const prompt = [
    `## Existing memories\n${known.length ? known.join('\n') : '(none)'}`,
    `## Messages\n${(await transcriptLines(deps.readStore, kin, messages)).join('\n')}`,
  ].join('\n\n');
  let items: unknown[] | null = null;
  try {
    items = jsonArrayIn(await ask(model, EXTRACTION_INSTRUCTIONS, prompt, signal));
  } catch (error) {
    throwIfAborted(signal);
    deps.log.warn({ err: error, kinId: kin.id }, 'memory extraction failed; nothing extracted from this compaction');
  }
  return items ? applyItems(deps, snapshot, existing, items, metadata) : 0;
}

/**
 * Importance recalibration for the Kin's memories. A memory changed since the snapshot was taken
 * is left alone: it was recalibrated by an earlier run for this snapshot (a redelivery must not
 * add the step twice), or its importance was just set.
 */
export async function recalibrateImportance(deps: UpkeepDeps, kinId: string, snapshotTakenAt: string, metadata: CommandMetadata): Promise<number> {
  const now = new Date();
  const scored = await deps.readStore.collection<MemoryDoc>(MEMORIES).find({ kinId, importance: { $ne: null }, updatedAt: { $lt: snapshotTakenAt } });
  const written = positions();
  let changed = 0;
  for (const memory of scored) {
    const importance = recalibratedImportance(memory, now);
    if (importance === null) continue;
    try {
      const result = await updateMemory(deps, { memoryId: memory.id, kinId, changes: { importance } }, stamped(metadata));
      written.track(result.position);
      if (result.changed) changed++;
    } catch (error) {
      if (!isRefusal(error, 'MEMORY_NOT_FOUND')) throw error;
    }
  }
  await deps.settle(written.last);
  return changed;
}

/** Stale pruning: deletes the Kin's memories never retrieved and of little importance for long. */
export async function pruneStaleMemories(deps: UpkeepDeps, kinId: string, metadata: CommandMetadata): Promise<number> {
  const now = new Date();
  const candidates = await deps.readStore.collection<MemoryDoc>(MEMORIES).find({ kinId, retrievalCount: 0, importance: { $lte: 2 } });
  const written = positions();
  let pruned = 0;
  for (const memory of candidates.filter((doc) => isStale(doc, now))) {
    try {
      written.track((await deleteMemory(deps, { memoryId: memory.id, kinId }, stamped(metadata))).position);
      pruned++;
    } catch (error) {
      if (!isRefusal(error, 'MEMORY_NOT_FOUND')) throw error;
    }
  }
  await deps.settle(written.last);
  return pruned;
}

/**
 * The whole step for one snapshot, once: the recorded counts when it already ran, null when the
 * Kin is gone. The caller holds the Kin's lock.
 */
export async function processSnapshotMemories(
  deps: UpkeepDeps,
  snapshot: SnapshotMemoriesRef,
  metadata: CommandMetadata,
  signal?: AbortSignal,
): Promise<SnapshotMemoryCounts | null> {
  const recorded = await snapshotMemoriesRecorded(deps, snapshot.snapshotId);
  if (recorded) return recorded;
  const kin = await deps.readStore.collection<KinDoc>(KINS).get(snapshot.kinId);
  if (!kin) return null;
  try {
    const memoriesExtracted = await extractMemories(deps, snapshot, kin, metadata, signal);
    throwIfAborted(signal);
    const { removed: memoriesConsolidated } = await consolidateKinMemories(deps, kin.id, metadata, { signal });
    await recalibrateImportance(deps, kin.id, snapshot.takenAt, metadata);
    const memoriesPruned = await pruneStaleMemories(deps, kin.id, metadata);
    const counts = { memoriesExtracted, memoriesConsolidated, memoriesPruned };
    const result = await recordSnapshotMemories(deps, { snapshotId: snapshot.snapshotId, kinId: kin.id, counts }, stamped(metadata));
    await deps.settle(result.position);
    return result.counts;
  } catch (error) {
    // The Kin was deleted meanwhile: its memories went with it, there is nothing to record.
    if (isRefusal(error, 'KIN_NOT_FOUND')) return null;
    throw error;
  }
}
