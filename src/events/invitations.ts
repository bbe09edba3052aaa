import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';
import { roleSchema } from './users.js';

/**
 * An invitation's id is derived from its token (a UUID-shaped SHA-256 of it), so the token alone
 * finds its stream: sign-up and onboarding fold the stream itself, with no read model in between,
 * and consume it with an expected revision. The id reveals nothing of the token.
 */
export function invitationIdOf(token: string): string {
  const hex = createHash('sha256').update(`kinbot-invitation:${token}`).digest('hex');
  // RFC 9562 layout: version 8 (custom), variant 10.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export const invitationStream = (invitationId: string) => `invitation-${invitationId}`;

/** The owner of the token's data key: shredded once the invitation is used or revoked. */
export const invitationSecretOwner = (invitationId: string) => `invitation-${invitationId}`;

/** 32 random bytes as 64 hex characters (auth.md §5). */
export const INVITATION_TOKEN = /^[0-9a-f]{64}$/;

export const invitationEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('InvitationCreated'),
    data: z.object({
      invitationId: z.string(),
      /** The token sealed with the invitation's data key: the list shows its URL while it is active. */
      tokenEncrypted: z.string(),
      tokenPrefix: z.string(),
      label: z.string().nullable(),
      role: roleSchema,
      createdBy: z.string(),
      kinId: z.string().nullable(),
      expiresAt: z.string(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('InvitationConsumed'),
    data: z.object({ invitationId: z.string(), userId: z.string(), usedAt: z.string() }),
  }),
  z.object({
    type: z.literal('InvitationRevoked'),
    data: z.object({ invitationId: z.string(), revokedAt: z.string() }),
  }),
]);

export type InvitationEvent = z.infer<typeof invitationEventSchema>;
export const invitationEventTypes = ['InvitationCreated', 'InvitationConsumed', 'InvitationRevoked'] as const;

export const parseInvitationEvent = (recorded: RecordedEvent): InvitationEvent =>
  invitationEventSchema.parse({ type: recorded.type, data: recorded.data });
