import { v5 as uuidv5 } from 'uuid';
import { depositMessage, PRIORITY, runTurnCommand } from '../commands/messages.js';
import { runTaskCommand } from '../commands/tasks.js';
import type { CommandMetadata } from '../es/decider.js';
import { DomainError } from '../es/errors.js';
import type { Reactor } from '../es/reactors.js';
import { interKinEventTypes, parseInterKinEvent } from '../events/interKin.js';
import type { Services } from '../services.js';

const NAMESPACE = '5b8d2c71-0e4f-4d3a-9c2b-7e6f1a0b9d42';
const derivedId = (key: string) => uuidv5(key, NAMESPACE);

/**
 * Delivers inter-Kin messages: a request is queued to its addressee (a turn, which answers with
 * `reply` and the request_id); an inform is deposited without a turn; a reply goes back to the
 * requester: to the task that asked, which resumes, or to the Kin's conversation, as a turn run
 * without the inter-Kin tools (metadata.inReplyTo, see src/agents/taskTurn.ts) so it cannot be
 * answered back.
 */
export function interKinReactor(services: () => Services): Reactor {
  return {
    name: 'inter-kin',
    handles: interKinEventTypes,
    async react(recorded) {
      const s = services();
      const metadata: CommandMetadata = { actor: { kind: 'system', id: 'inter-kin' }, correlationId: recorded.metadata.correlationId, causationId: recorded.id, now: new Date() };
      const queue = async (queueItemId: string, kinId: string, content: string, sourceId: string, extra: Record<string, unknown>) => {
        const command = { type: 'QueueMessage' as const, queueItemId, kinId, sessionId: null, content, fileIds: [], sourceType: 'kin' as const, sourceId, priority: PRIORITY.kin, metadata: extra, now: metadata.now };
        await s.settle((await runTurnCommand(s, command, metadata)).position);
        s.turns.kick();
      };
      const event = parseInterKinEvent(recorded);
      switch (event.type) {
        case 'KinMessageSent': {
          const { messageId, fromKinId, toKinId, messageType, content } = event.data;
          if (messageType === 'request') {
            const text = `${content}\n\n[request_id: ${messageId} — answer with the reply tool]`;
            return queue(derivedId(`deliver:${messageId}`), toKinId, text, fromKinId, { requestId: messageId });
          }
          const deposited = await depositMessage(s, { messageId: derivedId(`deliver:${messageId}`), kinId: toKinId, content, sourceType: 'kin', sourceId: fromKinId }, metadata);
          return s.settle(deposited.position);
        }
        case 'KinMessageReplied': {
          const { messageId, fromKinId, toKinId, toTaskId, content } = event.data;
          const text = `${content}\n\n(reply to your request ${messageId})`;
          if (!toTaskId) return queue(derivedId(`reply:${messageId}`), toKinId, text, fromKinId, { inReplyTo: messageId });
          try {
            const answer = { taskId: toTaskId, requestId: messageId, content: text, sourceType: 'kin' as const, sourceId: fromKinId, inReplyTo: messageId };
            await s.settle((await runTaskCommand(s, { type: 'ProvideInput', ...answer, now: metadata.now }, metadata)).position);
          } catch (error) {
            // The task ended or stopped waiting (timeout): the reply has nobody to resume.
            if (!(error instanceof DomainError)) throw error;
          }
          return;
        }
      }
    },
  };
}
