import { describe, expect, it } from 'vitest';
import { decide, evolve, initialState } from '../../src/commands/users.js';
import type { UserEvent } from '../../src/events/users.js';

const signUp = (userId: string) => ({ type: 'RecordSignUp' as const, userId, email: `${userId}@x.io`, name: userId, createdAt: '2026-11-28T10:00:00.000Z' });
const fold = (events: UserEvent[]) => events.reduce(evolve, initialState());

describe('users decider', () => {
  it('makes the first user admin and later ones members', () => {
    const first = decide(signUp('u1'), fold([]));
    expect(first[0]).toMatchObject({ type: 'UserSignedUp', data: { userId: 'u1', role: 'admin' } });
    expect(decide(signUp('u2'), fold(first))[0]).toMatchObject({ data: { userId: 'u2', role: 'member' } });
  });

  it('records a sign-up once', () => {
    const first = decide(signUp('u1'), fold([]));
    expect(decide(signUp('u1'), fold(first))).toEqual([]);
  });

  it('deletes other users, never yourself or unknown ones', () => {
    const history = [...decide(signUp('u1'), fold([]))];
    history.push(...decide(signUp('u2'), fold(history)));
    expect(decide({ type: 'DeleteUser', userId: 'u2', requestedBy: 'u1' }, fold(history))).toEqual([{ type: 'UserDeleted', data: { userId: 'u2' } }]);
    expect(() => decide({ type: 'DeleteUser', userId: 'u1', requestedBy: 'u1' }, fold(history))).toThrow('your own account');
    expect(() => decide({ type: 'DeleteUser', userId: 'zz', requestedBy: 'u1' }, fold(history))).toThrow('User not found');
  });
});
