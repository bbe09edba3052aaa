import { z } from 'zod';
import { toggleReaction } from '../commands/reactions.js';
import { notFound } from '../es/errors.js';
import { REACTION_EMOJIS, reactionEmojiSchema } from '../events/reactions.js';
import { MESSAGES, type MessageDoc } from '../projections/messages.js';
import { reactionsOfMessage } from '../projections/reactions.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { defineOperation, type Operation } from './operation.js';

const messageRef = z.object({
  kinId: z.string().min(1).describe('Kin id or slug'),
  messageId: z.string().min(1),
});

const toggleInput = z
  .object({
    emoji: z.enum(REACTION_EMOJIS, { error: `Invalid emoji: use one of ${REACTION_EMOJIS.join(' ')}` }),
  })
  .meta({ id: 'ToggleReactionInput' });

const reaction = z
  .object({
    id: z.string(),
    messageId: z.string(),
    userId: z.string(),
    emoji: reactionEmojiSchema,
    createdAt: z.string(),
  })
  .meta({ id: 'Reaction' });

const toggled = z
  .object({ action: z.enum(['added', 'removed']), reactionId: z.string() })
  .meta({ id: 'ReactionToggle' });

export const messageNotFound = () => notFound('MESSAGE_NOT_FOUND', 'Message not found');

/** messages.md §4. */
export function reactionOperations(services: Services): Operation[] {
  const { readStore } = services;
  const tags = ['Reactions'];
  return [
    defineOperation({
      name: 'messageReactions',
      summary: 'List reactions on a message (an unknown message has none)',
      method: 'get',
      path: '/api/kins/:kinId/messages/:messageId/reactions',
      auth: 'user',
      tags,
      params: messageRef,
      output: z.object({ reactions: z.array(reaction) }),
      async handler({ params }) {
        const reactions = await reactionsOfMessage(readStore, params.messageId);
        return { reactions: reactions.map(({ id, messageId, userId, emoji, createdAt }) => ({ id, messageId, userId, emoji, createdAt })) };
      },
    }),
    defineOperation({
      name: 'toggleReaction',
      summary: 'Add or toggle a reaction (👍 ❤️ 😂 😮 😢 🎉): the same emoji again removes it',
      method: 'post',
      path: '/api/kins/:kinId/messages/:messageId/reactions',
      auth: 'user',
      tags,
      params: messageRef,
      body: toggleInput,
      errorCodes: { emoji: 'INVALID_EMOJI' },
      output: toggled,
      async handler({ params, body }, ctx) {
        const kin = await findKin(services, params.kinId);
        const message = await readStore.collection<MessageDoc>(MESSAGES).findOne({ id: params.messageId, kinId: kin.id });
        if (!message) throw messageNotFound();
        const input = { messageId: message.id, kinId: kin.id, userId: ctx.principal!.userId, emoji: body.emoji };
        const { action, reactionId, position } = await toggleReaction(services, input, ctx.commandMetadata());
        await services.settle(position);
        return { action, reactionId };
      },
    }),
  ];
}
