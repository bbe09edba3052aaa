import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express from 'express';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { createKin } from '../src/commands/kins.js';
import { loadConfig } from '../src/config.js';
import { KINS } from '../src/projections/kins.js';
import { startServer } from '../src/server.js';
import { openServices, type Services } from '../src/services.js';
import { freePort, launchServer } from '../tests/api/process.js';
import { adminCredentials, benchDuration, callApi, isMain, note, printSections, round, withTempDir, type Row, type Section, type Target } from './lib.js';

/**
 * Requests per second through the whole stack (express, authentication, operation table, command
 * runner, read-your-writes wait) on loopback with the embedded SQLite stores, each run paired with
 * a run of a bare Express 5 route just before it, so that every figure is read as a ratio to the
 * machine's ceiling of the same moment (figures drift by tens of percent between runs on a shared
 * machine; a ratio of adjacent runs drifts far less).
 *
 * The bare route and the project both serve from this process, and autocannon fires from a worker
 * thread, so that both are measured under the same conditions. The idle memory is measured apart,
 * in a fresh `npm start` child process on an empty data dir, since this one holds the benchmark's
 * own garbage.
 */

const CONNECTIONS = 10;
const LISTED_KINS = 5_000;
const NEW_KIN = { name: 'Bench Kin', role: 'benchmark', model: 'gpt-4o' };
/** How long the fresh server is left alone after its first answer before its memory is read. */
const IDLE_MS = 3_000;
const root = fileURLToPath(new URL('..', import.meta.url));

/** What a figure should reach, as the issue states it: a ratio to the bare route, and a p99 bound. */
type Goal = { ratio: number; p99Ms?: number };
type Scenario = { title: string; goal?: Goal; options: Omit<autocannon.Options, 'duration'> };

const loadAverage = () => os.loadavg().map((value) => value.toFixed(2)).join(', ');

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** The machine's ceiling: a bare Express 5 route that answers a small JSON. */
async function startBareRoute(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.get('/bare', (_req, res) => {
    res.json({ ok: true, name: 'bare' });
  });
  const server = createServer(app);
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/bare`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function fire(title: string, options: autocannon.Options): Promise<autocannon.Result> {
  note(`http: ${title} for ${String(options.duration)} s…`);
  return autocannon({ connections: CONNECTIONS, workers: 1, ...options });
}

const describeGoal = (goal: Goal | undefined) =>
  goal ? `≥ ${goal.ratio} × bare${goal.p99Ms === undefined ? '' : `, p99 ≤ ${goal.p99Ms} ms`}` : '';

function goalMet(goal: Goal | undefined, ratio: number, result: autocannon.Result): string {
  if (!goal) return '';
  if (result.non2xx > 0 || result.errors > 0) return 'no (failed requests)';
  const met = ratio >= goal.ratio && (goal.p99Ms === undefined || result.latency.p99 <= goal.p99Ms);
  return met ? 'yes' : 'no';
}

/** A bare run, then the scenario: the figure and its ratio to that bare run. */
async function pairedRun(scenario: Scenario, bareUrl: string, duration: number, round_: number): Promise<Row> {
  const bare = await fire(`bare Express route (paired with ${scenario.title})`, { url: bareUrl, duration });
  const project = await fire(scenario.title, { ...scenario.options, duration });
  const ratio = bare.requests.average > 0 ? project.requests.average / bare.requests.average : 0;
  return {
    round: round_,
    benchmark: scenario.title,
    'req/s': round(project.requests.average),
    'p50 ms': round(project.latency.p50, 1),
    'p99 ms': round(project.latency.p99, 1),
    'non-2xx': project.non2xx + project.errors,
    'bare req/s': round(bare.requests.average),
    '× bare': round(ratio, 3),
    goal: describeGoal(scenario.goal),
    met: goalMet(scenario.goal, ratio, project),
  };
}

/** Signs up the first user (an admin): an API key, the session cookie, and one Kin to read. */
async function prepare(target: Target) {
  const { apiKey, cookie } = await adminCredentials(target);
  const kin = await callApi(target, '/api/kins', { headers: { 'x-api-key': apiKey }, body: NEW_KIN });
  const kinId = (kin.body.kin as { id?: unknown } | undefined)?.id;
  if (typeof kinId !== 'string') throw new Error('POST /api/kins did not return a Kin id');
  return { apiKey, cookie, kinId };
}

/** Creates Kins through the command layer (not HTTP, which is not what this step measures) up to `count`. */
async function fillKins(services: Services, count: number): Promise<number> {
  const existing = await services.readStore.collection(KINS).count();
  if (existing >= count) return existing;
  note(`http: creating ${count - existing} Kins through the command layer…`);
  const deps = { runCommand: services.runCommand, eventStore: services.eventStore, readStore: services.readStore, dataDir: services.config.dataDir };
  let next = existing;
  let last: number | null = null;
  const worker = async () => {
    while (next < count) {
      const index = ++next;
      const input = { name: `Listed Kin ${index}`, role: 'benchmark', model: 'gpt-4o', character: '', expertise: '', providerId: null, mcpServerIds: [] };
      const metadata = { actor: { kind: 'system' as const, id: 'bench' }, correlationId: uuidv7(), now: new Date() };
      const { position } = await createKin(deps, input, metadata);
      last = Math.max(last ?? 0, position ?? 0);
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  await services.settle(last);
  return services.readStore.collection(KINS).count();
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

function benchRounds(): number {
  const raw = process.env.BENCH_ROUNDS;
  const rounds = raw === undefined || raw === '' ? 1 : Number(raw);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_ROUNDS must be a positive integer, not "${raw}"`);
  return rounds;
}

