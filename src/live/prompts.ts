import type { LiveMapper } from './feed.js';
import { parsePromptEvent, promptEventTypes } from '../events/prompts.js';

const handled: ReadonlySet<string> = new Set(promptEventTypes);

/** prompt:pending / prompt:answered (platform.md §10); a cancellation is `prompt:answered {cancelled: true}`. */
export const promptLiveMessages: LiveMapper = (recorded) => {
  if (!handled.has(recorded.type)) return [];
  const event = parsePromptEvent(recorded);
  const { promptId, kinId, taskId } = event.data;
  switch (event.type) {
    case 'PromptCreated': {
      const { promptType, question, description, options } = event.data;
      return [{ type: 'prompt:pending', kinId, data: { promptId, kinId, taskId, promptType, question, description, options } }];
    }
    case 'PromptAnswered':
      return [{ type: 'prompt:answered', kinId, data: { promptId, kinId, taskId, response: event.data.response } }];
    case 'PromptCancelled':
      return [{ type: 'prompt:answered', kinId, data: { promptId, kinId, taskId, cancelled: true } }];
  }
};
