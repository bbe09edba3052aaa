import { randomBytes } from 'node:crypto';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { fold } from '../es/decider.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { EventStore } from '../es/eventStore.js';
import type { ReadStore } from '../es/readStore.js';
import {
  invitationIdOf,
  invitationSecretOwner,
  invitationStream,
  parseInvitationEvent,
  type InvitationEvent,
} from '../events/invitations.js';
import type { Role } from '../events/users.js';
import type { Secrets } from '../lib/secrets.js';
import { activeInvitationsFilter, INVITATIONS, type InvitationDoc } from '../projections/invitations.js';

export const INVITATION_DEFAULT_EXPIRY_DAYS = 7;
export const INVITATION_MAX_ACTIVE = 50;

export type InvitationProblem = 'NOT_FOUND' | 'ALREADY_USED' | 'EXPIRED';

type Invitation = { role: Role; label: string | null; expiresAt: string };

export type InvitationState =
  | { status: 'none' }
  | { status: 'active'; invitation: Invitation }
  | { status: 'used'; invitation: Invitation; usedBy: string }
  | { status: 'revoked' };

export type InvitationCommand =
  | {
      type: 'CreateInvitation';
      invitationId: string;
      tokenEncrypted: string;
      tokenPrefix: string;
      label: string | null;
      role: Role;
      createdBy: string;
      kinId: string | null;
      expiresAt: Date;
      now: Date;
    }
  | { type: 'ConsumeInvitation'; invitationId: string; userId: string; now: Date }
  | { type: 'RevokeInvitation'; invitationId: string; now: Date };

export const initialInvitationState = (): InvitationState => ({ status: 'none' });

