import { describe, expect, it } from 'vitest';
import {
  decideInvitation,
  evolveInvitation,
  initialInvitationState,
  invitationProblem,
  type InvitationCommand,
} from '../../src/commands/invitations.js';
import { invitationIdOf, type InvitationEvent } from '../../src/events/invitations.js';
import type { DomainError } from '../../src/es/errors.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const later = (ms: number) => new Date(now.getTime() + ms);
const invitationId = 'inv-1';
const created: InvitationEvent = {
  type: 'InvitationCreated',
  data: {
    invitationId,
    tokenEncrypted: 'sealed',
    tokenPrefix: 'abcdef01',
    label: 'Grace',
    role: 'member',
    createdBy: 'u1',
    kinId: null,
    expiresAt: later(60_000).toISOString(),
    createdAt: now.toISOString(),
  },
};
const consumed: InvitationEvent = { type: 'InvitationConsumed', data: { invitationId, userId: 'u2', usedAt: now.toISOString() } };

function given(events: InvitationEvent[]) {
  const state = events.reduce(evolveInvitation, initialInvitationState());
  return {
    state,
    when: (command: InvitationCommand) => {
      try {
        return decideInvitation(command, state);
      } catch (error) {
        return { code: (error as DomainError).code, message: (error as DomainError).message };
      }
    },
  };
}

const consume = (userId: string, at = now): InvitationCommand => ({ type: 'ConsumeInvitation', invitationId, userId, now: at });

describe('invitations decider', () => {
  it('is consumed once, by the first user who presents it', () => {
    expect(given([created]).when(consume('u2'))).toEqual([consumed]);
    expect(given([created, consumed]).when(consume('u3'))).toEqual({ code: 'INVALID_INVITATION', message: 'Invalid invitation: ALREADY_USED' });
  });

  it('changes nothing when the same user presents it again', () => {
    expect(given([created, consumed]).when(consume('u2'))).toEqual([]);
  });

  it('refuses an expired or unknown invitation with the reason in the message', () => {
    expect(given([created]).when(consume('u2', later(60_001)))).toEqual({ code: 'INVALID_INVITATION', message: 'Invalid invitation: EXPIRED' });
    expect(given([]).when(consume('u2'))).toEqual({ code: 'INVALID_INVITATION', message: 'Invalid invitation: NOT_FOUND' });
  });

  it('checks existence, then use, then expiry', () => {
    expect(invitationProblem(given([]).state, now)).toBe('NOT_FOUND');
    expect(invitationProblem(given([created, consumed]).state, later(120_000))).toBe('ALREADY_USED');
    expect(invitationProblem(given([created]).state, later(120_000))).toBe('EXPIRED');
    expect(invitationProblem(given([created]).state, now)).toBeNull();
  });

  it('revokes an unused invitation, refuses a used one with ALREADY_USED and an unknown one with NOT_FOUND', () => {
    const revoke: InvitationCommand = { type: 'RevokeInvitation', invitationId, now };
    const revoked = given([created]).when(revoke) as InvitationEvent[];
    expect(revoked).toEqual([{ type: 'InvitationRevoked', data: { invitationId, revokedAt: now.toISOString() } }]);
    expect(given([created, consumed]).when(revoke)).toMatchObject({ code: 'ALREADY_USED' });
    expect(given([created, ...revoked]).when(revoke)).toMatchObject({ code: 'NOT_FOUND' });
    expect(given([created, ...revoked]).when(consume('u2'))).toMatchObject({ message: 'Invalid invitation: NOT_FOUND' });
  });
});

describe('invitation ids', () => {
  it('derive from the token as a UUID, the same every time and different per token', () => {
    const token = 'a'.repeat(64);
    expect(invitationIdOf(token)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(invitationIdOf(token)).toBe(invitationIdOf(token));
    expect(invitationIdOf('b'.repeat(64))).not.toBe(invitationIdOf(token));
  });
});
