import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Services } from '../src/services.js';
import { adminApiKey, callApi, isMain, note, printSections, round, withTempDir, type Row, type Section, type Target } from './lib.js';

/**
 * The live feed at scale: 1,000 /api/sse clients (raw HTTP requests with an API key, as many
 * sockets) receive the `kin:created` of each POST /api/kins; the latency of a delivery is the time
 * from the POST being sent to the event arriving at a client. Then 50 of the clients stop reading
 * while a flood of admin-only `log:entry` messages fills their sockets: the 950 others (a member,
 * who does not get those entries) must see the same latency, the stuck ones must be dropped, and
 * the server's memory must stay bounded.
 *
 * Memory: RSS is the whole process (the clients' worker included), compared with the idle server
 * before any client; the server's heap (Buffers included) is its own thread's.
 *
 * The server runs in this process; the clients run in a worker thread so that reading 1,000
 * sockets does not share the server's event loop. That worker runs this file too, so the server's
 * modules are imported in the main thread only (loading them in a worker thread hangs).
 */

const CLIENTS = 1000;
const STUCK = 50;
const PROBES = 30;
/** The flood the stuck clients do not read: one admin-only entry of this size every interval. */
const FLOOD_ENTRY_BYTES = 16 * 1024;
const FLOOD_INTERVAL_MS = 5;
const FLOOD_MS = 4000;
/** A probe not seen by every reader in this time counts as lost for those who missed it. */
const PROBE_TIMEOUT_MS = 5000;

type Group = 'readers' | 'stuck';
type ToClients =
  | { op: 'open'; group: Group; count: number; apiKey: string }
  | { op: 'stall'; group: Group }
  | { op: 'report' }
  | { op: 'close' };
type FromClients =
  | { op: 'opened'; group: Group; count: number; failed: number }
  | { op: 'stalled'; group: Group; count: number }
  | { op: 'delivered'; probe: string }
  | { op: 'report'; receipts: Record<string, number[]>; outOfOrder: number }
  | { op: 'closed' };

/** An absolute time in ms with sub-ms precision, comparable between threads. */
const now = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- the clients (worker thread)

function runClients(base: string) {
  const port = parentPort!;
  const requests = new Set<http.ClientRequest>();
  const responses = new Map<Group, http.IncomingMessage[]>([['readers', []], ['stuck', []]]);
  /** probe name → receipt times, one per reader that got it. */
  const receipts = new Map<string, number[]>();
  let readers = 0;
  let outOfOrder = 0;

  function open(group: Group, apiKey: string): Promise<boolean> {
    return new Promise((resolve) => {
      const request = http.get(`${base}/api/sse`, { agent: false, headers: { 'x-api-key': apiKey } }, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          return resolve(false);
        }
        responses.get(group)!.push(response);
        let buffered = '';
        let lastProbe = -1;
        let connected = false;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const at = now();
          buffered += chunk;
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const frame = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            if (!connected && frame.startsWith('event: connected')) {
              connected = true;
              resolve(true);
            }
            if (!frame.includes('"kin:created"')) continue;
            const name = (JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as { name?: string }).name ?? '';
            const index = Number(/^probe-(\d+)$/.exec(name)?.[1] ?? NaN);
            if (Number.isNaN(index)) continue;
            if (index <= lastProbe) outOfOrder++;
            lastProbe = index;
            const times = receipts.get(name) ?? [];
            times.push(at);
            receipts.set(name, times);
            if (times.length === readers) port.postMessage({ op: 'delivered', probe: name } satisfies FromClients);
          }
        });
        response.on('error', () => undefined);
      });
      request.on('error', () => resolve(false));
      requests.add(request);
    });
  }

  port.on('message', async (message: ToClients) => {
    if (message.op === 'open') {
      let opened = 0;
      // In batches, as browsers reconnecting after a restart would, not 1,000 handshakes at once.
      for (let done = 0; done < message.count; done += 50) {
        const batch = Array.from({ length: Math.min(50, message.count - done) }, () => open(message.group, message.apiKey));
        opened += (await Promise.all(batch)).filter(Boolean).length;
      }
      readers += opened;
      port.postMessage({ op: 'opened', group: message.group, count: opened, failed: message.count - opened } satisfies FromClients);
    } else if (message.op === 'stall') {
      // Never read again: their sockets' buffers fill up and the server has to decide.
      const stalled = responses.get(message.group)!;
      for (const response of stalled) response.pause();
      readers -= stalled.length;
      port.postMessage({ op: 'stalled', group: message.group, count: stalled.length } satisfies FromClients);
    } else if (message.op === 'report') {
      port.postMessage({ op: 'report', receipts: Object.fromEntries(receipts), outOfOrder } satisfies FromClients);
      receipts.clear();
      outOfOrder = 0;
    } else {
      for (const request of requests) request.destroy();
      port.postMessage({ op: 'closed' } satisfies FromClients);
    }
  });
}

