import type { Reactor } from '../es/reactors.js';
import { parseKnowledgeEvent } from '../events/knowledge.js';
import { processKnowledgeRequest, type IngestDeps } from '../agents/knowledgeIngest.js';

/**
 * Processes a knowledge source after it is added or a reprocess is requested, in the background
 * and at least once: a redelivered request that was already processed (or superseded) is skipped,
 * and one cut short by a crash or a shutdown is processed again at the next start. `deps` is read
 * when an event arrives (the services are assembled after the reactors).
 */
export function knowledgeIngestReactor(deps: () => IngestDeps): Reactor {
  return {
    name: 'knowledge-ingestion',
    handles: ['KnowledgeSourceAdded', 'KnowledgeSourceReprocessRequested'],
    async react(recorded, signal) {
      const event = parseKnowledgeEvent(recorded);
      if (event.type !== 'KnowledgeSourceAdded' && event.type !== 'KnowledgeSourceReprocessRequested') return;
      const { sourceId, requestId } = event.data;
      await processKnowledgeRequest(deps(), { sourceId, requestId, causationId: recorded.id }, signal);
    },
  };
}
