import { z } from 'zod';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  KINBOT_DATA_DIR: z.string().default('./data'),
  EVENTSTORE_CONNECTION_STRING: z.string().startsWith('esdb').optional(),
  MONGODB_URI: z.string().startsWith('mongodb').optional(),
  ENCRYPTION_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, 'ENCRYPTION_KEY must be 64 hex characters').optional(),
  BETTER_AUTH_SECRET: z.string().min(32, 'BETTER_AUTH_SECRET must be at least 32 characters').optional(),
  PUBLIC_URL: z.url().optional(),
  LLM_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
  TOOLS_MAX_STEPS: z.coerce.number().int().min(0).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  eventStoreConnectionString?: string;
  mongodbUri?: string;
  encryptionKey: string;
  betterAuthSecret: string;
  publicUrl: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  /** A model that sends nothing for this long has its turn ended with an error. */
  llmIdleTimeoutMs: number;
  /** Tool steps allowed in one turn. */
  toolsMaxSteps: number;
};

/** Reads a secret from the environment, else from `<dataDir>/<file>`, else generates it there (0600). */
function persistedSecret(dataDir: string, file: string, fromEnv: string | undefined): string {
  if (fromEnv) return fromEnv;
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(32).toString('hex');
  writeFileSync(path, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.KINBOT_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    eventStoreConnectionString: e.EVENTSTORE_CONNECTION_STRING,
    mongodbUri: e.MONGODB_URI,
    encryptionKey: persistedSecret(dataDir, '.encryption-key', e.ENCRYPTION_KEY),
    betterAuthSecret: persistedSecret(dataDir, '.better-auth-secret', e.BETTER_AUTH_SECRET),
    publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    logLevel: e.LOG_LEVEL,
    llmIdleTimeoutMs: e.LLM_IDLE_TIMEOUT_MS,
    // 0 means "no limit of our own", which the spec caps at 100 steps.
    toolsMaxSteps: e.TOOLS_MAX_STEPS === 0 ? 100 : e.TOOLS_MAX_STEPS,
  };
}
