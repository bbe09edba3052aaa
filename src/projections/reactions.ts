import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import { parseReactionEvent, reactionEventTypes, type ReactionEmoji } from '../events/reactions.js';

export const REACTIONS = 'reactions';

export type ReactionDoc = Doc & {
  id: string;
  messageId: string;
  kinId: string;
  userId: string;
  emoji: ReactionEmoji;
  createdAt: string;
};

export const reactionsProjection: Projection = {
  name: 'reactions',
  version: 1,
  handles: reactionEventTypes,
  collections: [REACTIONS],
  async setup(store) {
    await store.collection(REACTIONS).ensureIndex({ fields: { messageId: 1, createdAt: 1 } });
  },
  async apply(recorded, store) {
    const reactions = store.collection<ReactionDoc>(REACTIONS);
    const event = parseReactionEvent(recorded);
    const { reactionId, messageId, kinId, userId, emoji, at } = event.data;
    switch (event.type) {
      case 'ReactionAdded':
        await reactions.replace({ id: reactionId, messageId, kinId, userId, emoji, createdAt: at });
        return;
      case 'ReactionRemoved':
        await reactions.delete({ id: reactionId });
        return;
    }
  },
};

/** A message's reactions as a message history shows them inline (messages.md §2). */
export type InlineReaction = { id: string; userId: string; emoji: ReactionEmoji; createdAt: string };

/** The reactions of a message, oldest first, as GET …/reactions lists them. */
export const reactionsOfMessage = (readStore: ReadStore, messageId: string): Promise<ReactionDoc[]> =>
  readStore.collection<ReactionDoc>(REACTIONS).find({ messageId }, { sort: { createdAt: 1, id: 1 } });

/**
 * The reactions of many messages in one query, oldest first; every requested id is a key (with
 * an empty list when it has none).
 */
export async function reactionsOf(readStore: ReadStore, messageIds: readonly string[]): Promise<Map<string, InlineReaction[]>> {
  const byMessage = new Map<string, InlineReaction[]>(messageIds.map((id) => [id, []]));
  if (messageIds.length === 0) return byMessage;
  const docs = await readStore
    .collection<ReactionDoc>(REACTIONS)
    .find({ messageId: { $in: [...new Set(messageIds)] } }, { sort: { createdAt: 1, id: 1 } });
  for (const { id, messageId, userId, emoji, createdAt } of docs) byMessage.get(messageId)?.push({ id, userId, emoji, createdAt });
  return byMessage;
}
