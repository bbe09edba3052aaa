import { v7 as uuidv7 } from 'uuid';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, DomainError, forbidden, notFound } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { ReadStore } from '../es/readStore.js';
import {
  parseQuickSessionEvent,
  parseQuickSessionSlotEvent,
  quickSessionSlotsStream,
  quickSessionStream,
  type CloseReason,
  type QuickSessionEvent,
  type QuickSessionSlotEvent,
} from '../events/quickSessions.js';
import { QUEUE, type QueueItemDoc } from '../projections/messages.js';
import type { TurnRunner } from '../agents/turnRunner.js';
import { runTurnCommand } from './messages.js';

const HOUR_MS = 60 * 60 * 1000;
/** messages.md §5: QUICK_SESSION_EXPIRATION_HOURS, QUICK_SESSION_MAX_PER_USER_KIN, QUICK_SESSION_RETENTION_DAYS. */
export const QUICK_SESSION_TTL_MS = 24 * HOUR_MS;
export const MAX_ACTIVE_QUICK_SESSIONS = 1;
export const QUICK_SESSION_RETENTION_MS = 7 * 24 * HOUR_MS;
export const MAX_TITLE_LENGTH = 200;
export const MAX_SUMMARY_LENGTH = 5000;
/** A slot claimed for a session that was never created (a crash between the two appends) is
 * reclaimed after this long; a younger one may belong to a creation still in progress. */
export const ORPHAN_SLOT_MS = 60_000;

// ── The session stream ────────────────────────────────────────────────────────────────────────

export type QuickSessionInfo = {
  sessionId: string;
  kinId: string;
  createdBy: string;
  title: string | null;
  createdAt: number;
  expiresAt: number;
};

export type QuickSessionState =
  | { status: 'none' }
  | { status: 'active'; session: QuickSessionInfo }
  | { status: 'closed'; session: QuickSessionInfo; closedAt: number; reason: CloseReason }
  | { status: 'purged' };

type Base = { sessionId: string; now: Date };

export type QuickSessionCommand =
  | (Base & { type: 'CreateQuickSession'; kinId: string; createdBy: string; title: string | null })
  | (Base & {
      type: 'CloseQuickSession';
      /** The user closing it (ownership is checked), or null when the platform closes it. */
      by: string | null;
      reason: CloseReason;
      saveMemory: boolean;
      memorySummary?: string;
    })
  | (Base & { type: 'PurgeQuickSession' });

export const sessionNotFound = () => notFound('SESSION_NOT_FOUND', 'Quick session not found');
export const notSessionOwner = () => forbidden('FORBIDDEN', 'You do not own this session');
export const sessionClosed = () => conflict('SESSION_CLOSED', 'This quick session is closed');
export const sessionExpired = () => conflict('SESSION_EXPIRED', 'This quick session has expired');

/** The ownership rule of every session route: unknown → 404, another user's → 403. */
export function assertSessionOwner<S extends { createdBy: string }>(session: S | null | undefined, userId: string): S {
  if (!session) throw sessionNotFound();
  if (session.createdBy !== userId) throw notSessionOwner();
  return session;
}

const infoOf = (state: QuickSessionState): QuickSessionInfo | null =>
  state.status === 'active' || state.status === 'closed' ? state.session : null;

/** A message may be sent to the caller's own session while it is open and not past its expiry. */
export function assertCanSend(state: QuickSessionState, userId: string, now: Date): QuickSessionInfo {
  const session = assertSessionOwner(infoOf(state), userId);
  // A session closed by its expiry is reported as expired: that is what happened to it.
  if (state.status === 'closed') throw state.reason === 'expired' ? sessionExpired() : sessionClosed();
  if (session.expiresAt < now.getTime()) throw sessionExpired();
  return session;
}

