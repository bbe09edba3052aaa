import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import type { EventStore, NewEvent } from '../src/es/eventStore.js';
import { rebuildProjections } from '../src/es/projections.js';
import { memoryEventSchema, memoryStream } from '../src/events/memories.js';
import { allProjections } from '../src/projections/index.js';
import { kinStream } from '../src/events/kins.js';
import { openServices, openStores } from '../src/services.js';
import { pino } from 'pino';
import { EVENTS_PER_KIN, kinHistory } from './replay.js';
import { isMain, note, perSecond, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * How long `npm start` takes to answer its first request: `node dist/main.js` is spawned and
 * GET /healthz polled until it answers. First on an empty data directory (several runs), then
 * restarted on a log of 1,000,000 events whose read models are current (written straight through
 * the event store in batches, projected once in this process). The log's memories carry vectors,
 * so the restart also loads a vector index (in the background: it must not delay the answer).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EMPTY_RUNS = 5;
const LOG_EVENTS = 1_000_000;
const MEMORIES = 10_000;
const DIMENSIONS = 256;
/** Streams appended concurrently: the event store commits appends that arrive together as one group. */
const CONCURRENT_APPENDS = 500;
const POLL_MS = 5;
const GIVE_UP_MS = 60_000;

/** Builds dist/ first if src/ changed since (what `npm start` does before it starts the clock). */
async function ensureBuilt(): Promise<void> {
  const build = (await import(path.join(root, 'scripts/build.mjs'))) as { isStale(): boolean; buildDist(): Promise<number> };
  if (build.isStale()) {
    note('startup: building dist/…');
    await build.buildDist();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const serverEnv = (dataDir: string, port: number): NodeJS.ProcessEnv => {
  const { EVENTSTORE_CONNECTION_STRING: _es, MONGODB_URI: _mongo, ...env } = process.env;
  return { ...env, KINBOT_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent' };
};

/**
 * CPU milliseconds a process has used (Linux /proc; NaN elsewhere): on a shared machine, the wall
 * time to the first answer grows with the load, its CPU time much less.
 */
function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

type FirstAnswer = { ms: number; cpuMs: number };

/** Spawns the compiled server and measures the time until /healthz answers 200; then stops it. */
export async function timeToFirstAnswer(dataDir: string, main = path.join(root, 'dist/main.js')): Promise<FirstAnswer> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [main], { cwd: root, env: serverEnv(dataDir, port), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`The server exited with ${child.exitCode}: ${stderr}`);
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`No answer from /healthz within ${GIVE_UP_MS} ms: ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) return { ms: performance.now() - started, cpuMs: cpuMsOf(child.pid!) };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * A server that wrote this log would have run its reactors along: runs them over it once (no HTTP),
 * until every reactor checkpoint is at the head and no new one appeared for a while.
 */
export async function catchUpReactors(dataDir: string): Promise<void> {
  const services = await openServices(loadConfig({ KINBOT_DATA_DIR: dataDir }), pino({ level: 'silent' }));
  try {
    const head = await services.eventStore.headPosition();
    await services.reactors.start();
    let seen = -1;
    let stableSince = performance.now();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const checkpoints = await services.readStore.collection<{ id: string; position: number }>('reactor_checkpoints').find();
      if (checkpoints.length !== seen || checkpoints.some((checkpoint) => checkpoint.position < head)) {
        seen = checkpoints.length;
        stableSince = performance.now();
      } else if (performance.now() - stableSince > 2000) return;
    }
  } finally {
    await services.close();
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A memory with a vector, as the memory tools record it (checked against its schema). */
function memoryCreated(index: number, kinId: string, at: string): NewEvent {
  const embedding = Array.from({ length: DIMENSIONS }, (_, i) => Math.round(Math.sin(index * 7.3 + i) * 1e4) / 1e4);
  const { type, data } = memoryEventSchema.parse({
    type: 'MemoryCreated',
    data: {
      memoryId: uuidv7(),
      kinId,
      content: `Remembered fact number ${index} about topic ${index % 97}`,
      category: 'fact',
      subject: null,
      scope: 'private',
      sourceChannel: 'explicit',
      sourceMessageId: null,
      sourceContext: null,
      importance: 5,
      consolidationGeneration: 0,
      consolidatedFromIds: null,
      embedding,
      embeddingModel: 'bench-embedding',
      createdAt: at,
    },
  });
  const correlationId = uuidv7();
  return { type, data, metadata: { actor: { kind: 'system', id: 'bench' }, correlationId, causationId: correlationId, occurredAt: at, schemaVersion: 1 } };
}

/** Writes LOG_EVENTS events: Kin histories, and MEMORIES memories with vectors. */
export async function writeLog(eventStore: EventStore): Promise<number> {
  const started = performance.now();
  const start = Date.parse('2026-01-01T00:00:00Z');
  const kins = (LOG_EVENTS - MEMORIES) / EVENTS_PER_KIN;
  const appends: (() => Promise<unknown>)[] = [
    ...Array.from({ length: kins }, (_, index) => () => eventStore.append(kinStream(`startup-${index}`), kinHistory(index, start), 'no_stream')),
    ...Array.from({ length: MEMORIES }, (_, index) => () => {
      const event = memoryCreated(index, `kin-${index % 100}`, new Date(start + index).toISOString());
      return eventStore.append(memoryStream((event.data as { memoryId: string }).memoryId), [event], 'no_stream');
    }),
  ];
  for (let from = 0; from < appends.length; from += CONCURRENT_APPENDS) {
    await Promise.all(appends.slice(from, from + CONCURRENT_APPENDS).map((append) => append()));
    if (from % 20_000 === 0) note(`startup: ${from.toLocaleString('en-US')} / ${appends.length.toLocaleString('en-US')} appends…`);
  }
  return (performance.now() - started) / 1000;
}

export async function benchStartup(): Promise<Section[]> {
  await ensureBuilt();
  const empty: FirstAnswer[] = [];
  for (let run = 0; run < EMPTY_RUNS; run++) {
    note(`startup: empty data directory, run ${run + 1} of ${EMPTY_RUNS}…`);
    empty.push(await withTempDir('startup-empty', (dir) => timeToFirstAnswer(dir)));
  }
  const restart = await withTempDir('startup-log', async (dir): Promise<Row> => {
    // A data directory that has served once (secrets, auth database), then a long history.
    const firstStart = await timeToFirstAnswer(dir);
    const stores = await openStores(loadConfig({ KINBOT_DATA_DIR: dir }));
    let writeSeconds: number;
    let projected: { events: number; seconds: number };
    try {
      note(`startup: writing ${LOG_EVENTS.toLocaleString('en-US')} events…`);
      writeSeconds = await writeLog(stores.eventStore);
      note('startup: projecting them once…');
      projected = await rebuildProjections({ eventStore: stores.eventStore, readStore: stores.readStore, projections: allProjections });
    } finally {
      await stores.close();
    }
    note('startup: running the reactors over it once…');
    await catchUpReactors(dir);
    note('startup: restarting on that log…');
    const restarts = [await timeToFirstAnswer(dir), await timeToFirstAnswer(dir), await timeToFirstAnswer(dir)];
    return {
      'data directory': `${LOG_EVENTS.toLocaleString('en-US')} events (${MEMORIES.toLocaleString('en-US')} with ${DIMENSIONS}-d vectors)`,
      'first start ms': Math.round(firstStart.ms),
      'restart ms (best of 3)': Math.round(Math.min(...restarts.map((run) => run.ms))),
      'restart ms (median)': Math.round(median(restarts.map((run) => run.ms))),
      'restart cpu ms (median)': Math.round(median(restarts.map((run) => run.cpuMs))),
      'log written in s': round(writeSeconds, 1),
      'projected events/s': perSecond(projected.events, projected.seconds),
    };
  });
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  return [
    {
      title: `Start-up: node dist/main.js until GET /healthz answers (load average ${load})`,
      rows: [
        {
          'data directory': `empty (${EMPTY_RUNS} runs)`,
          'median ms': Math.round(median(empty.map((run) => run.ms))),
          'min ms': Math.round(Math.min(...empty.map((run) => run.ms))),
          'max ms': Math.round(Math.max(...empty.map((run) => run.ms))),
          'cpu ms (median)': Math.round(median(empty.map((run) => run.cpuMs))),
        },
      ],
    },
    { title: 'Restart on a long log (read models current: no rebuild)', rows: [restart] },
  ];
}

if (isMain(import.meta.url)) printSections(await benchStartup());
