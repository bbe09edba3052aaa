import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/** All sign-ups and deletions go to one stream: "the first user is admin" needs them all in view. */
export const USERS_STREAM = 'users-directory';

export const roleSchema = z.enum(['admin', 'member']);

export const userEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('UserSignedUp'),
    data: z.object({
      userId: z.string(),
      email: z.string(),
      name: z.string(),
      role: roleSchema,
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('UserDeleted'),
    data: z.object({ userId: z.string() }),
  }),
]);

export type UserEvent = z.infer<typeof userEventSchema>;
export const userEventTypes = ['UserSignedUp', 'UserDeleted'] as const;

export const parseUserEvent = (recorded: RecordedEvent): UserEvent =>
  userEventSchema.parse({ type: recorded.type, data: recorded.data });
