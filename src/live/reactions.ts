import type { LiveMapper } from './feed.js';
import { parseReactionEvent, reactionEventTypes } from '../events/reactions.js';
import { USERS, type UserDoc } from '../projections/users.js';

const handled: readonly string[] = reactionEventTypes;

/** reaction:added / reaction:removed {messageId, userId, userName, emoji, reactionId}, kinId on the envelope. */
export const reactionLiveMessages: LiveMapper = async (recorded, readStore) => {
  if (!handled.includes(recorded.type)) return [];
  const event = parseReactionEvent(recorded);
  const { messageId, kinId, userId, emoji, reactionId } = event.data;
  const user = await readStore.collection<UserDoc>(USERS).get(userId);
  const type = event.type === 'ReactionAdded' ? 'reaction:added' : 'reaction:removed';
  return [{ type, kinId, data: { messageId, userId, userName: user?.name ?? null, emoji, reactionId } }];
};
