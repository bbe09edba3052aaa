import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseKinEvent } from '../events/kins.js';
import { parsePromptEvent, promptEventTypes, type PromptOption, type PromptResponse, type PromptType } from '../events/prompts.js';

export const PROMPTS = 'prompts';

export type PromptDoc = Doc & {
  id: string;
  kinId: string;
  taskId: string | null;
  messageId: string | null;
  promptType: PromptType;
  question: string;
  description: string | null;
  options: PromptOption[];
  response: PromptResponse | null;
  status: 'pending' | 'answered' | 'cancelled';
  /** Epoch ms, as the API gives them. */
  createdAt: number;
  respondedAt: number | null;
};

export const promptsProjection: Projection = {
  name: 'prompts',
  version: 1,
  // A deleted Kin takes its prompts with it: they are neither listed nor answerable.
  handles: [...promptEventTypes, 'KinDeleted'],
  collections: [PROMPTS],
  async setup(store) {
    await store.collection(PROMPTS).ensureIndex({ fields: { kinId: 1, status: 1, createdAt: 1 } });
  },
  async apply(recorded, store) {
    const prompts = store.collection<PromptDoc>(PROMPTS);
    if (recorded.type === 'KinDeleted') {
      await prompts.delete({ kinId: parseKinEvent(recorded).data.kinId });
      return;
    }
    const event = parsePromptEvent(recorded);
    switch (event.type) {
      case 'PromptCreated': {
        const { promptId, createdAt, ...fields } = event.data;
        await prompts.replace({ id: promptId, ...fields, response: null, status: 'pending', createdAt: Date.parse(createdAt), respondedAt: null });
        return;
      }
      case 'PromptAnswered':
        await prompts.update(
          { id: event.data.promptId },
          { $set: { status: 'answered', response: event.data.response, respondedAt: Date.parse(event.data.answeredAt) } },
        );
        return;
      case 'PromptCancelled':
        await prompts.update({ id: event.data.promptId }, { $set: { status: 'cancelled' } });
        return;
    }
  },
};
