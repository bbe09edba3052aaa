import type { User } from 'better-auth';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { fold } from '../es/decider.js';
import { badRequest, conflict, DomainError, forbidden, notFound } from '../es/errors.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { EventStore } from '../es/eventStore.js';
import {
  parseUserEvent,
  profileFromName,
  USERS_STREAM,
  userStream,
  type Profile,
  type ProfileChanges,
  type Role,
  type UserAvatar,
  type UserEvent,
} from '../events/users.js';
import type { SignUpHooks } from '../auth/auth.js';
import { checkInvitation, consumeInvitation } from './invitations.js';

// ── The directory: who the users are, their role, whether their profile exists ────────────────

export type DirectoryState = { users: Map<string, { role: Role; hasProfile: boolean }> };

/** An invitation already consumed for this user, and the role it gives. */
type Admission = { invitationId: string; role: Role } | null;

export type DirectoryCommand =
  | { type: 'RecordSignUp'; userId: string; email: string; name: string; createdAt: string; invitation: Admission }
  | { type: 'CompleteProfile'; userId: string; profile: Profile; invitation: Admission; now: Date }
  | { type: 'DeleteUser'; userId: string; requestedBy: string };

export const initialState = (): DirectoryState => ({ users: new Map() });

export function evolve(state: DirectoryState, event: UserEvent): DirectoryState {
  switch (event.type) {
    case 'UserSignedUp':
    case 'UserProfileCompleted': {
      const users = new Map(state.users);
      const hasProfile = event.type === 'UserProfileCompleted' || event.data.profile !== null;
      users.set(event.data.userId, { role: event.data.role, hasProfile });
      return { users };
    }
    case 'UserDeleted': {
      const users = new Map(state.users);
      users.delete(event.data.userId);
      return { users };
    }
    case 'UserProfileUpdated':
    case 'UserAvatarChanged':
      return state;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** Whether some user with a profile is an admin: until then, the next profile makes one. */
export const hasAdmin = (state: DirectoryState) => [...state.users.values()].some((user) => user.hasProfile && user.role === 'admin');

/**
 * The first account becomes admin with a profile from its name; so does an invited one, with the
 * invitation's role. Any other sign-up (the web app signs invited users up without the token) is
 * an account without a profile until POST /api/onboarding/profile presents an invitation.
 */
function decideSignUp(command: Extract<DirectoryCommand, { type: 'RecordSignUp' }>, state: DirectoryState): UserEvent[] {
  if (state.users.has(command.userId)) return [];
  const { userId, email, name, createdAt, invitation } = command;
  const admitted = !hasAdmin(state) || invitation !== null;
  const role = !hasAdmin(state) ? 'admin' : (invitation?.role ?? 'member');
  const profile = admitted ? profileFromName(name) : null;
  return [{ type: 'UserSignedUp', data: { userId, email, name, role, profile, invitationId: invitation?.invitationId ?? null, createdAt } }];
}

function decideProfile(command: Extract<DirectoryCommand, { type: 'CompleteProfile' }>, state: DirectoryState): UserEvent[] {
  const user = state.users.get(command.userId);
  if (!user) throw notFound('USER_NOT_FOUND', 'User not found');
  if (user.hasProfile) throw conflict('PROFILE_EXISTS', 'Profile already exists');
  const first = !hasAdmin(state);
  if (!first && !command.invitation) throw invitationRequired();
  const role = first ? 'admin' : command.invitation!.role;
  const invitationId = command.invitation?.invitationId ?? null;
  return [{ type: 'UserProfileCompleted', data: { userId: command.userId, ...command.profile, role, invitationId, completedAt: command.now.toISOString() } }];
}

function decideDeletion(command: Extract<DirectoryCommand, { type: 'DeleteUser' }>, state: DirectoryState): UserEvent[] {
  if (command.userId === command.requestedBy) throw badRequest('CANNOT_DELETE_SELF', 'You cannot delete your own account');
  if (!state.users.has(command.userId)) throw notFound('NOT_FOUND', 'User not found');
  return [{ type: 'UserDeleted', data: { userId: command.userId } }];
}

export const invitationRequired = () => forbidden('INVITATION_REQUIRED', 'An invitation is required to join');

export function decide(command: DirectoryCommand, state: DirectoryState): UserEvent[] {
  switch (command.type) {
    case 'RecordSignUp':
      return decideSignUp(command, state);
    case 'CompleteProfile':
      return decideProfile(command, state);
    case 'DeleteUser':
      return decideDeletion(command, state);
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const usersDecider: Decider<DirectoryState, DirectoryCommand, UserEvent> = { initialState, evolve, decide };

// ── A user's own stream: profile edits and avatar ─────────────────────────────────────────────

/** What this stream has set so far, to tell a real change from a repeated one. */
export type UserProfileState = { changes: ProfileChanges; avatarHash: string | null };

export type UserProfileCommand =
  | { type: 'UpdateProfile'; userId: string; changes: ProfileChanges; now: Date }
  | { type: 'SetAvatar'; userId: string; avatar: UserAvatar; now: Date };

export const initialProfileState = (): UserProfileState => ({ changes: {}, avatarHash: null });

export function evolveProfile(state: UserProfileState, event: UserEvent): UserProfileState {
  switch (event.type) {
    case 'UserProfileUpdated':
      return { ...state, changes: { ...state.changes, ...event.data.changes } };
    case 'UserAvatarChanged':
      return { ...state, avatarHash: event.data.avatar.hash };
    default:
      return state;
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function decideProfileEdit(command: UserProfileCommand, state: UserProfileState): UserEvent[] {
  const at = command.now.toISOString();
  switch (command.type) {
    case 'UpdateProfile': {
      const changed = Object.entries(command.changes).filter(([field, value]) => !same(state.changes[field as keyof ProfileChanges], value));
      if (changed.length === 0) return [];
      return [{ type: 'UserProfileUpdated', data: { userId: command.userId, changes: Object.fromEntries(changed), updatedAt: at } }];
    }
    // Always recorded, even for the same bytes: the URL's `?v` tells clients to reload.
    case 'SetAvatar':
      return [{ type: 'UserAvatarChanged', data: { userId: command.userId, avatar: command.avatar, updatedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const userProfileDecider: Decider<UserProfileState, UserProfileCommand, UserEvent> = {
  initialState: initialProfileState,
  evolve: evolveProfile,
  decide: decideProfileEdit,
};

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

type Deps = { eventStore: EventStore; runCommand: RunCommand; settle: (position: number | null) => Promise<void> };

const runDirectory = (deps: Pick<Deps, 'runCommand'>, command: DirectoryCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: USERS_STREAM, decider: usersDecider, parse: parseUserEvent, command, metadata });

export async function loadDirectory(eventStore: EventStore): Promise<DirectoryState> {
  return fold(usersDecider, (await eventStore.readStream(USERS_STREAM)).map(parseUserEvent));
}

/**
 * Better Auth owns credentials; the event log owns who the users are. A sign-up may carry an
 * invitation token (checked before the account is created, consumed after); without one it is
 * always allowed, and the directory decides whether the account gets a profile at once.
 */
export function signUpHooks(deps: Deps): SignUpHooks {
  return {
    async invitationProblem(token) {
      const check = await checkInvitation(deps.eventStore, token, new Date());
      return check.valid ? null : check.reason;
    },
    async onSignedUp(user: User, invitationToken) {
      const metadata: CommandMetadata = { actor: { kind: 'user', id: user.id }, correlationId: user.id, now: new Date() };
      // Lost a race for the token (checked valid a moment ago): the account is created without a profile.
      const invitation = invitationToken
        ? await consumeInvitation(deps, invitationToken, user.id, metadata).catch((error: unknown) => {
            if (error instanceof DomainError) return null;
            throw error;
          })
        : null;
      const command = {
        type: 'RecordSignUp' as const,
        userId: user.id,
        email: user.email,
        name: user.name,
        createdAt: new Date(user.createdAt).toISOString(),
        invitation: invitation && { invitationId: invitation.invitationId, role: invitation.role },
      };
      const result = await runDirectory(deps, command, metadata);
      await deps.settle(result.position);
    },
  };
}

/**
 * POST /api/onboarding/profile: the first profile needs no invitation (and makes an admin); later
 * ones consume the token first, then complete the profile with the invitation's role.
 */
export async function completeProfile(
  deps: Deps,
  input: { userId: string; profile: Profile; invitationToken: string | null },
  metadata: CommandMetadata,
) {
  const directory = await loadDirectory(deps.eventStore);
  const user = directory.users.get(input.userId);
  if (!user) throw notFound('USER_NOT_FOUND', 'User not found');
  if (user.hasProfile) throw conflict('PROFILE_EXISTS', 'Profile already exists');
  let invitation: Admission = null;
  if (hasAdmin(directory)) {
    if (!input.invitationToken) throw invitationRequired();
    const consumed = await consumeInvitation(deps, input.invitationToken, input.userId, metadata);
    invitation = { invitationId: consumed.invitationId, role: consumed.role };
  }
  const command = { type: 'CompleteProfile' as const, userId: input.userId, profile: input.profile, invitation, now: metadata.now };
  const result = await runDirectory(deps, command, metadata);
  const completed = result.events.find((event) => event.type === 'UserProfileCompleted');
  await deps.settle(result.position);
  return { role: completed?.type === 'UserProfileCompleted' ? completed.data.role : user.role };
}

const runProfile = (deps: Pick<Deps, 'runCommand'>, command: UserProfileCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: userStream(command.userId), decider: userProfileDecider, parse: parseUserEvent, command, metadata });

export const updateProfile = (deps: Pick<Deps, 'runCommand'>, userId: string, changes: ProfileChanges, metadata: CommandMetadata) =>
  runProfile(deps, { type: 'UpdateProfile', userId, changes, now: metadata.now }, metadata);

export const setUserAvatar = (deps: Pick<Deps, 'runCommand'>, userId: string, avatar: UserAvatar, metadata: CommandMetadata) =>
  runProfile(deps, { type: 'SetAvatar', userId, avatar, now: metadata.now }, metadata);

/** Records the deletion, then removes the credentials (sessions, accounts, API keys) from Better Auth. */
export async function deleteUser(
  deps: Deps & { auth: { $context: Promise<AuthInternals> } },
  userId: string,
  metadata: CommandMetadata,
) {
  const result = await runDirectory(deps, { type: 'DeleteUser', userId, requestedBy: metadata.actor.id }, metadata);
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
