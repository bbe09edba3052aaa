import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { BlobStore } from './es/blobStore.js';
import { createCommandRunner, type RunCommand } from './es/commandRunner.js';
import type { EventStore } from './es/eventStore.js';
import { createProjectionRunner, type ProjectionRunner } from './es/projections.js';
import type { ReadStore } from './es/readStore.js';
import { createAuth, type Auth, type AuthDatabase } from './auth/auth.js';
import { openSqlite, type SqliteHandle } from './stores/sqlite/database.js';
import { createSqliteEventStore } from './stores/sqlite/eventStore.js';
import { createSqliteReadStore } from './stores/sqlite/readStore.js';
import { createFolderBlobStore } from './stores/blobs/folderBlobStore.js';
import { allProjections } from './projections/index.js';
import { signUpHooks } from './commands/users.js';
import { createLiveFeed, type LiveFeed } from './live/feed.js';
import { createMetrics, measuredEventStore, type Metrics } from './lib/metrics.js';
import { allLiveMappers } from './live/index.js';
import { adoptLegacyDataKeys, createSecrets, type Secrets } from './lib/secrets.js';
import type { KeyStore } from './es/keyStore.js';
import { createSqliteKeyStore } from './stores/sqlite/keyStore.js';
import { createTurnRunner, type TurnRunner } from './agents/turnRunner.js';
import { createTurnDeps } from './agents/turnDeps.js';
import type { TurnDeps } from './agents/turn.js';
import type { ContextUsage } from './agents/contextUsage.js';
import { createReactorRunner, type ReactorRunner } from './es/reactors.js';
import { promptAnswerReactor } from './reactors/prompts.js';
import { knowledgeIngestReactor } from './reactors/knowledge.js';
import { taskReactor } from './reactors/tasks.js';
import { interKinReactor } from './reactors/interKin.js';
import { quickSessionMemoryReactor, snapshotMemoriesReactor } from './reactors/memories.js';
import { createMemoryJobs, type MemoryJobs } from './jobs/memoryJobs.js';
import { createCompactor, type Compactor } from './agents/compacting.js';
import { activeCompaction } from './projections/compacting.js';
import { createCronScheduler, type CronScheduler } from './jobs/agenda.js';
import { spawnTask } from './commands/tasks.js';
import { createLogBuffer, type LogBuffer } from './lib/logBuffer.js';
import { streamLogEntriesToAdmins } from './live/logEntries.js';

/** Everything a capability may need, passed as a parameter (no container, no singletons). */
export type Services = {
  config: Config;
  log: Logger;
  eventStore: EventStore;
  readStore: ReadStore;
  blobs: BlobStore;
  auth: Auth;
  runCommand: RunCommand;
  projections: ProjectionRunner;
  live: LiveFeed;
  /** Envelope encryption with per-owner data keys (crypto-shredding); see src/lib/secrets.ts. */
  secrets: Secrets;
  /** The queue worker that answers messages (LLM turns). */
  turns: TurnRunner;
  /** Crons on agenda (src/jobs/agenda.ts): started by startServer, stopped by close. */
  crons: CronScheduler;
  /** Process managers: events that lead to new commands (e.g. a prompt's answer → a message). */
  reactors: ReactorRunner;
  /** What the last turn of each Kin sent to its model, for GET /api/kins/:id/context-usage. */
  contextUsage: Map<string, ContextUsage>;
  /** Conversation compaction: manual runs, the post-turn trigger, the pause of a Kin's queue. */
  compacting: Compactor;
  /** Memory upkeep: backfill, consolidation, re-embedding, and the memory step of a compaction. */
  memoryJobs: MemoryJobs;
  /** The recent log entries (GET /api/logs); fed by the logger that main.ts builds, empty otherwise. */
  logs: LogBuffer;
  /** Prometheus figures (GET /metrics): started by startServer, stopped by close. */
  metrics: Metrics;
  /** Read-your-writes: waits until the read models include the event at `position`. */
  settle: (position: number | null) => Promise<void>;
  close: () => Promise<void>;
};

export type Stores = { eventStore: EventStore; readStore: ReadStore; blobs: BlobStore; auth: AuthDatabase; keyStore: KeyStore; close: () => Promise<void> };

/**
 * Embedded SQLite unless EVENTSTORE_CONNECTION_STRING / MONGODB_URI name production stores; the
 * two choices are independent (EventStoreDB with SQLite read models works, and so on). The
 * production clients are imported only when configured: loading them costs start-up time.
 */
