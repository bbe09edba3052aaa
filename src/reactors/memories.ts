import { v5 as uuidv5 } from 'uuid';
import { createMemory, type MemoryDeps } from '../commands/memories.js';
import { DomainError } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { Reactor } from '../es/reactors.js';
import { memoryStream } from '../events/memories.js';
import { parseQuickSessionEvent, quickSessionStream } from '../events/quickSessions.js';
import { parseCompactionEvent } from '../events/compacting.js';
import type { MemoryJobs } from '../jobs/memoryJobs.js';

/** Namespace of the memory ids derived from quick session ids (so a redelivery creates nothing new). */
const QUICK_SESSION_MEMORY_NAMESPACE = 'a4d1c0de-7c1e-4b5a-9f00-000000000002';

/**
 * A quick session closed with `saveMemory` becomes a memory of its Kin (messages.md §5):
 * `{category: 'knowledge', subject: title ?? 'Quick session', sourceChannel: 'explicit', scope:
 * 'private'}`. Sessions closed before memories existed are turned into memories on the first run.
 * `services` is read lazily, so that the reactor can be listed before the services are assembled.
 */
export function quickSessionMemoryReactor(services: () => MemoryDeps & { eventStore: EventStore }): Reactor {
  return {
    name: 'quick-session-memories',
    handles: ['QuickSessionClosed'],
    async react(recorded) {
      const deps = services();
      const event = parseQuickSessionEvent(recorded);
      if (event.type !== 'QuickSessionClosed' || !event.data.memorySummary) return;
      const { sessionId, kinId, memorySummary } = event.data;
      const memoryId = uuidv5(`quick-session-memory:${sessionId}`, QUICK_SESSION_MEMORY_NAMESPACE);
      // Already made (and perhaps deleted since): a redelivery must not bring it back.
      if ((await deps.eventStore.readStream(memoryStream(memoryId), { limit: 1 })).length > 0) return;
      const [created] = await deps.eventStore.readStream(quickSessionStream(sessionId), { limit: 1 });
      const title = created ? parseQuickSessionEvent(created) : null;
      const subject = (title?.type === 'QuickSessionCreated' ? title.data.title : null) ?? 'Quick session';
      try {
        await createMemory(
          deps,
          { memoryId, kinId, content: memorySummary, category: 'knowledge', subject, scope: 'private', sourceChannel: 'explicit' },
          { actor: recorded.metadata.actor, correlationId: recorded.metadata.correlationId, causationId: recorded.id, now: new Date(recorded.metadata.occurredAt) },
        );
      } catch (error) {
        // The Kin is gone (its memories with it), or a concurrent delivery made the memory.
        if (error instanceof DomainError && (error.code === 'KIN_NOT_FOUND' || error.code === 'MEMORY_EXISTS')) return;
        throw error;
      }
    },
  };
}

/**
 * The memory step of a compaction (messages.md §7 step 5) for every snapshot taken: the compactor
 * normally does it before this reactor is delivered the snapshot, which then finds it recorded; a
 * crash between the snapshot and the record (or during the step) is made good here at the next
 * start. Snapshots taken before memories existed get their memories extracted on the first run.
 */
export function snapshotMemoriesReactor(services: () => { memoryJobs: MemoryJobs }): Reactor {
  return {
    name: 'snapshot-memories',
    handles: ['SnapshotTaken'],
    async react(recorded, signal) {
      if (!recorded.stream.startsWith('compaction-')) return;
      const event = parseCompactionEvent(recorded);
      if (event.type !== 'SnapshotTaken') return;
      const { snapshotId, kinId, upToMessageId, upToCreatedAt, messageCount, createdAt } = event.data;
      await services().memoryJobs.processSnapshot(
        { snapshotId, kinId, upTo: { createdAt: upToCreatedAt, id: upToMessageId }, messageCount, takenAt: createdAt },
        { actor: recorded.metadata.actor, correlationId: recorded.metadata.correlationId, causationId: recorded.id, now: new Date() },
        signal,
      );
    },
  };
}
