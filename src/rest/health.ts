import { z } from 'zod';
import { createRequire } from 'node:module';
import type { Services } from '../services.js';
import { defineOperation, defineRawOperation, type Operation } from './operation.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
const startedAt = Date.now();

export { version };

async function readiness(services: Services) {
  const check = async (probe: () => Promise<unknown>) =>
    probe().then(
      () => 'ok' as const,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
  const [eventStore, readStore, blobs] = await Promise.all([
    check(() => services.eventStore.ping()),
    check(() => services.readStore.ping()),
    check(() => services.blobs.ping()),
  ]);
  const head = await services.eventStore.headPosition().catch(() => -1);
  const projections = services.projections.status().map((p) => ({ ...p, lag: Math.max(0, head - p.position) }));
  const ready =
    eventStore === 'ok' && readStore === 'ok' && blobs === 'ok' && projections.every((p) => p.lag === 0 && !p.error);
  return { ready, stores: { eventStore, readStore, blobs }, projections };
}

export function healthOperations(services: Services): Operation[] {
  const tags = ['Operations'];
  return [
    defineOperation({
      name: 'health',
      summary: 'Liveness and version (public)',
      method: 'get',
      path: '/api/health',
      auth: 'public',
      tags,
      output: z.object({ status: z.literal('ok'), version: z.string(), uptime: z.number(), timestamp: z.number() }),
      handler: async () => ({
        status: 'ok' as const,
        version,
        uptime: Math.round((Date.now() - startedAt) / 1000),
        timestamp: Date.now(),
      }),
    }),
    defineRawOperation({
      name: 'healthz',
      summary: 'Liveness probe: the process is up',
      method: 'get',
      path: '/healthz',
      auth: 'public',
      tags,
      openapi: { responses: { '200': { description: 'Alive' } } },
      raw: async (_req, res) => void res.json({ status: 'ok' }),
    }),
    defineRawOperation({
      name: 'readyz',
      summary: 'Readiness probe: stores reachable and projections caught up (503 otherwise)',
      method: 'get',
      path: '/readyz',
      auth: 'public',
      tags,
      openapi: { responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready, with the reasons' } } },
      async raw(_req, res) {
        const report = await readiness(services);
        res.status(report.ready ? 200 : 503).json(report);
      },
    }),
  ];
}
