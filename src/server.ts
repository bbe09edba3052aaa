import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import { createApp } from './app.js';
import type { Graphql } from './graphql/server.js';
import type { Operation } from './rest/operation.js';
import type { ReadStore } from './es/readStore.js';
import { KNOWLEDGE_CHUNKS } from './projections/knowledge.js';
import { MEMORIES } from './projections/memories.js';
import type { SqliteReadStore } from './stores/sqlite/readStore.js';
import { operationTable } from './rest/index.js';
import { serveMetricsPort } from './rest/metrics.js';
import { scheduleNotificationPurge } from './jobs/notificationRetention.js';
import { scheduleQuickSessionCleanup } from './jobs/quickSessionCleanup.js';
import { scheduleWebhookLogRetention } from './jobs/webhookLogRetention.js';
import { scheduleInterKinTimeouts } from './jobs/interKinTimeouts.js';
import { startRecurringJobs } from './jobs/recurringJobs.js';
import { fileStorageCleanupJob } from './jobs/fileStorageCleanup.js';
import type { Services } from './services.js';

export type RunningServer = { server: Server; port: number; close: () => Promise<void> };

/** How long a shutdown waits for requests in progress before cutting them off. */
const DRAIN_MS = 10_000;

/** Streams (SSE) never finish by themselves, so a shutdown does not wait for them. */
const isStream = (req: IncomingMessage) => (req.headers.accept ?? '').includes('text/event-stream');

/** Counts requests in progress, so that a shutdown lets them finish before closing the stores. */
function trackRequests(server: Server) {
  let active = 0;
  let drained: (() => void) | null = null;
  server.on('request', (req, res) => {
    if (isStream(req)) return;
    active++;
    res.on('close', () => {
      if (--active === 0) drained?.();
    });
  });
  return (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      if (active === 0) return resolve();
      drained = resolve;
      setTimeout(resolve, timeoutMs).unref();
    });
}

/** GraphQL is loaded this long after the server listens, unless a GraphQL request asks first. */
/**
 * GraphQL (its libraries, and a schema built from every operation) costs more start-up time than
 * the rest of the app together, and some 15 MB of memory, for an API that only admins use: it is
 * loaded by the first /graphql request or websocket, which waits for it (about half a second).
 */
function deferredGraphql(services: Services, operations: Operation[]) {
  let loading: Promise<Graphql> | null = null;
  const load = () => (loading ??= import('./graphql/server.js').then(({ createGraphql }) => createGraphql(services, operations)));
  return {
    handler: (req: Request, res: Response, next: NextFunction) => load().then((graphql) => graphql.handler(req, res, next), next),
    /** Serves GraphQL websockets (once loaded); the result detaches them. */
    attachWebSockets(server: Server): () => Promise<void> {
      let detach: (() => Promise<void>) | null = null;
      let attached: Promise<void> | null = null;
      const attach = () =>
        (attached ??= load().then((graphql) => {
          server.off('upgrade', early);
          detach = graphql.attachWebSockets(server);
        }));
      // An upgrade that arrives before the websocket server exists is handed to it once it does.
      const early = (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        void attach().then(() => server.emit('upgrade', req, socket, head), () => socket.destroy());
      server.on('upgrade', early);
      return async () => {
        server.off('upgrade', early);
        await attached?.catch(() => undefined);
        await detach?.();
      };
    },
  };
}

const canWarm = (store: ReadStore): store is SqliteReadStore => typeof (store as Partial<SqliteReadStore>).warmSearchIndex === 'function';

/**
 * Loads the vector indexes of memories and knowledge in the background, so that the first search
 * after a restart does not load them itself; until they are loaded and indexed, searches scan
 * exactly (see warmSearchIndex).
 */
function warmVectorIndexes(services: Services): void {
  const { readStore } = services;
  if (!canWarm(readStore)) return;
  for (const index of [MEMORIES, KNOWLEDGE_CHUNKS]) {
    readStore.warmSearchIndex(index).catch((error: unknown) => services.log.warn({ err: error, index }, 'vector index warm-up failed'));
  }
}

/** Starts the projections, then serves the app; `close` stops both and the stores. */
export async function startServer(services: Services, port = services.config.port): Promise<RunningServer> {
  await services.projections.start();
  await services.metrics.start();
  await services.live.start();
  await services.turns.start();
  // Before the reactors: the cron-scheduler reactor needs agenda running.
  await services.crons.start();
  await services.reactors.start();
  const operations = operationTable(services);
  const graphql = deferredGraphql(services, operations);
  const app = createApp(services, operations, graphql.handler);
  const server = createServer(app);
  const drain = trackRequests(server);
  // SSE clients are pinged every 15 s; keep idle sockets open well past that.
  server.keepAliveTimeout = 255_000;
  server.headersTimeout = 256_000;
  await new Promise<void>((resolve) => server.listen(port, services.config.host, resolve));
  const detachWebSockets = graphql.attachWebSockets(server);
  warmVectorIndexes(services);
  const stopPurge = scheduleNotificationPurge(services);
  const stopQuickSessionCleanup = scheduleQuickSessionCleanup(services);
  const stopWebhookLogRetention = scheduleWebhookLogRetention(services);
  const stopInterKinTimeouts = scheduleInterKinTimeouts(services);
  const stopMetricsPort = await serveMetricsPort(services);
  const recurringJobs = await startRecurringJobs(services, [fileStorageCleanupJob(services)]);
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      stopPurge();
      stopQuickSessionCleanup();
      stopWebhookLogRetention();
      stopInterKinTimeouts();
      await recurringJobs.stop();
      await stopMetricsPort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await detachWebSockets();
      await drain(DRAIN_MS);
      server.closeAllConnections();
      await closed;
      await services.close();
    },
  };
}
