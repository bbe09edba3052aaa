import autocannon from 'autocannon';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { openServices, type Services } from '../src/services.js';
import { benchDuration, isMain, note, printSections, round, withTempDir, type Row, type Section, adminApiKey, callApi } from './lib.js';

/**
 * Incoming webhook ingestion through the whole stack, on loopback with the embedded SQLite stores:
 * POST /api/webhooks/incoming/:id with the right token (rate limit, read-model lookup, hashed
 * token comparison, raw body, filter) → the payload event in the webhook's log stream → the Kin's
 * turn queued (MessageQueued) → read-your-writes wait → 200.
 *
 * The LLM is never called, and each scenario says how:
 * - "turn queued, turn runner stopped": the queue worker is stopped before the run, so accepted
 *   payloads stay queued; this is the ingestion path alone.
 * - "turn queued, runner on, no provider": the worker runs and every turn fails fast (the Kin has
 *   no provider: "No LLM provider available"), recording TurnStarted and TurnFailed while the
 *   payloads arrive — the cost of the turns minus the model.
 * - "filtered out": the webhook's filter turns every payload away: logged, no turn.
 *
 * The spec's limit of 60 requests per minute per webhook would refuse almost everything, so it is
 * raised through its configuration variable, WEBHOOKS_RATE_LIMIT_PER_MINUTE (the limiter still
 * runs on every request). Each scenario gets a fresh server and data dir; the server runs in this
 * process and autocannon fires from a worker thread.
 */

const CONNECTIONS = 10;
const PAYLOAD = JSON.stringify({
  action: 'completed',
  workflow_run: { id: 9_876_543_210, name: 'CI', head_branch: 'main', conclusion: 'success', html_url: 'https://ci.example.com/runs/9876543210' },
  repository: { full_name: 'example/kinbot', private: false },
  sender: { login: 'octocat' },
});

type Scenario = { name: string; runner: 'stopped' | 'running'; filtered: boolean };

const SCENARIOS: Scenario[] = [
  { name: 'turn queued, turn runner stopped', runner: 'stopped', filtered: false },
  { name: 'turn queued, runner on, no provider', runner: 'running', filtered: false },
  { name: 'filtered out (logged, no turn)', runner: 'running', filtered: true },
];

/** An admin, an API key, a Kin without provider and one webhook; returns the webhook and its token. */
async function prepare(base: string, origin: string, filtered: boolean) {
  const target = { base, origin };
  const key = await adminApiKey(target);
  const headers = { 'x-api-key': key };
  const kin = await callApi(target, '/api/kins', { headers, body: { name: 'Receiver', role: 'benchmark', model: 'gpt-4o' } });
  const webhook = await callApi(target, '/api/webhooks', { headers, body: { kinId: kin.body.kin.id, name: 'CI' } });
  const { id, token } = webhook.body.webhook as { id: string; token: string };
  if (filtered) {
    const filter = { filterMode: 'simple', filterField: 'action', filterAllowedValues: ['requested'] };
    await callApi(target, `/api/webhooks/${id}`, { method: 'PATCH', headers, body: filter });
  }
  return { webhookId: id, token };
}

/** Waits until the log stops growing, so that nothing writes into the data dir after it is removed. */
async function quiesce(services: Services): Promise<void> {
  let head = await services.eventStore.headPosition();
  for (let quiet = 0, rounds = 0; quiet < 2 && rounds < 80; rounds++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await services.eventStore.headPosition();
    quiet = now === head ? quiet + 1 : 0;
    head = now;
  }
}

async function runScenario(scenario: Scenario, duration: number): Promise<Row> {
  return withTempDir('webhooks', async (dataDir) => {
    const env = { ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', WEBHOOKS_RATE_LIMIT_PER_MINUTE: '1000000000' };
    const config = loadConfig(env);
    const services = await openServices(config, pino({ level: 'silent' }));
    const server: RunningServer = await startServer(services, 0);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const { webhookId, token } = await prepare(base, config.publicUrl, scenario.filtered);
      if (scenario.runner === 'stopped') await services.turns.stop();
      note(`webhooks: ${scenario.name} for ${duration} s…`);
      const result = await autocannon({
        url: `${base}/api/webhooks/incoming/${webhookId}`,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: PAYLOAD,
        connections: CONNECTIONS,
        duration,
        workers: 1,
      });
      await quiesce(services);
      const logged = (await services.eventStore.readStream(`webhooklog-${webhookId}`)).length;
      const queue = services.readStore.collection('queue_items');
      const queued = await queue.count({ sourceId: webhookId });
      const failedFast = await queue.count({ sourceId: webhookId, status: 'failed' });
      const ok = result['2xx'];
      return {
        scenario: scenario.name,
        'accepted/s': round(ok / duration),
        'p50 ms': round(result.latency.p50, 1),
        'p99 ms': round(result.latency.p99, 1),
        '200s': ok,
        'non-2xx': result.non2xx,
        errors: result.errors,
        'log events': logged,
        'turns queued': queued,
        'turns failed fast': failedFast,
      };
    } finally {
      await server.close();
    }
  });
}

export async function benchWebhooks(): Promise<Section> {
  const duration = benchDuration();
  const rows: Row[] = [];
  for (const scenario of SCENARIOS) rows.push(await runScenario(scenario, duration));
  return {
    title: `Incoming webhook ingestion (${CONNECTIONS} connections, ${duration} s each, ${PAYLOAD.length}-byte JSON payload, loopback, SQLite stores, LLM never called)`,
    rows,
  };
}

if (isMain(import.meta.url)) printSections([await benchWebhooks()]);
