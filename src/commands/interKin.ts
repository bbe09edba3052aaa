import { v7 as uuidv7 } from 'uuid';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import { kinMessageStream, parseInterKinEvent, type InterKinEvent, type KinMessageType } from '../events/interKin.js';
import { KIN_MESSAGES, type KinMessageDoc } from '../projections/interKin.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { runTaskCommand, type TaskServices } from './tasks.js';

type Sent = { fromKinId: string; toKinId: string; fromTaskId: string | null; messageType: KinMessageType };
export type KinMessageState = { status: 'none' } | { status: 'sent' | 'replied'; message: Sent };

type Base = { messageId: string; now: Date };
export type KinMessageCommand =
  | (Base & { type: 'SendKinMessage'; fromKinId: string; toKinId: string; fromTaskId: string | null; messageType: KinMessageType; content: string })
  | (Base & { type: 'ReplyToKinMessage'; fromKinId: string; content: string });

export function evolveKinMessage(state: KinMessageState, event: InterKinEvent): KinMessageState {
  switch (event.type) {
    case 'KinMessageSent': {
      const { fromKinId, toKinId, fromTaskId, messageType } = event.data;
      return { status: 'sent', message: { fromKinId, toKinId, fromTaskId, messageType } };
    }
    case 'KinMessageReplied':
      return state.status === 'none' ? state : { ...state, status: 'replied' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const requestNotFound = () => notFound('REQUEST_NOT_FOUND', 'Original request not found — cannot correlate reply');

/**
 * A request gets at most one reply, from its addressee only. The reply itself cannot be replied to
 * (it is no request), and the turn that reads it runs without the inter-Kin tools: no ping-pong.
 */
export function decideKinMessage(command: KinMessageCommand, state: KinMessageState): InterKinEvent[] {
  const at = command.now.toISOString();
  const { messageId } = command;
  switch (command.type) {
    case 'SendKinMessage': {
      if (state.status !== 'none') throw conflict('MESSAGE_EXISTS', 'A message with this id already exists');
      const { fromKinId, toKinId, fromTaskId, messageType, content } = command;
      return [{ type: 'KinMessageSent', data: { messageId, fromKinId, toKinId, fromTaskId, messageType, content, sentAt: at } }];
    }
    case 'ReplyToKinMessage': {
      if (state.status === 'none') throw requestNotFound();
      const { message } = state;
      if (message.messageType !== 'request') throw badRequest('NOT_A_REQUEST', 'That message was informational: it does not expect a reply');
      if (message.toKinId !== command.fromKinId) throw requestNotFound();
      if (state.status === 'replied') throw conflict('ALREADY_REPLIED', 'This request was already answered');
      const data = { messageId, fromKinId: command.fromKinId, toKinId: message.fromKinId, toTaskId: message.fromTaskId, content: command.content, repliedAt: at };
      return [{ type: 'KinMessageReplied', data }];
    }
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const kinMessageDecider: Decider<KinMessageState, KinMessageCommand, InterKinEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveKinMessage,
  decide: decideKinMessage,
};

const runKinMessageCommand = (services: TaskServices, command: KinMessageCommand, metadata: CommandMetadata) =>
  services.runCommand({ stream: kinMessageStream(command.messageId), decider: kinMessageDecider, parse: parseInterKinEvent, command, metadata });

export type SendKinMessageInput = {
  fromKinId: string;
  /** The addressee's id or slug. */
  to: string;
  fromTaskId: string | null;
  messageType: KinMessageType;
  content: string;
};

const RATE_WINDOW_MS = 60_000;

/**
 * send_message: at most `interKinRatePerMinute` messages a minute from one Kin to another (counted
 * from the recorded messages, so a restart does not reset it). A request sent from a task puts the
 * task in awaiting_kin_response first (which enforces the per-task limit), so a reply always finds
 * it waiting; the reactor delivers the message.
 */
export async function sendKinMessage(services: TaskServices, input: SendKinMessageInput, metadata: CommandMetadata) {
  const kins = services.readStore.collection<KinDoc>(KINS);
  const target = await kins.findOne({ $or: [{ id: input.to }, { slug: input.to }] });
  if (!target) throw notFound('KIN_NOT_FOUND', `Kin "${input.to}" not found`);
  if (target.id === input.fromKinId) throw badRequest('SELF_MESSAGE', 'Cannot send a message to yourself');
  const limit = services.config.tasks.interKinRatePerMinute;
  const since = new Date(metadata.now.getTime() - RATE_WINDOW_MS).toISOString();
  const recent = await services.readStore
    .collection<KinMessageDoc>(KIN_MESSAGES)
    .count({ fromKinId: input.fromKinId, toKinId: target.id, sentAt: { $gt: since } });
  if (recent >= limit) {
    throw new DomainError(429, 'RATE_LIMITED', `Rate limit exceeded: max ${limit} messages/minute to this Kin`, undefined, { 'Retry-After': '60' });
  }
  const messageId = uuidv7();
  if (input.fromTaskId && input.messageType === 'request') {
    const limitPerTask = services.config.tasks.maxInterKinRequests;
    const awaiting = await runTaskCommand(
      services,
      { type: 'AwaitInput', taskId: input.fromTaskId, requestId: messageId, kind: 'kin', question: input.content, limit: limitPerTask, now: metadata.now },
      metadata,
    );
    await services.settle(awaiting.position);
  }
  const sent = await runKinMessageCommand(
    services,
    { type: 'SendKinMessage', messageId, fromKinId: input.fromKinId, toKinId: target.id, fromTaskId: input.fromTaskId, messageType: input.messageType, content: input.content, now: metadata.now },
    metadata,
  );
  await services.settle(sent.position);
  return { messageId, requestId: input.messageType === 'request' ? messageId : null, toKinId: target.id };
}

/** reply: answers a request addressed to this Kin, found by its correlation id. */
export async function replyToKinMessage(services: TaskServices, input: { fromKinId: string; requestId: string; content: string }, metadata: CommandMetadata) {
  const replied = await runKinMessageCommand(
    services,
    { type: 'ReplyToKinMessage', messageId: input.requestId, fromKinId: input.fromKinId, content: input.content, now: metadata.now },
    metadata,
  );
  await services.settle(replied.position);
  return replied;
}
