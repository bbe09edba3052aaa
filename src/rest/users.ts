import { z } from 'zod';
import { deleteUser, setUserAvatar, updateProfile } from '../commands/users.js';
import { badRequest, DomainError, notFound } from '../es/errors.js';
import { LANGUAGES, type ProfileChanges } from '../events/users.js';
import { avatarUrlOf, KINS, kinsProjection, type KinDoc } from '../projections/kins.js';
import { userAvatarUrlOf, USERS, usersProjection, type UserDoc } from '../projections/users.js';
import type { Services } from '../services.js';
import { avatarUploadOpenApi, receiveAvatar } from './multipart.js';
import { defineOperation, defineRawOperation, type Operation } from './operation.js';
import { listCache } from './listCache.js';

const MAX_ORDER_ITEMS = 200;
const PSEUDONYM = /^[a-zA-Z0-9_-]+$/;

// ── Profile rules (auth.md §2, §3): every violation is reported, joined with "; " ──────────────

type Problems = string[];

function checkName(problems: Problems, label: string, value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null) {
    if (required) problems.push(`${label} is required`);
    return undefined;
  }
  if (typeof value !== 'string') return void problems.push(`${label} must be a string`);
  const trimmed = value.trim();
  if (required && !trimmed) problems.push(`${label} is required`);
  else if (trimmed.length > 100) problems.push(`${label} must be at most 100 characters`);
  return trimmed;
}

function checkPseudonym(problems: Problems, value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null) {
    if (required) problems.push('Pseudonym is required');
    return undefined;
  }
  if (typeof value !== 'string') return void problems.push('Pseudonym must be a string');
  const trimmed = value.trim();
  if (required && (trimmed.length < 2 || trimmed.length > 30)) problems.push('Pseudonym must be 2-30 characters');
  else if (trimmed.length > 30) problems.push('Pseudonym must be at most 30 characters');
  if (trimmed && !PSEUDONYM.test(trimmed)) problems.push('Pseudonym may only contain letters, digits, _ and -');
  return trimmed;
}

function checkLanguage(problems: Problems, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !(LANGUAGES as readonly string[]).includes(value)) {
    return void problems.push(`Language must be one of: ${LANGUAGES.join(', ')}`);
  }
  return value;
}

function checkOrder(problems: Problems, label: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) return void problems.push(`${label} must be an array of strings`);
  if (value.length > MAX_ORDER_ITEMS) problems.push(`${label} must have at most ${MAX_ORDER_ITEMS} items`);
  return value as string[];
}

const failIf = (problems: Problems) => {
  if (problems.length) throw badRequest('VALIDATION_ERROR', problems.join('; '));
};

/** POST /api/onboarding/profile: first and last name, pseudonym required; language defaults to en. */
export function checkNewProfile(body: Record<string, unknown>) {
  const problems: Problems = [];
  const firstName = checkName(problems, 'First name', body.firstName, true);
  const lastName = checkName(problems, 'Last name', body.lastName, true);
  const pseudonym = checkPseudonym(problems, body.pseudonym, true);
  const language = checkLanguage(problems, body.language);
  failIf(problems);
  return { firstName: firstName!, lastName: lastName!, pseudonym: pseudonym!, language: language ?? 'en' };
}

/** PATCH /api/me: every field optional. */
function checkProfileChanges(body: Record<string, unknown>): ProfileChanges {
  const problems: Problems = [];
  const changes: ProfileChanges = {
    firstName: checkName(problems, 'First name', body.firstName, false),
    lastName: checkName(problems, 'Last name', body.lastName, false),
    pseudonym: checkPseudonym(problems, body.pseudonym, false),
    language: checkLanguage(problems, body.language),
    kinOrder: checkOrder(problems, 'kinOrder', body.kinOrder),
    cronOrder: checkOrder(problems, 'cronOrder', body.cronOrder),
  };
  failIf(problems);
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
}

// ── Shapes ────────────────────────────────────────────────────────────────────────────────────

const me = z
  .object({
    id: z.string(),
    email: z.string(),
    firstName: z.string().nullable().describe('null until onboarding is complete'),
    lastName: z.string().nullable(),
    pseudonym: z.string().nullable(),
    language: z.string().nullable(),
    role: z.enum(['admin', 'member']).nullable(),
    avatarUrl: z.string().nullable(),
    kinOrder: z.array(z.string()).nullable(),
    cronOrder: z.array(z.string()).nullable(),
    createdAt: z.number().describe('epoch ms'),
  })
  .meta({ id: 'Me' });

const profileUpdate = z
  .object({
    firstName: z.string().optional().describe('trimmed, at most 100 characters'),
    lastName: z.string().optional().describe('trimmed, at most 100 characters'),
    pseudonym: z.string().optional().describe('at most 30 characters of letters, digits, _ and -'),
    language: z.string().optional().describe(`one of ${LANGUAGES.join(', ')}`),
    kinOrder: z.array(z.string()).optional().describe('Kin ids, at most 200'),
    cronOrder: z.array(z.string()).optional().describe('Cron ids, at most 200'),
  })
  .meta({ id: 'UpdateMeInput' });

const userListItem = z
  .object({
    id: z.string(),
    name: z.string(),
    email: z.string(),
    firstName: z.string(),
    lastName: z.string(),
    pseudonym: z.string(),
    language: z.string(),
    role: z.enum(['admin', 'member']),
    avatarUrl: z.string().nullable(),
    createdAt: z.string().describe('ISO 8601'),
  })
  .meta({ id: 'User' });

