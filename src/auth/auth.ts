import { betterAuth, type BetterAuthOptions, type User } from 'better-auth';
import { APIError } from 'better-auth/api';
import { getMigrations } from 'better-auth/db/migration';
import { mongodbAdapter } from 'better-auth/adapters/mongodb';
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
  /** Whether a new account may be created now (the first one always may). */
  canSignUp: () => Promise<boolean>;
  /** Records the sign-up as an event (and decides the role). */
  onSignedUp: (user: User) => Promise<void>;
};

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

function authOptions(config: Config, database: AuthDatabase, hooks: SignUpHooks, log: Logger) {
  return {
    appName: 'KinBot',
    logger: authLogger(log),
    baseURL: config.publicUrl,
    basePath: '/api/auth',
    secret: config.betterAuthSecret,
    // Better Auth runs its own transactions, so in the embedded set-up it gets its own SQLite file:
    // sharing the event store's connection would let those transactions swallow our appends.
    database: database.kind === 'sqlite' ? openAuthDatabase(database.path) : mongodbAdapter(database.db, { client: database.client }),
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
          before: async () => {
            if (!(await hooks.canSignUp())) {
              throw new APIError('FORBIDDEN', {
                code: 'SIGNUP_CLOSED',
                message: 'Sign-up is closed: an invitation is required',
              });
            }
          },
          after: async (user: User) => hooks.onSignedUp(user),
        },
      },
    },
  } satisfies BetterAuthOptions;
}

export async function createAuth(config: Config, database: AuthDatabase, hooks: SignUpHooks, log: Logger) {
  const options = authOptions(config, database, hooks, log);
  if (database.kind === 'sqlite') {
    const { runMigrations } = await getMigrations(options);
    await runMigrations();
  }
  return betterAuth(options);
}

export type Auth = Awaited<ReturnType<typeof createAuth>>;
