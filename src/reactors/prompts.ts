import { v5 as uuidv5 } from 'uuid';
import { PRIORITY, runTurnCommand } from '../commands/messages.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { Reactor } from '../es/reactors.js';
import { parsePromptEvent } from '../events/prompts.js';

/** Namespace of the queue item ids derived from prompt ids (so a redelivery queues nothing new). */
const ANSWER_NAMESPACE = 'a4d1c0de-7c1e-4b5a-9f00-000000000001';

/**
 * A human's answer to a Kin's prompt goes on the Kin's queue as a message from that human, so the
 * conversation continues with it, even across a restart between the answer and the queueing.
 */
export function promptAnswerReactor(deps: {
  runCommand: RunCommand;
  settle: (position: number | null) => Promise<void>;
  afterQueued: () => void;
}): Reactor {
  return {
    name: 'prompt-answers-to-messages',
    handles: ['PromptAnswered'],
    async react(recorded) {
      const event = parsePromptEvent(recorded);
      if (event.type !== 'PromptAnswered' || event.data.taskId) return;
      const { promptId, kinId, responseText } = event.data;
      const answeredBy = recorded.metadata.actor;
      const result = await runTurnCommand(
        deps,
        {
          type: 'QueueMessage',
          queueItemId: uuidv5(`prompt-answer:${promptId}`, ANSWER_NAMESPACE),
          kinId,
          sessionId: null,
          content: responseText,
          fileIds: [],
          sourceType: answeredBy.kind === 'user' || answeredBy.kind === 'apiKey' ? 'user' : 'system',
          sourceId: answeredBy.id,
          priority: PRIORITY.promptAnswer,
          now: new Date(recorded.metadata.occurredAt),
        },
        { actor: { kind: 'system', id: 'prompt-answers' }, correlationId: recorded.metadata.correlationId, causationId: recorded.id, now: new Date() },
      );
      await deps.settle(result.position);
      deps.afterQueued();
    },
  };
}
