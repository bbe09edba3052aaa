import { z } from 'zod';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
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
  CRONS_MAX_ACTIVE: z.coerce.number().int().min(1).default(50),
  CRONS_MAX_CONCURRENT_EXEC: z.coerce.number().int().min(1).default(5),
  WEBHOOKS_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  WEBHOOKS_MAX_PER_KIN: z.coerce.number().int().min(1).default(20),
  WEBHOOKS_MAX_PAYLOAD_BYTES: z.coerce.number().int().min(1).default(1_048_576),
  WEBHOOKS_LOG_RETENTION_DAYS: z.coerce.number().min(0).default(30),
  WEBHOOKS_MAX_LOGS_PER_WEBHOOK: z.coerce.number().int().min(1).default(500),
  TASKS_MAX_DEPTH: z.coerce.number().int().min(1).default(3),
  TASKS_MAX_CONCURRENT: z.coerce.number().int().min(1).default(10),
  TASKS_MAX_REQUEST_INPUT: z.coerce.number().int().min(0).default(3),
  TASKS_MAX_INTER_KIN_REQUESTS: z.coerce.number().int().min(0).default(3),
  INTER_KIN_RESPONSE_TIMEOUT_MS: z.coerce.number().int().min(1000).default(300_000),
  INTER_KIN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  MEMORY_EXTRACTION_MODEL: z.string().trim().min(1).optional(),
  MEMORY_CONSOLIDATION_MODEL: z.string().trim().min(1).optional(),
  COMPACTING_MODEL: z.string().trim().min(1).optional(),
  MEMORY_CONSOLIDATION_SIMILARITY: z.coerce.number().min(0).max(1).default(0.85),
  MEMORY_CONSOLIDATION_MAX_GEN: z.coerce.number().int().min(1).default(5),
  E2E_SKIP_PROVIDER_TEST: z.enum(['true', 'false'], 'E2E_SKIP_PROVIDER_TEST must be true or false').default('false'),
});

export type Config = {
  port: number;
  /** A port of its own for GET /metrics, open to whoever reaches it (else /metrics on PORT). */
  metricsPort: number | null;
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
  /** Crons (tasks-crons-webhooks.md §2): active crons allowed, running tasks per cron's group. */
  crons: { maxActive: number; maxConcurrentExec: number };
  /** Incoming webhooks (tasks-crons-webhooks.md §3); the payload limit counts characters, as the spec says. */
  webhooks: { rateLimitPerMinute: number; maxPerKin: number; maxPayloadChars: number; logRetentionDays: number; maxLogsPerWebhook: number };
  /** Sub-Kin tasks and inter-Kin messages (tasks-crons-webhooks.md §1 limits). */
  tasks: { maxDepth: number; maxConcurrent: number; maxRequestInput: number; maxInterKinRequests: number; interKinTimeoutMs: number; interKinRatePerMinute: number };
  /**
   * Memory maintenance (memory-knowledge.md §3). `extractionModel`: the env fallback after the
   * settings value (then the Kin's model); `maintenanceModel` scores and merges memories.
   */
  memory: { extractionModel: string | null; maintenanceModel: string; consolidationSimilarity: number; consolidationMaxGeneration: number };
  /**
   * Test-only (E2E_SKIP_PROVIDER_TEST, the original's switch for its end-to-end suite): every
   * provider connection test passes with the type's default capabilities, without a network call.
   */
  skipProviderTest: boolean;
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
    metricsPort: e.METRICS_PORT ?? null,
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
    crons: { maxActive: e.CRONS_MAX_ACTIVE, maxConcurrentExec: e.CRONS_MAX_CONCURRENT_EXEC },
    webhooks: {
      rateLimitPerMinute: e.WEBHOOKS_RATE_LIMIT_PER_MINUTE,
      maxPerKin: e.WEBHOOKS_MAX_PER_KIN,
      maxPayloadChars: e.WEBHOOKS_MAX_PAYLOAD_BYTES,
      logRetentionDays: e.WEBHOOKS_LOG_RETENTION_DAYS,
      maxLogsPerWebhook: e.WEBHOOKS_MAX_LOGS_PER_WEBHOOK,
    },
    tasks: {
      maxDepth: e.TASKS_MAX_DEPTH,
      maxConcurrent: e.TASKS_MAX_CONCURRENT,
      maxRequestInput: e.TASKS_MAX_REQUEST_INPUT,
      maxInterKinRequests: e.TASKS_MAX_INTER_KIN_REQUESTS,
      interKinTimeoutMs: e.INTER_KIN_RESPONSE_TIMEOUT_MS,
      interKinRatePerMinute: e.INTER_KIN_RATE_LIMIT_PER_MINUTE,
    },
    memory: {
      extractionModel: e.MEMORY_EXTRACTION_MODEL ?? null,
      maintenanceModel: e.MEMORY_CONSOLIDATION_MODEL ?? e.COMPACTING_MODEL ?? 'gpt-4.1-nano',
      consolidationSimilarity: e.MEMORY_CONSOLIDATION_SIMILARITY,
      consolidationMaxGeneration: e.MEMORY_CONSOLIDATION_MAX_GEN,
    },
    skipProviderTest: e.E2E_SKIP_PROVIDER_TEST === 'true',
  };
}