export function evolveQuickSession(state: QuickSessionState, event: QuickSessionEvent): QuickSessionState {
  switch (event.type) {
    case 'QuickSessionCreated': {
      const { sessionId, kinId, createdBy, title, createdAt, expiresAt } = event.data;
      return {
        status: 'active',
        session: { sessionId, kinId, createdBy, title, createdAt: Date.parse(createdAt), expiresAt: Date.parse(expiresAt) },
      };
    }
    case 'QuickSessionClosed':
      return state.status === 'active'
        ? { status: 'closed', session: state.session, closedAt: Date.parse(event.data.closedAt), reason: event.data.reason }
        : state;
    case 'QuickSessionPurged':
      return { status: 'purged' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideQuickSession(command: QuickSessionCommand, state: QuickSessionState): QuickSessionEvent[] {
  const { sessionId, now } = command;
  const at = now.toISOString();
  switch (command.type) {
    case 'CreateQuickSession': {
      if (state.status !== 'none') throw conflict('SESSION_EXISTS', 'A quick session with this id already exists');
      const { kinId, createdBy, title } = command;
      const expiresAt = new Date(now.getTime() + QUICK_SESSION_TTL_MS).toISOString();
      return [{ type: 'QuickSessionCreated', data: { sessionId, kinId, createdBy, title, createdAt: at, expiresAt } }];
    }
    case 'CloseQuickSession': {
      const session = infoOf(state);
      if (command.by === null) {
        if (!session) throw sessionNotFound();
      } else assertSessionOwner(session, command.by);
      // Closing again is a success that changes nothing, whatever the body says.
      if (state.status !== 'active') return [];
      const summary = command.memorySummary?.trim() ?? '';
      if (summary.length > MAX_SUMMARY_LENGTH) {
        throw badRequest('SUMMARY_TOO_LONG', `Memory summary must be ${MAX_SUMMARY_LENGTH} characters or less`);
      }
      if (command.saveMemory && !summary) throw badRequest('SUMMARY_REQUIRED', 'A summary is required when saving as memory');
      const data = { sessionId, kinId: state.session.kinId, closedAt: at, reason: command.reason };
      return [{ type: 'QuickSessionClosed', data: command.saveMemory ? { ...data, memorySummary: summary } : data }];
    }
    case 'PurgeQuickSession':
      if (state.status !== 'closed' || now.getTime() - state.closedAt <= QUICK_SESSION_RETENTION_MS) return [];
      return [{ type: 'QuickSessionPurged', data: { sessionId, kinId: state.session.kinId, purgedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const quickSessionDecider: Decider<QuickSessionState, QuickSessionCommand, QuickSessionEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveQuickSession,
  decide: decideQuickSession,
};

// ── The (Kin, user) slots stream ──────────────────────────────────────────────────────────────

export type SlotsState = { holders: { sessionId: string; claimedAt: number }[] };

type SlotBase = { kinId: string; userId: string; sessionId: string; now: Date };

export type SlotsCommand =
  | (SlotBase & {
      type: 'ClaimQuickSessionSlot';
      max: number;
      /** Holders found to be closed, purged or orphaned: released by the same decision. */
      releasing: string[];
    })
  | (SlotBase & { type: 'ReleaseQuickSessionSlot' });

export const tooManySessions = () =>
  conflict('MAX_QUICK_SESSIONS', 'Maximum active quick sessions reached for this Kin');

export function evolveSlots(state: SlotsState, event: QuickSessionSlotEvent): SlotsState {
  switch (event.type) {
    case 'QuickSessionSlotClaimed':
      return { holders: [...state.holders, { sessionId: event.data.sessionId, claimedAt: Date.parse(event.data.claimedAt) }] };
    case 'QuickSessionSlotReleased':
      return { holders: state.holders.filter((holder) => holder.sessionId !== event.data.sessionId) };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideSlots(command: SlotsCommand, state: SlotsState): QuickSessionSlotEvent[] {
  const { kinId, userId, sessionId } = command;
  const at = command.now.toISOString();
  const held = (id: string) => state.holders.some((holder) => holder.sessionId === id);
  if (command.type === 'ReleaseQuickSessionSlot') {
    return held(sessionId) ? [{ type: 'QuickSessionSlotReleased', data: { kinId, userId, sessionId, releasedAt: at } }] : [];
  }
  if (held(sessionId)) return [];
  const releasing = [...new Set(command.releasing)].filter(held);
  if (state.holders.length - releasing.length >= command.max) throw tooManySessions();
  return [
    ...releasing.map((id): QuickSessionSlotEvent => ({ type: 'QuickSessionSlotReleased', data: { kinId, userId, sessionId: id, releasedAt: at } })),
    { type: 'QuickSessionSlotClaimed', data: { kinId, userId, sessionId, claimedAt: at } },
  ];
}

export const slotsDecider: Decider<SlotsState, SlotsCommand, QuickSessionSlotEvent> = {
  initialState: () => ({ holders: [] }),
  evolve: evolveSlots,
  decide: decideSlots,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

export type QuickSessionDeps = {
  runCommand: RunCommand;
  eventStore: EventStore;
  readStore: ReadStore;
  turns: Pick<TurnRunner, 'stopGeneration'>;
};

const runSession = (deps: Pick<QuickSessionDeps, 'runCommand'>, command: QuickSessionCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: quickSessionStream(command.sessionId), decider: quickSessionDecider, parse: parseQuickSessionEvent, command, metadata });

const runSlots = (deps: Pick<QuickSessionDeps, 'runCommand'>, command: SlotsCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: quickSessionSlotsStream(command.kinId, command.userId), decider: slotsDecider, parse: parseQuickSessionSlotEvent, command, metadata });

const later = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** The session as its own stream tells it (the command side does not trust the read model). */
export async function loadQuickSession(deps: Pick<QuickSessionDeps, 'eventStore'>, sessionId: string): Promise<QuickSessionState> {
  const events = await deps.eventStore.readStream(quickSessionStream(sessionId));
  return events.map(parseQuickSessionEvent).reduce(evolveQuickSession, quickSessionDecider.initialState());
}

/**
 * Slot holders that no longer count: sessions closed (a crash between the close and the release),
 * purged, never created, or past their expiry — those are closed now, as the hourly cleanup would.
 */
async function staleHolders(deps: QuickSessionDeps, kinId: string, userId: string, metadata: CommandMetadata) {
  const events = await deps.eventStore.readStream(quickSessionSlotsStream(kinId, userId));
  const slots = events.map(parseQuickSessionSlotEvent).reduce(evolveSlots, slotsDecider.initialState());
  if (slots.holders.length < MAX_ACTIVE_QUICK_SESSIONS) return { releasing: [], position: null };
  const now = metadata.now.getTime();
  const releasing: string[] = [];
  let position: number | null = null;
  for (const holder of slots.holders) {
    const state = await loadQuickSession(deps, holder.sessionId);
    if (state.status === 'closed' || state.status === 'purged') releasing.push(holder.sessionId);
    else if (state.status === 'none' && now - holder.claimedAt > ORPHAN_SLOT_MS) releasing.push(holder.sessionId);
    else if (state.status === 'active' && state.session.expiresAt < now) {
      const closed = await closeQuickSession(deps, holder.sessionId, { by: null, reason: 'expired' }, metadata);
      position = later(position, closed.position);
      releasing.push(holder.sessionId);
    }
  }
  return { releasing, position };
}

export type CreateQuickSessionInput = { kinId: string; userId: string; title: string | null };

/**
 * Claims a slot of (Kin, user) — the decision that enforces the limit, with an expected revision —
 * then records the session. `metadata.now` is the creation time (expiry = now + 24 h).
 */
export async function createQuickSession(deps: QuickSessionDeps, input: CreateQuickSessionInput, metadata: CommandMetadata) {
  const { kinId, userId, title } = input;
  const sessionId = uuidv7();
  const stale = await staleHolders(deps, kinId, userId, metadata);
  const slot = { kinId, userId, sessionId, now: metadata.now };
  await runSlots(deps, { type: 'ClaimQuickSessionSlot', ...slot, max: MAX_ACTIVE_QUICK_SESSIONS, releasing: stale.releasing }, metadata);
  try {
    const result = await runSession(deps, { type: 'CreateQuickSession', sessionId, kinId, createdBy: userId, title, now: metadata.now }, metadata);
    if (result.state.status !== 'active') throw new Error('a created quick session must be active');
    return { session: result.state.session, position: later(stale.position, result.position) };
  } catch (error) {
    await runSlots(deps, { type: 'ReleaseQuickSessionSlot', ...slot }, metadata);
    throw error;
  }
}

/**
 * Stops the answer being generated in this session. The runner has one quick-session slot per
 * Kin, shared by every session of that Kin, so the generation is stopped only if the turn in
 * progress is one of this session's.
 */
export async function stopQuickSessionGeneration(deps: Pick<QuickSessionDeps, 'readStore' | 'turns'>, kinId: string, sessionId: string) {
  const processing = await deps.readStore.collection<QueueItemDoc>(QUEUE).findOne({ kinId, sessionId, status: 'processing' });
  return processing !== null && deps.turns.stopGeneration(kinId, sessionId);
}

export type CloseInput = { by: string | null; reason: CloseReason; saveMemory?: boolean; memorySummary?: string };

/**
 * Closes the session (idempotent), then winds down what it still had going: messages still
 * waiting are removed, the generation in progress is stopped, and the (Kin, user) slot is released.
 * Those steps run again on a repeated close, which is how a close cut short by a crash completes.
 */
export async function closeQuickSession(deps: QuickSessionDeps, sessionId: string, input: CloseInput, metadata: CommandMetadata) {
  const result = await runSession(
    deps,
    {
      type: 'CloseQuickSession',
      sessionId,
      by: input.by,
      reason: input.reason,
      saveMemory: input.saveMemory ?? false,
      memorySummary: input.memorySummary,
      now: metadata.now,
    },
    metadata,
  );
  let position = result.position;
  if (result.state.status !== 'closed') return { position };
  const { kinId, createdBy } = result.state.session;
  // Waiting messages first: while this session's turn holds the Kin's quick slot, none of them can start.
  const waiting = await deps.readStore.collection<QueueItemDoc>(QUEUE).find({ kinId, sessionId, status: 'pending' });
  for (const item of waiting) {
    try {
      const removed = await runTurnCommand(deps, { type: 'RemoveQueuedMessage', queueItemId: item.id, now: metadata.now }, metadata);
      position = later(position, removed.position);
    } catch (error) {
      // Started meanwhile: the turn runs to its end in the closed session.
      if (!(error instanceof DomainError)) throw error;
    }
  }
  await stopQuickSessionGeneration(deps, kinId, sessionId);
  const released = await runSlots(deps, { type: 'ReleaseQuickSessionSlot', kinId, userId: createdBy, sessionId, now: metadata.now }, metadata);
  return { position: later(position, released.position) };
}

/** Forgets a session closed for longer than the retention period (nothing happens otherwise). */
export const purgeQuickSession = async (deps: Pick<QuickSessionDeps, 'runCommand'>, sessionId: string, metadata: CommandMetadata) =>
  (await runSession(deps, { type: 'PurgeQuickSession', sessionId, now: metadata.now }, metadata)).position;
