import { createServer } from 'node:http';
import type { Services } from '../services.js';
import { contextFor } from './context.js';
import { defineRawOperation, type Operation } from './operation.js';

const isLoopback = (address: string | undefined) => address === '::1' || /^(::ffff:)?127\./.test(address ?? '');

/**
 * Prometheus text format. Open to a scraper on the same machine (loopback); from anywhere else it
 * takes an admin's session or API key. METRICS_PORT serves the same text on a port of its own.
 */
export function metricsOperations(services: Services): Operation[] {
  return [
    defineRawOperation({
      name: 'metrics',
      summary: 'Prometheus metrics (open on loopback, admins otherwise)',
      method: 'get',
      path: '/metrics',
      auth: 'public',
      tags: ['Operations'],
      openapi: { responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': {} } } } },
      async raw(req, res) {
        if (!isLoopback(req.socket.remoteAddress)) await contextFor(req, services, 'admin');
        res.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics());
      },
    }),
  ];
}

/** METRICS_PORT: the metrics on a port of their own (bound to HOST), for a scraper kept off the API port. */
export async function serveMetricsPort(services: Services): Promise<() => Promise<void>> {
  const port = services.config.metricsPort;
  if (port === null) return async () => {};
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') return void res.writeHead(404).end();
    services.metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': services.metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, services.config.host, resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
