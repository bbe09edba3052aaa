import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { parseReactionEvent, reactionsStream, type ReactionEmoji, type ReactionEvent } from '../events/reactions.js';

/** The reactions a message has: one per (user, emoji), by that pair. */
export type ReactionsState = { reactions: ReadonlyMap<string, string> };

export type ReactionCommand = {
  type: 'ToggleReaction';
  messageId: string;
  kinId: string;
  userId: string;
  emoji: ReactionEmoji;
  /** The id a new reaction gets; unused when the toggle removes one. */
  reactionId: string;
  now: Date;
};

const keyOf = (userId: string, emoji: string) => JSON.stringify([userId, emoji]);

export const initialReactionsState = (): ReactionsState => ({ reactions: new Map() });

export function evolveReactions(state: ReactionsState, event: ReactionEvent): ReactionsState {
  const reactions = new Map(state.reactions);
  const key = keyOf(event.data.userId, event.data.emoji);
  switch (event.type) {
    case 'ReactionAdded':
      reactions.set(key, event.data.reactionId);
      return { reactions };
    case 'ReactionRemoved':
      reactions.delete(key);
      return { reactions };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** messages.md §4: the caller's reaction with that emoji is removed when present, else added. */
export function decideReactions(command: ReactionCommand, state: ReactionsState): ReactionEvent[] {
  const { messageId, kinId, userId, emoji } = command;
  const at = command.now.toISOString();
  const existing = state.reactions.get(keyOf(userId, emoji));
  return existing
    ? [{ type: 'ReactionRemoved', data: { reactionId: existing, messageId, kinId, userId, emoji, at } }]
    : [{ type: 'ReactionAdded', data: { reactionId: command.reactionId, messageId, kinId, userId, emoji, at } }];
}

export const reactionsDecider: Decider<ReactionsState, ReactionCommand, ReactionEvent> = {
  initialState: initialReactionsState,
  evolve: evolveReactions,
  decide: decideReactions,
};

export type ToggleResult = { action: 'added' | 'removed'; reactionId: string; position: number | null };

/** The caller is checked by the edge (message of that Kin exists, emoji in the preset). */
export async function toggleReaction(
  deps: { runCommand: RunCommand },
  input: { messageId: string; kinId: string; userId: string; emoji: ReactionEmoji },
  metadata: CommandMetadata,
): Promise<ToggleResult> {
  const command: ReactionCommand = { type: 'ToggleReaction', ...input, reactionId: uuidv7(), now: metadata.now };
  const result = await deps.runCommand({
    stream: reactionsStream(input.messageId),
    decider: reactionsDecider,
    parse: parseReactionEvent,
    command,
    metadata,
  });
  const event = result.events[0]!;
  return {
    action: event.type === 'ReactionAdded' ? 'added' : 'removed',
    reactionId: event.data.reactionId,
    position: result.position,
  };
}
