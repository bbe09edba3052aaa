import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseUserEvent, userEventTypes, type Role, type UserAvatar } from '../events/users.js';

export const USERS = 'users';

export type UserDoc = Doc & {
  id: string;
  email: string;
  /** "First Last" once the profile exists; the sign-up name before. */
  name: string;
  role: Role;
  /** false: the account must complete onboarding before it can use the API. */
  hasProfile: boolean;
  firstName: string | null;
  lastName: string | null;
  pseudonym: string | null;
  language: string | null;
  kinOrder: string[] | null;
  cronOrder: string[] | null;
  avatar: UserAvatar | null;
  avatarChangedAt: string | null;
  createdAt: string;
};

/** Served by GET /api/uploads/avatars/:file; `?v` changes with each upload. */
export const userAvatarUrlOf = (user: UserDoc): string | null =>
  user.avatar ? `/api/uploads/avatars/${user.id}.${user.avatar.ext}?v=${Date.parse(user.avatarChangedAt ?? user.createdAt)}` : null;

const fullName = (firstName: string, lastName: string) => `${firstName} ${lastName}`.trim();

export const usersProjection: Projection = {
  name: 'users',
  version: 2,
  handles: userEventTypes,
  collections: [USERS],
  async setup(store) {
    await store.collection(USERS).ensureIndex({ fields: { email: 1 } });
  },
  async apply(recorded, store) {
    const users = store.collection<UserDoc>(USERS);
    const event = parseUserEvent(recorded);
    switch (event.type) {
      case 'UserSignedUp': {
        const { userId, email, name, role, profile, createdAt } = event.data;
        await users.replace({
          id: userId,
          email,
          name,
          role,
          hasProfile: profile !== null,
          firstName: profile?.firstName ?? null,
          lastName: profile?.lastName ?? null,
          pseudonym: profile?.pseudonym ?? null,
          language: profile?.language ?? null,
          kinOrder: null,
          cronOrder: null,
          avatar: null,
          avatarChangedAt: null,
          createdAt,
        });
        return;
      }
      case 'UserProfileCompleted': {
        const { userId, firstName, lastName, pseudonym, language, role } = event.data;
        const profile = { firstName, lastName, pseudonym, language, role, hasProfile: true, name: fullName(firstName, lastName) };
        await users.update({ id: userId }, { $set: profile });
        return;
      }
      case 'UserProfileUpdated': {
        const user = await users.get(event.data.userId);
        if (!user) return;
        const updated = { ...user, ...event.data.changes };
        const named = event.data.changes.firstName !== undefined || event.data.changes.lastName !== undefined;
        await users.replace(named ? { ...updated, name: fullName(updated.firstName ?? '', updated.lastName ?? '') } : updated);
        return;
      }
      case 'UserAvatarChanged':
        await users.update({ id: event.data.userId }, { $set: { avatar: event.data.avatar, avatarChangedAt: event.data.updatedAt } });
        return;
      case 'UserDeleted':
        await users.delete({ id: event.data.userId });
        return;
    }
  },
};
