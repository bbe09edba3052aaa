import { describe, expect, it } from 'vitest';
import { decide, decideProfileEdit, evolve, evolveProfile, initialProfileState, initialState } from '../../src/commands/users.js';
import { parseUserEvent, type UserEvent } from '../../src/events/users.js';
import type { DomainError } from '../../src/es/errors.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import { usersProjection, type UserDoc } from '../../src/projections/users.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const signUp = (userId: string, invitation: { invitationId: string; role: 'admin' | 'member' } | null = null) =>
  ({ type: 'RecordSignUp' as const, userId, email: `${userId}@x.io`, name: `${userId} Lovelace`, createdAt: now.toISOString(), invitation });
const profile = { firstName: 'Grace', lastName: 'Hopper', pseudonym: 'grace', language: 'en' };
const fold = (events: UserEvent[]) => events.reduce(evolve, initialState());

function given(events: UserEvent[]) {
  const state = fold(events);
  return (command: Parameters<typeof decide>[0]) => {
    try {
      return decide(command, state);
    } catch (error) {
      return (error as DomainError).code;
    }
  };
}

describe('users directory decider', () => {
  const first = decide(signUp('u1'), fold([]));

  it('makes the first user an admin with a profile derived from the sign-up name', () => {
    expect(first).toEqual([
      {
        type: 'UserSignedUp',
        data: {
          userId: 'u1',
          email: 'u1@x.io',
          name: 'u1 Lovelace',
          role: 'admin',
          profile: { firstName: 'u1', lastName: 'Lovelace', pseudonym: 'u1 Lovelace', language: 'en' },
          invitationId: null,
          createdAt: now.toISOString(),
        },
      },
    ]);
  });

  it('gives a later sign-up without an invitation no profile, and one with an invitation its role and a profile', () => {
    const bare = given(first)(signUp('u2')) as UserEvent[];
    expect(bare[0]).toMatchObject({ data: { userId: 'u2', profile: null, invitationId: null } });
    const invited = given(first)(signUp('u3', { invitationId: 'i1', role: 'admin' })) as UserEvent[];
    expect(invited[0]).toMatchObject({ data: { userId: 'u3', role: 'admin', invitationId: 'i1', profile: { firstName: 'u3' } } });
  });

  it('records a sign-up once', () => {
    expect(given(first)(signUp('u1'))).toEqual([]);
  });

  it('completes a profile with the invitation role once an admin exists, and only once', () => {
    const history = [...first, ...(decide(signUp('u2'), fold(first)))];
    const complete = (invitation: { invitationId: string; role: 'admin' | 'member' } | null) =>
      ({ type: 'CompleteProfile' as const, userId: 'u2', profile, invitation, now });
    expect(given(history)(complete(null))).toBe('INVITATION_REQUIRED');
    const completed = given(history)(complete({ invitationId: 'i1', role: 'member' })) as UserEvent[];
    expect(completed).toEqual([
      { type: 'UserProfileCompleted', data: { userId: 'u2', ...profile, role: 'member', invitationId: 'i1', completedAt: now.toISOString() } },
    ]);
    expect(given([...history, ...completed])(complete({ invitationId: 'i2', role: 'member' }))).toBe('PROFILE_EXISTS');
    expect(given(first)(complete(null))).toBe('USER_NOT_FOUND');
  });

  it('makes the first completed profile an admin without an invitation when no admin exists', () => {
    const admin = { type: 'UserSignedUp' as const, data: { ...(first[0]!.data as object), profile: null } } as UserEvent;
    const events = given([admin])({ type: 'CompleteProfile', userId: 'u1', profile, invitation: null, now }) as UserEvent[];
    expect(events[0]).toMatchObject({ type: 'UserProfileCompleted', data: { role: 'admin' } });
  });

  it('deletes other users, never yourself or unknown ones', () => {
    const history = [...first, ...decide(signUp('u2'), fold(first))];
    expect(given(history)({ type: 'DeleteUser', userId: 'u2', requestedBy: 'u1' })).toEqual([{ type: 'UserDeleted', data: { userId: 'u2' } }]);
    expect(given(history)({ type: 'DeleteUser', userId: 'u1', requestedBy: 'u1' })).toBe('CANNOT_DELETE_SELF');
    expect(given(history)({ type: 'DeleteUser', userId: 'zz', requestedBy: 'u1' })).toBe('NOT_FOUND');
  });

  it('reads a sign-up recorded before profiles existed as one with a profile from its name', () => {
    const old = { type: 'UserSignedUp', data: { userId: 'u1', email: 'a@x.io', name: 'Ada Lovelace', role: 'admin', createdAt: now.toISOString() } };
    expect(parseUserEvent(old as unknown as RecordedEvent)).toMatchObject({
      data: { profile: { firstName: 'Ada', lastName: 'Lovelace', pseudonym: 'Ada Lovelace', language: 'en' }, invitationId: null },
    });
  });
});

describe("a user's own stream", () => {
  const edit = (changes: object) => ({ type: 'UpdateProfile' as const, userId: 'u1', changes, now });

  it('records only the fields that change', () => {
    const events = decideProfileEdit(edit({ language: 'fr', kinOrder: ['k1'] }), initialProfileState());
    const state = events.reduce(evolveProfile, initialProfileState());
    expect(decideProfileEdit(edit({ language: 'fr', kinOrder: ['k1'] }), state)).toEqual([]);
    expect(decideProfileEdit(edit({ language: 'fr', kinOrder: ['k2', 'k1'] }), state)).toEqual([
      { type: 'UserProfileUpdated', data: { userId: 'u1', changes: { kinOrder: ['k2', 'k1'] }, updatedAt: now.toISOString() } },
    ]);
  });
});

describe('users projection', () => {
  it('applies every event twice with the same result', async () => {
    const readStore = createSqliteReadStore(openSqlite(':memory:'));
    const first = decide(signUp('u1'), fold([]));
    const second = decide(signUp('u2'), fold(first));
    const completed = decide({ type: 'CompleteProfile', userId: 'u2', profile, invitation: { invitationId: 'i1', role: 'member' }, now }, fold([...first, ...second]));
    const renamed = decideProfileEdit({ type: 'UpdateProfile', userId: 'u2', changes: { firstName: 'Amazing' }, now }, initialProfileState());
    const events = [...first, ...second, ...completed, ...renamed];
    let position = 0;
    for (const event of events) {
      const recorded = { ...event, position: ++position, revision: position, streamId: 'users-directory', id: String(position), metadata: {} } as unknown as RecordedEvent;
      await usersProjection.apply(recorded, readStore);
      await usersProjection.apply(recorded, readStore);
    }
    const user = await readStore.collection<UserDoc>('users').get('u2');
    expect(user).toMatchObject({ hasProfile: true, role: 'member', firstName: 'Amazing', lastName: 'Hopper', name: 'Amazing Hopper', pseudonym: 'grace' });
  });
});