export function evolveInvitation(state: InvitationState, event: InvitationEvent): InvitationState {
  switch (event.type) {
    case 'InvitationCreated': {
      const { role, label, expiresAt } = event.data;
      return { status: 'active', invitation: { role, label, expiresAt } };
    }
    case 'InvitationConsumed':
      return state.status === 'active' ? { status: 'used', invitation: state.invitation, usedBy: event.data.userId } : state;
    case 'InvitationRevoked':
      return { status: 'revoked' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** Why a token cannot be used now, in the order auth.md §5 checks: exists → used → expired. */
export function invitationProblem(state: InvitationState, now: Date): InvitationProblem | null {
  if (state.status === 'none' || state.status === 'revoked') return 'NOT_FOUND';
  if (state.status === 'used') return 'ALREADY_USED';
  return Date.parse(state.invitation.expiresAt) < now.getTime() ? 'EXPIRED' : null;
}

export const invalidInvitation = (reason: InvitationProblem) =>
  new DomainError(400, 'INVALID_INVITATION', `Invalid invitation: ${reason}`, { reason });

export function decideInvitation(command: InvitationCommand, state: InvitationState): InvitationEvent[] {
  const { invitationId } = command;
  const at = command.now.toISOString();
  switch (command.type) {
    case 'CreateInvitation': {
      if (state.status !== 'none') throw conflict('INVITATION_EXISTS', 'An invitation with this token already exists');
      const { tokenEncrypted, tokenPrefix, label, role, createdBy, kinId } = command;
      const expiresAt = command.expiresAt.toISOString();
      return [{ type: 'InvitationCreated', data: { invitationId, tokenEncrypted, tokenPrefix, label, role, createdBy, kinId, expiresAt, createdAt: at } }];
    }
    case 'ConsumeInvitation': {
      // The same user presenting the token again (a retried request) changes nothing.
      if (state.status === 'used' && state.usedBy === command.userId) return [];
      const problem = invitationProblem(state, command.now);
      if (problem) throw invalidInvitation(problem);
      return [{ type: 'InvitationConsumed', data: { invitationId, userId: command.userId, usedAt: at } }];
    }
    case 'RevokeInvitation':
      if (state.status === 'none' || state.status === 'revoked') throw notFound('NOT_FOUND', 'Invitation not found');
      if (state.status === 'used') throw conflict('ALREADY_USED', 'Invitation has already been used');
      return [{ type: 'InvitationRevoked', data: { invitationId, revokedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const invitationDecider: Decider<InvitationState, InvitationCommand, InvitationEvent> = {
  initialState: initialInvitationState,
  evolve: evolveInvitation,
  decide: decideInvitation,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

type RunDeps = { runCommand: RunCommand };

const runInvitation = (deps: RunDeps, command: InvitationCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: invitationStream(command.invitationId), decider: invitationDecider, parse: parseInvitationEvent, command, metadata });

/** The invitation a token names, folded from its own stream (no read model: sign-up has none at hand). */
export async function loadInvitation(eventStore: EventStore, token: string) {
  const invitationId = invitationIdOf(token);
  const history = await eventStore.readStream(invitationStream(invitationId));
  return { invitationId, state: fold(invitationDecider, history.map(parseInvitationEvent)) };
}

/** GET /api/invitations/:token/validate and the sign-up hook: whether the token can be used now. */
export async function checkInvitation(eventStore: EventStore, token: string, now: Date) {
  const { invitationId, state } = await loadInvitation(eventStore, token);
  const problem = invitationProblem(state, now);
  if (problem || state.status !== 'active') return { valid: false as const, reason: problem ?? 'NOT_FOUND' };
  return { valid: true as const, invitationId, label: state.invitation.label, role: state.invitation.role };
}

/**
 * Marks the invitation used by `userId`, once: two concurrent uses append against the same
 * revision, and the second one, decided again, finds it used.
 */
export async function consumeInvitation(deps: RunDeps, token: string, userId: string, metadata: CommandMetadata) {
  const invitationId = invitationIdOf(token);
  const result = await runInvitation(deps, { type: 'ConsumeInvitation', invitationId, userId, now: metadata.now }, metadata);
  if (result.state.status !== 'used') throw invalidInvitation('NOT_FOUND');
  return { invitationId, role: result.state.invitation.role, position: result.position };
}

export type CreateInvitationInput = { label: string | null; expiresInDays: number; role: Role; kinId?: string | null };

type CreateDeps = RunDeps & { readStore: ReadStore; secrets: Secrets };

export async function createInvitation(deps: CreateDeps, input: CreateInvitationInput, metadata: CommandMetadata) {
  // The limit is checked on the read model: two creations racing at the 50th may both pass.
  const active = await deps.readStore.collection<InvitationDoc>(INVITATIONS).count(activeInvitationsFilter(metadata.now));
  if (active >= INVITATION_MAX_ACTIVE) throw badRequest('INVITATION_LIMIT', `Max active invitations (${INVITATION_MAX_ACTIVE}) reached`);
  const token = randomBytes(32).toString('hex');
  const invitationId = invitationIdOf(token);
  const tokenEncrypted = await deps.secrets.encrypt(invitationSecretOwner(invitationId), token);
  const expiresAt = new Date(metadata.now.getTime() + input.expiresInDays * 24 * 60 * 60 * 1000);
  const command = {
    type: 'CreateInvitation' as const,
    invitationId,
    tokenEncrypted,
    tokenPrefix: token.slice(0, 8),
    label: input.label,
    role: input.role,
    createdBy: metadata.actor.id,
    kinId: input.kinId ?? null,
    expiresAt,
    now: metadata.now,
  };
  const result = await runInvitation(deps, command, metadata);
  return { invitationId, token, expiresAt, createdAt: metadata.now, position: result.position };
}

/** Revocation also destroys the token's data key: a revoked token can never be read back. */
export async function revokeInvitation(deps: RunDeps & { secrets: Secrets }, invitationId: string, metadata: CommandMetadata) {
  const result = await runInvitation(deps, { type: 'RevokeInvitation', invitationId, now: metadata.now }, metadata);
  await deps.secrets.shred(invitationSecretOwner(invitationId));
  return result;
}
