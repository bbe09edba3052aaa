import { betterAuth, type BetterAuthOptions, type User } from 'better-auth';
import { APIError } from 'better-auth/api';
import { getMigrations } from 'better-auth/db/migration';
import { apiKey } from '@better-auth/api-key';
import Database from 'better-sqlite3';
import type { Db, MongoClient } from 'mongodb';
import { v7 as uuidv7 } from 'uuid';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { trustedOrigins } from './origins.js';

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

/** WAL like the main database: every API-key check records its use, and a full sync per request
 * would cap authenticated throughput at a few hundred requests a second. */
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

function authOptions(config: Config, database: BetterAuthOptions['database'], hooks: SignUpHooks, log: Logger) {
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

export async function createAuth(config: Config, database: AuthDatabase, hooks: SignUpHooks, log: Logger) {
  const options = authOptions(config, await databaseOption(database), hooks, log);
  if (database.kind === 'sqlite') {
    const { runMigrations } = await getMigrations(options);
    await runMigrations();
  }
  return betterAuth(options);
}

export type Auth = Awaited<ReturnType<typeof createAuth>>;