// ---------------------------------------------------------------- the server side (main thread)

/** The worker runs this same file; tsx is registered in it first, as it is here. */
function startClients(base: string) {
  const tsx = import.meta.resolve('tsx/esm/api');
  const source = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
  const worker = new Worker(source, { eval: true, workerData: { sseClientsOf: base } });
  const waiters: ((message: FromClients) => boolean)[] = [];
  worker.on('message', (message: FromClients) => {
    const index = waiters.findIndex((waiter) => waiter(message));
    if (index >= 0) waiters.splice(index, 1);
  });
  worker.on('error', (error) => note(`sse: client worker failed: ${String(error)}`));
  const expect = <T extends FromClients['op']>(op: T, match: (message: Extract<FromClients, { op: T }>) => boolean = () => true, timeoutMs = 60_000) =>
    new Promise<Extract<FromClients, { op: T }> | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      waiters.push((message) => {
        if (message.op !== op || !match(message as Extract<FromClients, { op: T }>)) return false;
        clearTimeout(timer);
        resolve(message as Extract<FromClients, { op: T }>);
        return true;
      });
    });
  const send = (message: ToClients) => worker.postMessage(message);
  return {
    async open(group: Group, count: number, apiKey: string) {
      const opened = expect('opened', (message) => message.group === group);
      send({ op: 'open', group, count, apiKey });
      const result = await opened;
      if (!result || result.failed > 0) throw new Error(`sse: ${result?.failed ?? count} of ${count} ${group} could not connect`);
    },
    async stall(group: Group) {
      const stalled = expect('stalled', (message) => message.group === group);
      send({ op: 'stall', group });
      await stalled;
    },
    delivered: (probe: string) => expect('delivered', (message) => message.probe === probe, PROBE_TIMEOUT_MS),
    async report() {
      const report = expect('report');
      send({ op: 'report' });
      return (await report)!;
    },
    async close() {
      const closed = expect('closed');
      send({ op: 'close' });
      await closed;
      await worker.terminate();
    },
  };
}

type Clients = ReturnType<typeof startClients>;

const megabytes = (bytes: number) => round(bytes / 1024 / 1024, 1);

// Memory is compared after a full collection, without asking for node --expose-gc.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

