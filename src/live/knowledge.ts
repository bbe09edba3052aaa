import type { LiveMapper } from './feed.js';
import { knowledgeEventTypes, parseKnowledgeEvent } from '../events/knowledge.js';

const handled = new Set<string>(knowledgeEventTypes);

/**
 * knowledge:source-created / -updated / -deleted (platform.md §10). The payload's own `type` (the
 * source's type) is `sourceType` at the top level of /api/sse and `type` inside `data` (DECISIONS 20).
 */
export const knowledgeLiveMessages: LiveMapper = (recorded) => {
  if (!handled.has(recorded.type)) return [];
  const event = parseKnowledgeEvent(recorded);
  const { sourceId, kinId } = event.data;
  const updated = (data: Record<string, unknown>) => [{ type: 'knowledge:source-updated', kinId, data: { sourceId, ...data } }];
  switch (event.type) {
    case 'KnowledgeSourceAdded':
      return [{ type: 'knowledge:source-created', kinId, data: { sourceId, name: event.data.name, type: event.data.type } }];
    case 'KnowledgeSourceReprocessRequested':
      return updated({ status: 'pending' });
    case 'KnowledgeSourceProcessingStarted':
      return updated({ status: 'processing' });
    case 'KnowledgeSourceProcessed':
      return updated({ status: 'ready', chunkCount: event.data.chunkCount, tokenCount: event.data.tokenCount });
    case 'KnowledgeSourceFailed':
      return updated({ status: 'error', errorMessage: event.data.errorMessage });
    case 'KnowledgeSourceDeleted':
      return [{ type: 'knowledge:source-deleted', kinId, data: { sourceId } }];
    case 'KnowledgeChunksRecorded':
      return [];
  }
};
