import autocannon from 'autocannon';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { openServices, type Services } from '../src/services.js';
import { benchDuration, isMain, note, printSections, round, withTempDir, type Row, type Section, adminApiKey, callApi, type Target } from './lib.js';

/**
 * Requests per second through the whole stack (express, Better Auth API-key check, operation table,
 * command runner, read-your-writes wait) on loopback, with the embedded SQLite stores.
 *
 * The server runs in this process; autocannon fires from a worker thread so that the load
 * generator does not share the server's event loop.
 */

const CONNECTIONS = 10;
const NEW_KIN = { name: 'Bench Kin', role: 'benchmark', model: 'gpt-4o' };

type Credentials = { apiKey: string; kinId: string };

/** Signs up the first user (an admin), creates an API key with its session, and one Kin to read. */
async function prepare(target: Target): Promise<Credentials> {
  const apiKey = await adminApiKey(target);
  const kin = await callApi(target, '/api/kins', { headers: { 'x-api-key': apiKey }, body: NEW_KIN });
  const kinId = (kin.body.kin as { id?: unknown } | undefined)?.id;
  if (typeof kinId !== 'string') throw new Error('POST /api/kins did not return a Kin id');
  return { apiKey, kinId };
}

/**
 * autocannon stops at its deadline without waiting for the responses in flight; their handlers
 * keep running (and creating workspace folders). Wait until the log stops growing before closing,
 * so that nothing writes into the data dir after it is removed.
 */
async function quiesce(services: Services): Promise<void> {
  let head = await services.eventStore.headPosition();
  for (let quiet = 0, rounds = 0; quiet < 2 && rounds < 40; rounds++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await services.eventStore.headPosition();
    quiet = now === head ? quiet + 1 : 0;
    head = now;
  }
}

async function fire(title: string, options: autocannon.Options): Promise<Row> {
  note(`http: ${title} for ${String(options.duration)} s…`);
  const result = await autocannon({ connections: CONNECTIONS, workers: 1, ...options });
  return {
    benchmark: title,
    'req/s': round(result.requests.average),
    'p50 ms': round(result.latency.p50, 1),
    'p99 ms': round(result.latency.p99, 1),
    requests: result.requests.total,
    'non-2xx': result.non2xx,
    errors: result.errors,
  };
}

export async function benchHttp(): Promise<Section> {
  const duration = benchDuration();
  return withTempDir('http', async (dataDir) => {
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const services = await openServices(config, pino({ level: 'silent' }));
    const server = await startServer(services, 0);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const { apiKey, kinId } = await prepare({ base, origin: config.publicUrl });
      const rows = [
        await fire('GET /api/kins/:id', {
          url: `${base}/api/kins/${kinId}`,
          duration,
          headers: { 'x-api-key': apiKey },
        }),
        await fire('POST /api/kins', {
          url: `${base}/api/kins`,
          method: 'POST',
          duration,
          headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
          body: JSON.stringify(NEW_KIN),
        }),
      ];
      await quiesce(services);
      return { title: `HTTP (${CONNECTIONS} connections, ${duration} s each, loopback, SQLite stores)`, rows };
    } finally {
      await server.close();
    }
  });
}

if (isMain(import.meta.url)) printSections([await benchHttp()]);
