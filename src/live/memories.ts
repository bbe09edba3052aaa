import type { LiveMapper } from './feed.js';
import { memoryEventTypes, parseMemoryEvent } from '../events/memories.js';

const handled: ReadonlySet<string> = new Set(memoryEventTypes);

/**
 * memory:created / memory:updated / memory:deleted with the payloads of platform.md §10, from the
 * events alone. A re-embedding changes nothing a client shows, so it is not reported.
 */
export const memoryLiveMessages: LiveMapper = (recorded) => {
  if (!handled.has(recorded.type)) return [];
  const event = parseMemoryEvent(recorded);
  const { memoryId, kinId } = event.data;
  switch (event.type) {
    case 'MemoryCreated': {
      const { category, content, subject, scope } = event.data;
      return [{ type: 'memory:created', kinId, data: { memoryId, kinId, category, content, subject, scope } }];
    }
    case 'MemoryUpdated': {
      // A silent change (the importance backfill) leaves updatedAt alone and is not announced.
      if (event.data.updatedAt === null) return [];
      // Only the changed keys among these three (memory-knowledge.md §2).
      const { content, category, subject } = event.data.changes;
      const changed = Object.fromEntries(Object.entries({ content, category, subject }).filter(([, value]) => value !== undefined));
      return [{ type: 'memory:updated', kinId, data: { memoryId, kinId, ...changed } }];
    }
    case 'MemoryDeleted':
      return [{ type: 'memory:deleted', kinId, data: { memoryId, kinId } }];
    case 'MemoryReembedded':
      return [];
  }
};