function memory() {
  collectGarbage();
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  return { rss, heap: heapUsed + arrayBuffers };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

/**
 * Creates the probe Kins one after another, each once every reader has it (or it timed out); the
 * first `warmUps` are left out of the figures. Probes are numbered across runs, so that a client
 * can tell one that arrives out of order.
 */
async function probe(target: Target, apiKey: string, clients: Clients, first: number, warmUps = 0) {
  const sentAt = new Map<string, number>();
  for (let i = first; i < first + warmUps + PROBES; i++) {
    const name = `probe-${i}`;
    const delivered = clients.delivered(name);
    const sent = now();
    await callApi(target, '/api/kins', { headers: { 'x-api-key': apiKey }, body: { name, role: 'probe', model: 'gpt-4o' } });
    await delivered;
    if (i >= first + warmUps) sentAt.set(name, sent);
  }
  const { receipts, outOfOrder } = await clients.report();
  const latencies = [...sentAt].flatMap(([name, sent]) => (receipts[name] ?? []).map((at) => at - sent)).sort((a, b) => a - b);
  // The first client of each probe shows the path of one event (command, projections, mapping); the rest is the fan-out.
  const firsts = [...sentAt].map(([name, sent]) => Math.min(...(receipts[name] ?? [Infinity])) - sent).sort((a, b) => a - b);
  return { latencies, firsts, outOfOrder, expected: sentAt.size };
}

function latencyRow(title: string, readers: number, result: Awaited<ReturnType<typeof probe>>, extra: Row): Row {
  const { latencies, firsts, outOfOrder, expected } = result;
  return {
    benchmark: title,
    readers,
    'first p50 ms': round(percentile(firsts, 50), 1),
    'p50 ms': round(percentile(latencies, 50), 1),
    'p99 ms': round(percentile(latencies, 99), 1),
    'max ms': round(latencies.at(-1) ?? NaN, 1),
    lost: expected * readers - latencies.length,
    'out of order': outOfOrder,
    ...extra,
  };
}

/**
 * The server's own time to hand one message to every client: the listeners' loop and the socket
 * writes it queues (flushed on the next tick), without the network or the clients' reading.
 */
async function fanOutTimes(services: Services) {
  const times: number[] = [];
  for (let i = 0; i < 100; i++) {
    const start = performance.now();
    services.live.publish({ type: 'chat:token', kinId: 'bench', data: { messageId: 'bench', token: `token ${i} ` } });
    await new Promise((resolve) => setImmediate(resolve));
    times.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  times.sort((a, b) => a - b);
  return { p50: round(percentile(times, 50), 2), p99: round(percentile(times, 99), 2) };
}

/** A member with an API key of their own: the 950 readers, who get no admin-only entries. */
async function memberApiKey(target: Target, adminKey: string): Promise<string> {
  const invitation = await callApi(target, '/api/invitations', { headers: { 'x-api-key': adminKey }, body: {} });
  const member = { name: 'Reader', email: 'reader@example.com', password: 'bench-password-2', invitationToken: invitation.body.invitation.token };
  const signUp = await callApi(target, '/api/auth/sign-up/email', { body: member });
  const cookie = signUp.response.headers.getSetCookie().map((header) => header.split(';', 1)[0]).join('; ');
  const key = (await callApi(target, '/api/auth/api-key/create', { headers: { cookie }, body: { name: 'bench reader' } })).body.key;
  if (typeof key !== 'string') throw new Error('API key creation did not return a key');
  return key;
}

/** Admin-only log entries published straight to the feed, as the server's own logs would be. */
function flood(services: Services, adminId: string) {
  const message = 'x'.repeat(FLOOD_ENTRY_BYTES);
  let sent = 0;
  const timer = setInterval(() => {
    sent++;
    services.live.publish({ type: 'log:entry', userId: adminId, data: { level: 'info', module: 'bench', message, timestamp: Date.now() } });
  }, FLOOD_INTERVAL_MS);
  return { stop: () => clearInterval(timer), sent: () => sent };
}

export async function benchSse(): Promise<Section> {
  const [{ pino }, { loadConfig }, { startServer }, { openServices }] = await Promise.all([
    import('pino'),
    import('../src/config.js'),
    import('../src/server.js'),
    import('../src/services.js'),
  ]);
  return withTempDir('sse', async (dataDir) => {
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const services = await openServices(config, pino({ level: 'silent' }));
    const server = await startServer(services, 0);
    const base = `http://127.0.0.1:${server.port}`;
    const target = { base, origin: config.publicUrl };
    const clients = startClients(base);
    try {
      const adminKey = await adminApiKey(target);
      const adminId = (await callApi(target, '/api/me', { method: 'GET', headers: { 'x-api-key': adminKey } })).body.id as string;
      const memberKey = await memberApiKey(target, adminKey);
      const idle = memory();

      note(`sse: opening ${CLIENTS} connections…`);
      await clients.open('readers', CLIENTS - STUCK, memberKey);
      await clients.open('stuck', STUCK, adminKey);
      const connected = memory();
      note(`sse: ${PROBES} events to ${CLIENTS} clients, all reading…`);
      const allReading = await probe(target, adminKey, clients, 0, 1);
      const afterProbes = memory();
      const fanOut = await fanOutTimes(services);

      note(`sse: the same while ${STUCK} clients stop reading under a flood of ${FLOOD_ENTRY_BYTES / 1024} KB entries…`);
      await clients.stall('stuck');
      const listenersBefore = services.live.listenerCount();
      const floodStart = Date.now();
      const entries = flood(services, adminId);
      const flooded = await probe(target, adminKey, clients, PROBES + 1);
      // Let the flood run its course, so that the stuck clients are past any bound the server keeps.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, FLOOD_MS - (Date.now() - floodStart))));
      entries.stop();
      const afterFlood = memory();
      const dropped = listenersBefore - services.live.listenerCount();

      const mb = megabytes;
      return {
        title: `SSE (${CLIENTS} clients with an API key; ${PROBES} POST /api/kins per row after a warm-up, latency from the POST to each client; RSS ${mb(idle.rss)} MB idle)`,
        rows: [
          latencyRow(`${CLIENTS} reading`, CLIENTS, allReading, {
            'RSS MB': mb(afterProbes.rss),
            'RSS +MB': mb(afterProbes.rss - idle.rss),
            'server heap +MB': mb(afterProbes.heap - idle.heap),
            'connect +MB': mb(connected.rss - idle.rss),
            'fan-out p50 ms': fanOut.p50,
            'fan-out p99 ms': fanOut.p99,
          }),
          latencyRow(`${STUCK} stuck, ${entries.sent()} × ${FLOOD_ENTRY_BYTES / 1024} KB to them`, CLIENTS - STUCK, flooded, {
            'RSS MB': mb(afterFlood.rss),
            'RSS +MB': mb(afterFlood.rss - idle.rss),
            'server heap +MB': mb(afterFlood.heap - idle.heap),
            dropped: `${dropped} of ${STUCK}`,
          }),
        ],
      };
    } finally {
      await clients.close();
      await server.close();
    }
  });
}

if (!isMainThread && typeof (workerData as { sseClientsOf?: unknown } | null)?.sseClientsOf === 'string') {
  runClients((workerData as { sseClientsOf: string }).sseClientsOf);
} else if (isMainThread && isMain(import.meta.url)) {
  printSections([await benchSse()]);
}
