import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createGraphql } from './graphql/server.js';
import { operationTable } from './rest/index.js';
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

/** Starts the projections, then serves the app; `close` stops both and the stores. */
export async function startServer(services: Services, port = services.config.port): Promise<RunningServer> {
  await services.projections.start();
  await services.live.start();
  await services.turns.start();
  // Before the reactors: the cron-scheduler reactor needs agenda running.
  await services.crons.start();
  await services.reactors.start();
  const operations = operationTable(services);
  const graphql = createGraphql(services, operations);
  const app = createApp(services, operations, graphql.handler);
  const server = createServer(app);
  const drain = trackRequests(server);
  const detachWebSockets = graphql.attachWebSockets(server);
  // SSE clients are pinged every 15 s; keep idle sockets open well past that.
  server.keepAliveTimeout = 255_000;
  server.headersTimeout = 256_000;
  await new Promise<void>((resolve) => server.listen(port, services.config.host, resolve));
  const stopPurge = scheduleNotificationPurge(services);
  const stopQuickSessionCleanup = scheduleQuickSessionCleanup(services);
  const stopWebhookLogRetention = scheduleWebhookLogRetention(services);
  const stopInterKinTimeouts = scheduleInterKinTimeouts(services);
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
