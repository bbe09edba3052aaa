import { z } from 'zod';
import {
  checkInvitation,
  createInvitation,
  INVITATION_DEFAULT_EXPIRY_DAYS,
  revokeInvitation,
} from '../commands/invitations.js';
import { invitationSecretOwner } from '../events/invitations.js';
import { roleSchema } from '../events/users.js';
import { activeInvitationsFilter, INVITATIONS, type InvitationDoc } from '../projections/invitations.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';

const createInput = z
  .object({
    label: z.string({ error: 'label must be a string' }).trim().max(200, 'label must be at most 200 characters').nullable().optional(),
    expiresInDays: z
      .number({ error: 'expiresInDays must be a number' })
      .positive('expiresInDays must be positive')
      .max(365, 'expiresInDays must be at most 365')
      .optional()
      .describe(`Default ${INVITATION_DEFAULT_EXPIRY_DAYS}; fractions of a day are accepted`),
    role: roleSchema.optional().describe('The role the invited user receives; default member'),
  })
  .meta({ id: 'CreateInvitationInput' });

const invitationListItem = z
  .object({
    id: z.string(),
    token: z.string().describe('The first 8 characters, then "..."'),
    label: z.string().nullable(),
    role: roleSchema,
    createdBy: z.string(),
    creatorName: z.string().nullable(),
    kinId: z.string().nullable(),
    expiresAt: z.string().describe('ISO 8601'),
    usedAt: z.string().nullable(),
    usedBy: z.string().nullable(),
    usedByName: z.string().nullable(),
    createdAt: z.string().describe('ISO 8601'),
    url: z.string().nullable().describe('The invitation link while it is unused and unexpired, else null'),
  })
  .meta({ id: 'Invitation' });

const createdInvitation = z.object({
  invitation: z.object({
    id: z.string(),
    token: z.string().describe('The full token (64 hex characters)'),
    label: z.string().nullable(),
    role: roleSchema,
    url: z.string(),
    expiresAt: z.number().describe('epoch ms'),
    createdAt: z.number().describe('epoch ms'),
  }),
});

const validation = z.object({
  valid: z.boolean(),
  reason: z.enum(['NOT_FOUND', 'ALREADY_USED', 'EXPIRED']).optional(),
  label: z.string().optional(),
});

/** auth.md §5; managing invitations is for admins (DECISIONS 4), validating a token is public. */
export function invitationOperations(services: Services): Operation[] {
  const { readStore, secrets, config } = services;
  const tags = ['Invitations'];
  const inviteUrl = (token: string) => `${config.publicUrl.replace(/\/+$/, '')}/invite/${token}`;

  /** The full URL only while the invitation is active: the token is opened for that alone. */
  async function urlOf(invitation: InvitationDoc, now: Date) {
    const active = invitation.usedAt === null && Date.parse(invitation.expiresAt) > now.getTime();
    if (!active) return null;
    const token = await secrets.decrypt(invitationSecretOwner(invitation.id), invitation.tokenEncrypted);
    return token === null ? null : inviteUrl(token);
  }

  return [
    defineOperation({
      name: 'invitations',
      summary: 'List invitations, newest first (admin)',
      method: 'get',
      path: '/api/invitations',
      auth: 'admin',
      tags,
      output: z.object({ invitations: z.array(invitationListItem) }),
      async handler() {
        const now = new Date();
        const invitations = await readStore.collection<InvitationDoc>(INVITATIONS).find({}, { sort: { createdAt: -1, id: -1 } });
        const userIds = [...new Set(invitations.flatMap((i) => [i.createdBy, i.usedBy]).filter((id): id is string => id !== null))];
        const users = userIds.length ? await readStore.collection<UserDoc>(USERS).find({ id: { $in: userIds } }) : [];
        const nameOf = (id: string | null) => users.find((user) => user.id === id)?.name ?? null;
        return {
          invitations: await Promise.all(
            invitations.map(async (invitation) => ({
              id: invitation.id,
              token: `${invitation.tokenPrefix}...`,
              label: invitation.label,
              role: invitation.role,
              createdBy: invitation.createdBy,
              creatorName: nameOf(invitation.createdBy),
              kinId: invitation.kinId,
              expiresAt: invitation.expiresAt,
              usedAt: invitation.usedAt,
              usedBy: invitation.usedBy,
              usedByName: nameOf(invitation.usedBy),
              createdAt: invitation.createdAt,
              url: await urlOf(invitation, now),
            })),
          ),
        };
      },
    }),
    defineOperation({
      name: 'createInvitation',
      summary: 'Create an invitation (admin)',
      method: 'post',
      path: '/api/invitations',
      auth: 'admin',
      tags,
      status: 201,
      body: createInput.optional(),
      output: createdInvitation,
      async handler({ body }, ctx) {
        const input = {
          label: body?.label || null,
          expiresInDays: body?.expiresInDays ?? INVITATION_DEFAULT_EXPIRY_DAYS,
          role: body?.role ?? 'member',
        };
        const created = await createInvitation(services, input, ctx.commandMetadata());
        await services.settle(created.position);
        return {
          invitation: {
            id: created.invitationId,
            token: created.token,
            label: input.label,
            role: input.role,
            url: inviteUrl(created.token),
            expiresAt: created.expiresAt.getTime(),
            createdAt: created.createdAt.getTime(),
          },
        };
      },
    }),
    defineOperation({
      name: 'deleteInvitation',
      summary: 'Revoke an unused invitation (admin)',
      method: 'delete',
      path: '/api/invitations/:id',
      auth: 'admin',
      tags,
      params: z.object({ id: z.string().min(1) }),
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const result = await revokeInvitation(services, params.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
    defineOperation({
      name: 'validateInvitation',
      summary: 'Check an invitation token (public; always 200)',
      method: 'get',
      path: '/api/invitations/:token/validate',
      auth: 'public',
      tags,
      params: z.object({ token: z.string() }),
      output: validation,
      async handler({ params }) {
        const check = await checkInvitation(services.eventStore, params.token, new Date());
        if (!check.valid) return { valid: false, reason: check.reason };
        return check.label === null ? { valid: true } : { valid: true, label: check.label };
      },
    }),
  ];
}
