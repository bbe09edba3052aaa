import { betterAuth, type BetterAuthOptions, type User } from 'better-auth';
import { APIError, createAuthMiddleware, isAPIError } from 'better-auth/api';
import { getMigrations } from 'better-auth/db/migration';
import { apiKey } from '@better-auth/api-key';
import Database from 'better-sqlite3';
import type { Db, MongoClient } from 'mongodb';
import { v7 as uuidv7 } from 'uuid';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { trustedOrigins } from './origins.js';
import { createPrincipalCache, sessionCookieValues, type PrincipalCache } from './principalCache.js';

export type AuthDatabase =
  | { kind: 'sqlite'; path: string }
  | { kind: 'mongodb'; db: Db; client: MongoClient };

export type SignUpHooks = {
  /** Why an invitation token sent with a sign-up cannot be used (null: it can). */
  invitationProblem: (token: string) => Promise<string | null>;
  /** Records the sign-up as an event, consuming the invitation if one came with it (and decides the role). */
  onSignedUp: (user: User, invitationToken: string | null) => Promise<void>;
};

/** The optional `invitationToken` of a sign-up body; anything but a non-empty string is refused. */
function invitationTokenOf(body: unknown): string | null {
  const token = typeof body === 'object' && body !== null ? (body as { invitationToken?: unknown }).invitationToken : undefined;
  if (token === undefined || token === null || token === '') return null;
  if (typeof token !== 'string') throw new APIError('BAD_REQUEST', { code: 'INVALID_INVITATION', message: 'invitationToken must be a string' });
  return token;
}

/** WAL like the main database: each API-key verification records the key's last use (in the
 * background), and a full sync per write would make those writes queue up under load. */
function openAuthDatabase(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Better Auth's messages go to our logger; a rejected API key is a client's mistake, not an error. */
function authLogger(log: Logger) {
  return {
    log(level: 'debug' | 'info' | 'success' | 'warn' | 'error', message: string, ...args: unknown[]) {
      const quiet = message.startsWith('Failed to validate API key');
      const target = quiet ? 'debug' : level === 'success' ? 'info' : level;
      log[target]({ module: 'better-auth', args }, message);
    },
  };
}

/** Auth endpoints that neither revoke nor change a credential. */
const LEAVES_CREDENTIALS_ALONE = new Set([
  '/get-session',
  '/list-sessions',
  '/api-key/verify',
  '/api-key/get',
  '/api-key/list',
  '/api-key/create',
  '/sign-in/email',
  '/sign-up/email',
  '/ok',
  '/error',
]);

/**
 * Runs after every auth endpoint, before it answers, so that a credential it revoked fails on the
 * very next request. Sign-out forgets the session it ended (named by the request's cookie); an
 * endpoint called with a session (revoke-session(s), api-key/update and /delete, password
 * changes, …) forgets that user's credentials, since users change only their own; any other
 * endpoint empties the cache. Listing what is harmless rather than what revokes means an endpoint
 * added later errs on the safe side; a failed call changed nothing, and an anonymous caller can
 * forget nobody's credentials but the ones it presents.
 */
function forgetRevokedCredentials(principals: PrincipalCache) {
  return createAuthMiddleware(async (ctx) => {
    if (LEAVES_CREDENTIALS_ALONE.has(ctx.path) || isAPIError(ctx.context.returned)) return;
    if (ctx.path === '/sign-out') {
      for (const value of sessionCookieValues(ctx.headers?.get('cookie'), ctx.context.authCookies.sessionToken.name)) {
        principals.forget({ kind: 'session', value });
      }
      return;
    }
    const userId = ctx.context.session?.user.id;
    if (userId) principals.forgetUser(userId);
    else principals.clear();
  });
}

function authOptions(config: Config, database: BetterAuthOptions['database'], hooks: SignUpHooks, log: Logger, principals: PrincipalCache) {
  return {
    appName: 'KinBot',
    logger: authLogger(log),
    baseURL: config.publicUrl,
    basePath: '/api/auth',
    secret: config.betterAuthSecret,
    // Better Auth runs its own transactions, so in the embedded set-up it gets its own SQLite file:
    // sharing the event store's connection would let those transactions swallow our appends.
    database,
    emailAndPassword: { enabled: true, minPasswordLength: 8, autoSignIn: true },
    session: { cookieCache: { enabled: true, maxAge: 5 * 60 } },
    trustedOrigins: trustedOrigins(config),
    hooks: { after: forgetRevokedCredentials(principals) },
    advanced: {
      // Better Auth skips its Origin check when NODE_ENV is test; ours runs in tests as in production.
      disableOriginCheck: false,
      database: { generateId: () => uuidv7() },
      // Bookkeeping writes (an API key's last use) run after the response instead of before it.
      backgroundTasks: {
        handler: (task: Promise<unknown>) => void task.catch((error: unknown) => log.warn({ err: error }, 'auth background task failed')),
      },
    },
    plugins: [
      apiKey({
        apiKeyHeaders: 'x-api-key',
        defaultPrefix: 'kb_',
        // API keys are for integrations: the plugin's default of 10 requests a day is not a fit.
        rateLimit: { enabled: false },
        deferUpdates: true,
      }),
    ],
    databaseHooks: {
      user: {
        create: {
          // Sign-up is open (DECISIONS 4); an `invitationToken` in its body must hold, or no account is made.
          before: async (_user, ctx) => {
            const token = invitationTokenOf(ctx?.body);
            const problem = token === null ? null : await hooks.invitationProblem(token);
            if (problem) throw new APIError('BAD_REQUEST', { code: 'INVALID_INVITATION', message: `Invalid invitation: ${problem}` });
          },
          after: async (user: User, ctx) => hooks.onSignedUp(user, invitationTokenOf(ctx?.body)),
        },
      },
    },
  } satisfies BetterAuthOptions;
}

/** The MongoDB adapter (and its driver) is loaded only when configured. */
async function databaseOption(database: AuthDatabase): Promise<BetterAuthOptions['database']> {
  if (database.kind === 'sqlite') return openAuthDatabase(database.path);
  const { mongodbAdapter } = await import('better-auth/adapters/mongodb');
  return mongodbAdapter(database.db, { client: database.client });
}

/**
 * Better Auth, with the cache of verified credentials its endpoints invalidate (`principals`) and
 * the name of its session cookie, which src/auth/principal.ts reads.
 */
export async function createAuth(config: Config, database: AuthDatabase, hooks: SignUpHooks, log: Logger) {
  const principals = createPrincipalCache();
  const options = authOptions(config, await databaseOption(database), hooks, log, principals);
  if (database.kind === 'sqlite') {
    const { runMigrations } = await getMigrations(options);
    await runMigrations();
  }
  const auth = betterAuth(options);
  const sessionCookie = (await auth.$context).authCookies.sessionToken.name;
  return Object.assign(auth, { principals, sessionCookie });
}

export type Auth = Awaited<ReturnType<typeof createAuth>>;