const mentionables = z.object({
  users: z.array(z.object({ id: z.string(), pseudonym: z.string(), firstName: z.string(), avatarUrl: z.string().nullable() })),
  kins: z.array(z.object({ id: z.string(), slug: z.string(), name: z.string(), avatarUrl: z.string().nullable() })),
});

export function presentMe(user: UserDoc) {
  return {
    id: user.id,
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    pseudonym: user.pseudonym,
    language: user.language,
    role: user.hasProfile ? user.role : null,
    avatarUrl: userAvatarUrlOf(user),
    kinOrder: user.kinOrder,
    cronOrder: user.cronOrder,
    createdAt: Date.parse(user.createdAt),
  };
}

const AVATAR_FILE = /^(.+)\.([a-z0-9]{1,8})$/;

export function userOperations(services: Services): Operation[] {
  const users = () => services.readStore.collection<UserDoc>(USERS);
  const withProfile = () => users().find({ hasProfile: true }, { sort: { createdAt: 1 } });
  const cachedUsers = listCache(services.readStore, { dependsOn: [usersProjection] });
  const cachedMentionables = listCache(services.readStore, { dependsOn: [usersProjection, kinsProjection] });
  const tags = ['Users'];
  const currentUser = async (userId: string) => {
    const user = await users().get(userId);
    if (!user) throw notFound('USER_NOT_FOUND', 'User not found');
    return user;
  };

  return [
    defineOperation({
      name: 'me',
      summary: 'Get current user info (also before onboarding: profile fields are then null)',
      method: 'get',
      path: '/api/me',
      auth: 'user',
      tags,
      output: me,
      handler: async (_input, ctx) => presentMe(await currentUser(ctx.principal!.userId)),
    }),
    defineOperation({
      name: 'updateMe',
      summary: 'Update your profile, language and Kin / cron ordering',
      method: 'patch',
      path: '/api/me',
      auth: 'user',
      tags,
      body: profileUpdate.optional(),
      output: me,
      async handler({ body }, ctx) {
        // The rules are checked here, not by the schema, so that every violation is reported at once.
        const changes = checkProfileChanges((body ?? {}) as Record<string, unknown>);
        const result = await updateProfile(services, ctx.principal!.userId, changes, ctx.commandMetadata());
        await services.settle(result.position);
        return presentMe(await currentUser(ctx.principal!.userId));
      },
    }),
    defineRawOperation({
      name: 'uploadMyAvatar',
      summary: 'Upload your avatar (multipart, field `file`: PNG, JPEG, GIF or WebP, at most 10 MB)',
      method: 'post',
      path: '/api/me/avatar',
      auth: 'user',
      tags,
      openapi: avatarUploadOpenApi,
      async raw(req, res, ctx) {
        const avatar = await receiveAvatar(req, res, services.blobs);
        const result = await setUserAvatar(services, ctx.principal!.userId, avatar, ctx.commandMetadata());
        await services.settle(result.position);
        res.json({ avatarUrl: userAvatarUrlOf(await currentUser(ctx.principal!.userId)) });
      },
    }),
    defineRawOperation({
      name: 'userAvatarFile',
      summary: "Download a user's avatar image",
      method: 'get',
      path: '/api/uploads/avatars/:file',
      auth: 'user',
      tags,
      params: z.object({ file: z.string().describe('<userId>.<ext>') }),
      openapi: { responses: { '200': { description: 'The image', content: { 'image/*': {} } } } },
      async raw(req, res) {
        const match = AVATAR_FILE.exec(String(req.params.file));
        const user = match ? await users().get(match[1]!) : null;
        const stored = user?.avatar && user.avatar.ext === match![2] ? await services.blobs.get(user.avatar.hash) : null;
        if (!stored) throw new DomainError(404, 'NOT_FOUND', 'Avatar not found');
        res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.type(stored.info.contentType).send(stored.bytes);
      },
    }),
    defineOperation({
      name: 'users',
      summary: 'List users (those who completed onboarding)',
      method: 'get',
      path: '/api/users',
      auth: 'user',
      tags,
      output: z.object({ users: z.array(userListItem) }),
      handler: () =>
        cachedUsers('', async () => ({
          users: (await withProfile()).map((user) => ({
            id: user.id,
            name: user.name,
            email: user.email,
            firstName: user.firstName ?? '',
            lastName: user.lastName ?? '',
            pseudonym: user.pseudonym ?? '',
            language: user.language ?? 'en',
            role: user.role,
            avatarUrl: userAvatarUrlOf(user),
            createdAt: user.createdAt,
          })),
        })),
    }),
    defineOperation({
      name: 'mentionables',
      summary: 'Users and Kins that can be @mentioned',
      method: 'get',
      path: '/api/users/mentionables',
      auth: 'user',
      tags,
      output: mentionables,
      handler: () =>
        cachedMentionables('', async () => {
          const kins = await services.readStore.collection<KinDoc>(KINS).find({}, { sort: { createdAt: 1 } });
          return {
            users: (await withProfile()).map((user) => ({
              id: user.id,
              pseudonym: user.pseudonym ?? '',
              firstName: user.firstName ?? '',
              avatarUrl: userAvatarUrlOf(user),
            })),
            kins: kins.map((kin) => ({ id: kin.id, slug: kin.slug, name: kin.name, avatarUrl: avatarUrlOf(kin) })),
          };
        }),
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
