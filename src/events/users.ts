import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * Who the users are (sign-ups, completed profiles, deletions) goes to one stream: "the first user
 * is admin" and "an admin exists, so an invitation is needed" need them all in view.
 */
export const USERS_STREAM = 'users-directory';

/** A user's own edits (profile fields, orderings, avatar) go to the user's stream: no contention. */
export const userStream = (userId: string) => `user-${userId}`;

export const roleSchema = z.enum(['admin', 'member']);
export type Role = z.infer<typeof roleSchema>;

export const LANGUAGES = ['en', 'fr', 'de'] as const;

export const profileSchema = z.object({
  firstName: z.string(),
  lastName: z.string(),
  pseudonym: z.string(),
  language: z.string(),
});
export type Profile = z.infer<typeof profileSchema>;

/** DECISIONS 4: a profile derived from the sign-up name (pseudonym = name). */
export function profileFromName(name: string): Profile {
  const [firstName = name, ...rest] = name.trim().split(/\s+/);
  return { firstName, lastName: rest.join(' '), pseudonym: name, language: 'en' };
}

export const avatarSchema = z.object({ hash: z.string(), ext: z.string(), contentType: z.string() });
export type UserAvatar = z.infer<typeof avatarSchema>;

export const profileChangesSchema = z.object({
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  pseudonym: z.string().optional(),
  language: z.string().optional(),
  kinOrder: z.array(z.string()).optional(),
  cronOrder: z.array(z.string()).optional(),
});
export type ProfileChanges = z.infer<typeof profileChangesSchema>;

export const userEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('UserSignedUp'),
    data: z.object({
      userId: z.string(),
      email: z.string(),
      name: z.string(),
      /** The role the profile gives; meaningless while `profile` is null. */
      role: roleSchema,
      /** null: an account that must still complete onboarding (POST /api/onboarding/profile). */
      profile: profileSchema.nullable(),
      /** The invitation consumed by this sign-up, if any. */
      invitationId: z.string().nullable(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('UserProfileCompleted'),
    data: profileSchema.extend({
      userId: z.string(),
      role: roleSchema,
      invitationId: z.string().nullable(),
      completedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('UserProfileUpdated'),
    data: z.object({ userId: z.string(), changes: profileChangesSchema, updatedAt: z.string() }),
  }),
  z.object({
    type: z.literal('UserAvatarChanged'),
    data: z.object({ userId: z.string(), avatar: avatarSchema, updatedAt: z.string() }),
  }),
  z.object({
    type: z.literal('UserDeleted'),
    data: z.object({ userId: z.string() }),
  }),
]);

export type UserEvent = z.infer<typeof userEventSchema>;
export const userEventTypes = ['UserSignedUp', 'UserProfileCompleted', 'UserProfileUpdated', 'UserAvatarChanged', 'UserDeleted'] as const;

/**
 * Upcasting: sign-ups recorded before onboarding existed carry neither `profile` nor
 * `invitationId`; their profile was derived from the name, as DECISIONS 4 says.
 */
function upcast(recorded: RecordedEvent): unknown {
  if (recorded.type !== 'UserSignedUp') return recorded.data;
  const data = recorded.data as Record<string, unknown>;
  if ('profile' in data) return data;
  return { ...data, profile: profileFromName(String(data.name ?? '')), invitationId: null };
}

export const parseUserEvent = (recorded: RecordedEvent): UserEvent =>
  userEventSchema.parse({ type: recorded.type, data: upcast(recorded) });