export async function openStores(config: Config): Promise<Stores> {
  let sqlite: SqliteHandle | null = null;
  const embedded = () => (sqlite ??= openSqlite(join(config.dataDir, 'kinbot.db')));
  const eventStore = config.eventStoreConnectionString
    ? (await import('./stores/eventstoredb/eventStore.js')).createEventStoreDbEventStore(config.eventStoreConnectionString)
    : createSqliteEventStore(embedded());
  let mongo: MongoClient | null = null;
  let readStore: ReadStore;
  let blobs: BlobStore;
  let auth: AuthDatabase;
  if (config.mongodbUri) {
    const { MongoClient } = await import('mongodb');
    const { createMongoReadStore } = await import('./stores/mongodb/readStore.js');
    const { createGridFsBlobStore } = await import('./stores/blobs/gridFsBlobStore.js');
    mongo = new MongoClient(config.mongodbUri);
    await mongo.connect();
    const db = mongo.db();
    readStore = await createMongoReadStore(config.mongodbUri);
    blobs = createGridFsBlobStore(db);
    auth = { kind: 'mongodb', db, client: mongo };
  } else {
    readStore = createSqliteReadStore(embedded());
    blobs = createFolderBlobStore(join(config.dataDir, 'blobs'));
    auth = { kind: 'sqlite', path: join(config.dataDir, 'auth.db') };
  }
  // Wrapped data keys (src/lib/secrets.ts) live apart from the read models, which can be wiped and rebuilt.
  const keyStore = config.mongodbUri
    ? await (await import('./stores/mongodb/keyStore.js')).createMongoKeyStore(config.mongodbUri)
    : createSqliteKeyStore(join(config.dataDir, 'keys.db'));
  await adoptLegacyDataKeys(readStore, keyStore);
  return {
    eventStore,
    readStore,
    blobs,
    auth,
    keyStore,
    async close() {
      await eventStore.close();
      await readStore.close();
      await keyStore.close();
      await mongo?.close();
      const handle = sqlite as SqliteHandle | null;
      if (handle?.db.open) handle.db.close();
    },
  };
}

export async function openServices(config: Config, log: Logger, options: { logs?: LogBuffer } = {}): Promise<Services> {
  const stores = await openStores(config);
  // Appends are timed from the start; the metrics themselves need the projections, built below.
  let appendMetrics: Metrics | null = null;
  const eventStore = measuredEventStore(stores.eventStore, () => appendMetrics);
  const { readStore, blobs } = stores;
  let projections: ProjectionRunner | null = null;
  let reactors: ReactorRunner | null = null;
  const runCommand = createCommandRunner(eventStore, {
    onAppended: () => {
      projections?.notify();
      reactors?.notify();
    },
  });
  projections = createProjectionRunner({
    eventStore,
    readStore,
    projections: allProjections,
    onError: (name, error) => log.error({ err: error, projection: name }, 'projection failed; retrying'),
  });
  const settle = async (position: number | null) => {
    if (position === null) return;
    if (!(await projections.waitFor(position))) log.warn({ position }, 'read models did not catch up in time');
  };
  const live = createLiveFeed({
    eventStore,
    readStore,
    projections,
    mappers: allLiveMappers,
    onError: (error) => log.error({ err: error }, 'live feed mapping failed'),
  });
  const metrics = createMetrics({ eventStore: stores.eventStore, projections, liveListeners: () => live.listenerCount() });
  appendMetrics = metrics;
  const logs = options.logs ?? createLogBuffer();
  const stopLogEntries = streamLogEntriesToAdmins(logs, live, readStore);
  const auth = await createAuth(config, stores.auth, signUpHooks({ eventStore, runCommand, settle }), log);
  const contextUsage = new Map<string, ContextUsage>();
  let turnDeps: TurnDeps | null = null;
  const compacting = createCompactor(() => services);
  const memoryJobs = createMemoryJobs(() => services);
  const turns = createTurnRunner({
    readStore,
    runCommand,
    settle,
    log,
    turn: () => (turnDeps ??= createTurnDeps(services, { idleTimeoutMs: config.llmIdleTimeoutMs, maxSteps: config.toolsMaxSteps }, { compaction: (kinId) => activeCompaction(readStore, kinId), afterTurn: compacting.afterTurn, contextUsage })),
    paused: compacting.isCompacting,
  });
  const crons = createCronScheduler({
    config,
    log,
    eventStore,
    readStore,
    runCommand,
    settle,
    projections,
    // The real services object: spawnTask serialises spawns per services instance.
    spawn: (input, metadata) => spawnTask(services, input, metadata),
  });
  reactors = createReactorRunner({
    eventStore,
    readStore,
    reactors: [
      promptAnswerReactor({ runCommand, settle, afterQueued: () => turns.kick() }),
      knowledgeIngestReactor(() => services),
      taskReactor(() => services),
      interKinReactor(() => services),
      quickSessionMemoryReactor(() => services),
      snapshotMemoriesReactor(() => services),
      crons.reactor,
    ],
    onError: (name, error) => log.error({ err: error, reactor: name }, 'reactor failed; retrying'),
  });
  const services: Services = {
    config,
    log,
    eventStore,
    readStore,
    blobs,
    auth,
    runCommand,
    projections,
    live,
    secrets: createSecrets(stores.keyStore, config.encryptionKey),
    metrics,
    turns,
    crons,
    reactors,
    contextUsage,
    compacting,
    memoryJobs,
    logs,
    settle,
    async close() {
      stopLogEntries();
      await reactors.stop();
      await crons.stop();
      await turns.stop();
      await compacting.stop();
      await memoryJobs.stop();
      await live.stop();
      await metrics.stop();
      await projections.stop();
      await stores.close();
    },
  };
  return services;
}
