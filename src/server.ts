import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createGraphql } from './graphql/server.js';
import { operationTable } from './rest/index.js';
import type { Services } from './services.js';

export type RunningServer = { server: Server; port: number; close: () => Promise<void> };

/** Starts the projections, then serves the app; `close` stops both and the stores. */
export async function startServer(services: Services, port = services.config.port): Promise<RunningServer> {
  await services.projections.start();
  await services.live.start();
  const operations = operationTable(services);
  const graphql = createGraphql(services, operations);
  const app = createApp(services, operations, graphql.handler);
  const server = createServer(app);
  const detachWebSockets = graphql.attachWebSockets(server);
  // SSE clients are pinged every 15 s; keep idle sockets open well past that.
  server.keepAliveTimeout = 255_000;
  server.headersTimeout = 256_000;
  await new Promise<void>((resolve) => server.listen(port, services.config.host, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      await detachWebSockets();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
    },
  };
}
