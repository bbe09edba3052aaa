import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** One stream per message: toggling decides on every reaction the message already has. */
export const reactionsStream = (messageId: string) => `reactions-${messageId}`;

/** messages.md §4: the preset, matched exactly (❤️ is U+2764 U+FE0F). */
export const REACTION_EMOJIS = ['👍', '❤️', '😂', '😮', '😢', '🎉'] as const;
export type ReactionEmoji = (typeof REACTION_EMOJIS)[number];
export const reactionEmojiSchema = z.enum(REACTION_EMOJIS);

const reactionData = z.object({
  reactionId: z.string(),
  messageId: z.string(),
  kinId: z.string(),
  userId: z.string(),
  emoji: reactionEmojiSchema,
  at: z.string(),
});

export const reactionEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ReactionAdded'), data: reactionData }),
  z.object({ type: z.literal('ReactionRemoved'), data: reactionData }),
]);

export type ReactionEvent = z.infer<typeof reactionEventSchema>;
export const reactionEventTypes = ['ReactionAdded', 'ReactionRemoved'] as const;

export const parseReactionEvent = (recorded: RecordedEvent): ReactionEvent =>
  reactionEventSchema.parse({ type: recorded.type, data: recorded.data });
