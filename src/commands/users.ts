import type { Decider } from '../es/decider.js';
import { badRequest, notFound } from '../es/errors.js';
import type { UserEvent } from '../events/users.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata } from '../es/decider.js';
import type { EventStore } from '../es/eventStore.js';
import { USERS_STREAM, parseUserEvent } from '../events/users.js';
import type { SignUpHooks } from '../auth/auth.js';

export type UsersState = { users: Map<string, { role: 'admin' | 'member' }> };

export type UsersCommand =
  | { type: 'RecordSignUp'; userId: string; email: string; name: string; createdAt: string }
  | { type: 'DeleteUser'; userId: string; requestedBy: string };

export const initialState = (): UsersState => ({ users: new Map() });

export function evolve(state: UsersState, event: UserEvent): UsersState {
  const users = new Map(state.users);
  switch (event.type) {
    case 'UserSignedUp':
      users.set(event.data.userId, { role: event.data.role });
      return { users };
    case 'UserDeleted':
      users.delete(event.data.userId);
      return { users };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** The first account ever becomes admin; later ones (admitted by invitation) are members. */
function decideSignUp(command: Extract<UsersCommand, { type: 'RecordSignUp' }>, state: UsersState): UserEvent[] {
  if (state.users.has(command.userId)) return [];
  const role = state.users.size === 0 ? 'admin' : 'member';
  const { userId, email, name, createdAt } = command;
  return [{ type: 'UserSignedUp', data: { userId, email, name, role, createdAt } }];
}

function decideDeletion(command: Extract<UsersCommand, { type: 'DeleteUser' }>, state: UsersState): UserEvent[] {
  if (command.userId === command.requestedBy) throw badRequest('CANNOT_DELETE_SELF', 'You cannot delete your own account');
  if (!state.users.has(command.userId)) throw notFound('NOT_FOUND', 'User not found');
  return [{ type: 'UserDeleted', data: { userId: command.userId } }];
}

export function decide(command: UsersCommand, state: UsersState): UserEvent[] {
  switch (command.type) {
    case 'RecordSignUp':
      return decideSignUp(command, state);
    case 'DeleteUser':
      return decideDeletion(command, state);
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const usersDecider: Decider<UsersState, UsersCommand, UserEvent> = { initialState, evolve, decide };

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

type Deps = { eventStore: EventStore; runCommand: RunCommand; settle: (position: number | null) => Promise<void> };

const systemMetadata = (correlationId: string): CommandMetadata => ({
  actor: { kind: 'system', id: 'auth' },
  correlationId,
  now: new Date(),
});

/**
 * Better Auth owns credentials; the event log owns who the users are. The first sign-up is open
 * and makes an admin; later ones are refused until invitations exist (a later capability).
 */
export function signUpHooks(deps: Deps): SignUpHooks {
  return {
    async canSignUp() {
      const history = await deps.eventStore.readStream(USERS_STREAM);
      const state = history.map(parseUserEvent).reduce(usersDecider.evolve, usersDecider.initialState());
      return state.users.size === 0;
    },
    async onSignedUp(user) {
      const result = await deps.runCommand({
        stream: USERS_STREAM,
        decider: usersDecider,
        parse: parseUserEvent,
        command: {
          type: 'RecordSignUp',
          userId: user.id,
          email: user.email,
          name: user.name,
          createdAt: new Date(user.createdAt).toISOString(),
        },
        metadata: { ...systemMetadata(user.id), actor: { kind: 'user', id: user.id } },
      });
      await deps.settle(result.position);
    },
  };
}

/** Records the deletion, then removes the credentials (sessions, accounts, API keys) from Better Auth. */
export async function deleteUser(
  deps: Deps & { auth: { $context: Promise<AuthInternals> } },
  userId: string,
  metadata: CommandMetadata,
) {
  const result = await deps.runCommand({
    stream: USERS_STREAM,
    decider: usersDecider,
    parse: parseUserEvent,
    command: { type: 'DeleteUser', userId, requestedBy: metadata.actor.id },
    metadata,
  });
  const context = await deps.auth.$context;
  await context.internalAdapter.deleteUserSessions(userId);
  await context.adapter.deleteMany({ model: 'apikey', where: [{ field: 'referenceId', value: userId }] });
  await context.internalAdapter.deleteAccounts(userId);
  await context.internalAdapter.deleteUser(userId);
  await deps.settle(result.position);
  return result;
}

type AuthInternals = {
  internalAdapter: {
    deleteUserSessions(userId: string): Promise<unknown>;
    deleteAccounts(userId: string): Promise<unknown>;
    deleteUser(userId: string): Promise<unknown>;
  };
  adapter: { deleteMany(query: { model: string; where: { field: string; value: string }[] }): Promise<unknown> };
};
