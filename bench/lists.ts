import autocannon from 'autocannon';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import { kinEventSchema, kinStream } from '../src/events/kins.js';
import { startServer } from '../src/server.js';
import { openServices, type Services } from '../src/services.js';
import { adminApiKey, benchDuration, isMain, note, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * GET /api/kins with many Kins (issue 12: "GET /api/kins with 5,000 Kins"): a full answer, and a
 * client that revalidates with If-None-Match (a 304 without a body). `BENCH_KINS` changes the count.
 */

const CONNECTIONS = 10;

const kinCount = (): number => {
  const count = Number(process.env.BENCH_KINS ?? 5000);
  if (!Number.isInteger(count) || count < 1) throw new Error(`BENCH_KINS must be a positive integer, not "${process.env.BENCH_KINS}"`);
  return count;
};

/**
 * Appends the Kins' creation events straight to the log (what POST /api/kins records, without its
 * slug claims and workspace folders, which the list does not read), then waits for the read models.
 * Seeding through HTTP took minutes on a loaded machine.
 */
async function seedKins(services: Services, count: number): Promise<void> {
  const createdAt = new Date().toISOString();
  for (let index = 0; index < count; index++) {
    const kinId = uuidv7();
    const { type, data } = kinEventSchema.parse({
      type: 'KinCreated',
      data: {
        kinId,
        slug: `kin-${index}`,
        name: `Kin ${index}`,
        role: 'benchmark',
        character: '',
        expertise: '',
        model: 'gpt-4o',
        providerId: null,
        mcpServerIds: [],
        workspacePath: `/nowhere/${kinId}`,
        createdBy: null,
        createdAt,
      },
    });
    const metadata = { actor: { kind: 'system' as const, id: 'bench' }, correlationId: kinId, causationId: kinId, occurredAt: createdAt, schemaVersion: 1 };
    await services.eventStore.append(kinStream(kinId), [{ type, data, metadata }], 'no_stream');
  }
  if (!(await services.projections.waitFor(await services.eventStore.headPosition(), 120_000))) throw new Error('The read models did not catch up');
}

async function fire(title: string, options: autocannon.Options): Promise<Row> {
  note(`lists: ${title} for ${String(options.duration)} s…`);
  const result = await autocannon({ connections: CONNECTIONS, workers: 1, ...options });
  return {
    benchmark: title,
    'req/s': round(result.requests.average),
    'p50 ms': round(result.latency.p50, 1),
    'p99 ms': round(result.latency.p99, 1),
    'MB/s': round(result.throughput.average / 1e6, 1),
    requests: result.requests.total,
    'non-2xx': result.non2xx,
    errors: result.errors,
  };
}

export async function benchLists(): Promise<Section> {
  const duration = benchDuration();
  const count = kinCount();
  return withTempDir('lists', async (dataDir) => {
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const services = await openServices(config, pino({ level: 'silent' }));
    const server = await startServer(services, 0);
    try {
      const target = { base: `http://127.0.0.1:${server.port}`, origin: config.publicUrl };
      const apiKey = await adminApiKey(target);
      note(`lists: creating ${count} Kins…`);
      await seedKins(services, count);
      const url = `${target.base}/api/kins`;
      const first = await fetch(url, { headers: { 'x-api-key': apiKey } });
      const listed = ((await first.json()) as { kins: unknown[] }).kins.length;
      if (listed !== count) throw new Error(`GET /api/kins listed ${listed} Kins, not ${count}`);
      const etag = first.headers.get('etag');
      const rows = [await fire(`GET /api/kins (${count} Kins)`, { url, duration, headers: { 'x-api-key': apiKey } })];
      // Without an ETag there is nothing to revalidate: the row is left out rather than faked.
      if (etag) {
        rows.push(await fire(`GET /api/kins (${count} Kins), If-None-Match → 304`, { url, duration, headers: { 'x-api-key': apiKey, 'if-none-match': etag } }));
      }
      return { title: `Lists (${CONNECTIONS} connections, ${duration} s each, loopback, SQLite stores)`, rows };
    } finally {
      await server.close();
    }
  });
}

if (isMain(import.meta.url)) printSections([await benchLists()]);
