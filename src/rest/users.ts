import { z } from 'zod';
import { deleteUser } from '../commands/users.js';
import { notFound } from '../es/errors.js';
import { USERS, type UserDoc } from '../projections/users.js';
import type { Services } from '../services.js';
import { defineOperation, type Operation } from './operation.js';

/** Until profiles exist (invitations issue), a user's profile is derived from the sign-up name. */
function profileOf(user: UserDoc) {
  const [firstName = user.name, ...rest] = user.name.trim().split(/\s+/);
  return { firstName, lastName: rest.join(' '), pseudonym: user.name, language: 'en' };
}

const me = z
  .object({
    id: z.string(),
    email: z.string(),
    firstName: z.string(),
    lastName: z.string(),
    pseudonym: z.string(),
    language: z.string(),
    role: z.enum(['admin', 'member']),
    avatarUrl: z.string().nullable(),
    kinOrder: z.array(z.string()).nullable(),
    cronOrder: z.array(z.string()).nullable(),
    createdAt: z.number().describe('epoch ms'),
  })
  .meta({ id: 'Me' });

const userListItem = me
  .omit({ kinOrder: true, cronOrder: true })
  .extend({ name: z.string(), createdAt: z.string().describe('ISO 8601') })
  .meta({ id: 'User' });

export function userOperations(services: Services): Operation[] {
  const users = () => services.readStore.collection<UserDoc>(USERS);
  const tags = ['Users'];
  return [
    defineOperation({
      name: 'me',
      summary: 'Get current user info',
      method: 'get',
      path: '/api/me',
      auth: 'user',
      tags,
      output: me,
      async handler(_input, ctx) {
        const user = await users().get(ctx.principal!.userId);
        if (!user) throw notFound('USER_NOT_FOUND', 'User not found');
        return {
          id: user.id,
          email: user.email,
          ...profileOf(user),
          role: user.role,
          avatarUrl: null,
          kinOrder: null,
          cronOrder: null,
          createdAt: Date.parse(user.createdAt),
        };
      },
    }),
    defineOperation({
      name: 'users',
      summary: 'List users',
      method: 'get',
      path: '/api/users',
      auth: 'user',
      tags,
      output: z.object({ users: z.array(userListItem) }),
      async handler() {
        const all = await users().find({}, { sort: { createdAt: 1 } });
        return {
          users: all.map((user) => ({
            id: user.id,
            name: user.name,
            email: user.email,
            ...profileOf(user),
            role: user.role,
            avatarUrl: null,
            createdAt: user.createdAt,
          })),
        };
      },
    }),
    defineOperation({
      name: 'deleteUser',
      summary: 'Delete a user (admin)',
      method: 'delete',
      path: '/api/users/:id',
      auth: 'admin',
      tags,
      params: z.object({ id: z.string().min(1) }),
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        await deleteUser(services, params.id, ctx.commandMetadata());
        return { success: true as const };
      },
    }),
  ];
}
