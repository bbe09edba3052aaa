import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseUserEvent, userEventTypes } from '../events/users.js';

export const USERS = 'users';

export type UserDoc = Doc & {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'member';
  createdAt: string;
};

export const usersProjection: Projection = {
  name: 'users',
  version: 1,
  handles: userEventTypes,
  collections: [USERS],
  async setup(store) {
    await store.collection(USERS).ensureIndex({ fields: { email: 1 } });
  },
  async apply(recorded, store) {
    const users = store.collection<UserDoc>(USERS);
    const event = parseUserEvent(recorded);
    switch (event.type) {
      case 'UserSignedUp':
        await users.replace({ id: event.data.userId, ...event.data });
        return;
      case 'UserDeleted':
        await users.delete({ id: event.data.userId });
        return;
    }
  },
};