async function throughput(duration: number): Promise<Section> {
  const loadBefore = loadAverage();
  const rows = await withTempDir('http', async (dataDir) => {
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const services = await openServices(config, pino({ level: 'silent' }));
    const server = await startServer(services, 0);
    const bare = await startBareRoute();
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const { apiKey, cookie, kinId } = await prepare({ base, origin: config.publicUrl });
      const rows: Row[] = [];
      for (let round_ = 1; round_ <= benchRounds(); round_++) {
        const reads: Scenario[] = [
          { title: 'GET /healthz (no auth)', options: { url: `${base}/healthz` } },
          { title: 'GET /api/kins/:id (X-API-Key)', goal: { ratio: 0.5 }, options: { url: `${base}/api/kins/${kinId}`, headers: { 'x-api-key': apiKey } } },
          { title: 'GET /api/kins/:id (session cookie)', goal: { ratio: 0.5 }, options: { url: `${base}/api/kins/${kinId}`, headers: { cookie } } },
        ];
        for (const scenario of reads) rows.push(await pairedRun(scenario, bare.url, duration, round_));
        const listed = await fillKins(services, LISTED_KINS);
        const list: Scenario = {
          title: `GET /api/kins (${listed.toLocaleString('en-US')} Kins, X-API-Key)`,
          goal: { ratio: 0.02 },
          options: { url: `${base}/api/kins`, headers: { 'x-api-key': apiKey } },
        };
        rows.push(await pairedRun(list, bare.url, duration, round_));
        const create: Scenario = {
          title: 'POST /api/kins (X-API-Key)',
          goal: { ratio: 0.075, p99Ms: 50 },
          options: { url: `${base}/api/kins`, method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify(NEW_KIN) },
        };
        rows.push(await pairedRun(create, bare.url, duration, round_));
        await quiesce(services);
      }
      return rows;
    } finally {
      await bare.close();
      await server.close();
    }
  });
  return {
    title: `HTTP (${CONNECTIONS} connections, ${duration} s per run, each run paired with a bare Express 5 route run just before it; loopback, SQLite stores; load average ${loadBefore} before, ${loadAverage()} after)`,
    rows,
  };
}

/** dist/ as `npm start` would build it when src/ changed, built beforehand so that the measured process does not build. */
function ensureBuilt(): void {
  const build = "const b = await import('./scripts/build.mjs'); if (b.isStale()) await b.buildDist();";
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', build], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('building dist/ failed');
}

/** Resident memory of a process in MB (Linux: /proc; elsewhere: ps). */
function rssMb(pid: number): number {
  if (process.platform === 'linux') {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
    if (line) return Number(line.replace(/\D+/g, '')) / 1024;
  }
  return Number(spawnSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim()) / 1024;
}

async function idleMemory(): Promise<Section> {
  ensureBuilt();
  const row = await withTempDir('rss', async (dataDir) => {
    note('http: idle memory of a fresh `npm start`…');
    const started = performance.now();
    const child = await launchServer(dataDir, await freePort(), {}, 'npm start');
    const answeredMs = performance.now() - started;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      const rss = rssMb(child.pid!);
      return {
        benchmark: 'npm start (node scripts/start.mjs → dist/main.js), empty data dir',
        'first answer ms (±50)': round(answeredMs),
        [`RSS MB, ${IDLE_MS / 1000} s after`]: round(rss, 1),
        goal: 'RSS ≤ 150 MB',
        met: rss <= 150 ? 'yes' : 'no',
      };
    } finally {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    }
  });
  return { title: 'Idle memory after start-up (fresh child process)', rows: [row] };
}

export async function benchHttp(): Promise<Section[]> {
  const duration = benchDuration();
  return [await throughput(duration), await idleMemory()];
}

if (isMain(import.meta.url)) printSections(await benchHttp());
