import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { openServices } from '../src/services.js';
import { ANSWER, CLIENT_ROLE, POSTERS, type FromClient, type Scenario, type ScenarioResult, type ToClient } from './conversationClient.js';
import { benchDuration, isMain, note, printSections, round, withTempDir, type Row, type Section } from './lib.js';

/**
 * Conversation turns through the full path, on loopback with the embedded SQLite stores:
 * POST /api/kins/:id/messages (202) → queue → turn runner → ai SDK → an OpenAI-compatible provider
 * (the fake LLM of the tests, answering at once with five streamed words) → `chat:token` messages
 * and `chat:done` on one /api/sse connection.
 *
 * The server runs in this thread, alone; the fake LLM and the client run in a worker thread
 * (bench/conversationClient.ts). Each scenario gets a fresh server and data dir, and warm-up turns
 * that are not counted. A Kin answers its messages one at a time, so parallelism comes from
 * several Kins:
 * - "one message at a time" / "one message in flight each": each Kin's client posts, waits for
 *   chat:done, posts again. Turns/s and the latencies of a conversation as a person has it.
 * - "posted without waiting": 20 concurrent clients post round-robin over the Kins and the Kins
 *   drain their queues; what is not answered by the deadline is not counted.
 */

const KINS = 20;
const MESSAGES = 1_000;
const SEQUENTIAL_MESSAGES = 300;

/** `BENCH_SCENARIOS` (comma-separated parts of names, e.g. "at a time,in flight") runs only the scenarios whose name has one of them. */
function scenarios(seconds: number): Scenario[] {
  const all: Scenario[] = [
    { name: '1 Kin, one message at a time', mode: 'one-in-flight', kins: 1, messages: SEQUENTIAL_MESSAGES, seconds },
    { name: `${KINS} Kins, one message in flight each`, mode: 'one-in-flight', kins: KINS, messages: MESSAGES, seconds },
    { name: `${KINS} Kins, posted without waiting`, mode: 'queued', kins: KINS, messages: MESSAGES, seconds },
    { name: '1 Kin, posted without waiting', mode: 'queued', kins: 1, messages: MESSAGES, seconds },
  ];
  const wanted = (process.env.BENCH_SCENARIOS ?? '').split(',').map((part) => part.trim()).filter(Boolean);
  return wanted.length ? all.filter((scenario) => wanted.some((part) => scenario.name.includes(part))) : all;
}

/** The worker thread runs TypeScript too: tsx's loader hooks are registered there by hand. */
function startClient(): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./conversationClient.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { eval: true, workerData: { role: CLIENT_ROLE } });
}

/** The worker's next message (it answers one request at a time). */
function next(worker: Worker): Promise<FromClient> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (message: FromClient) => {
      cleanup();
      resolve(message);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`the client worker exited (code ${code})`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

async function runOne(worker: Worker, scenario: Scenario): Promise<ScenarioResult> {
  return withTempDir('conversation', async (dataDir) => {
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const services = await openServices(config, pino({ level: 'silent' }));
    const server = await startServer(services, 0);
    try {
      note(`conversation: ${scenario.name} (up to ${scenario.messages} messages or ${scenario.seconds} s)…`);
      const answer = next(worker);
      worker.postMessage({ type: 'run', base: `http://127.0.0.1:${server.port}`, origin: config.publicUrl, scenario } satisfies ToClient);
      const reply = await answer;
      if (reply.type === 'failed') throw new Error(`conversation benchmark "${scenario.name}" failed in the client: ${reply.message}`);
      if (reply.type !== 'result') throw new Error(`unexpected message from the client worker: ${reply.type}`);
      return reply.result;
    } finally {
      // Turns still queued or running (queued runs cut by the deadline) are dropped with the server.
      await server.close();
    }
  });
}

/** Nearest-rank percentile of durations in ms. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const ms = (values: number[], p: number) => round(percentile(values, p), 1);

function throughputRow(result: ScenarioResult): Row {
  const seconds = result.elapsedMs / 1000;
  return {
    benchmark: result.name,
    kins: result.kins,
    sent: result.sent,
    turns: result.turns,
    'not answered': result.sent - result.turns,
    seconds: round(seconds, 2),
    'turns/s': seconds > 0 ? round(result.turns / seconds, 1) : 0,
    errors: result.errors,
  };
}

function latencyRow(result: ScenarioResult): Row {
  const accepted = { '202 p50 ms': ms(result.accepted, 50), '202 p99 ms': ms(result.accepted, 99) };
  // Queued runs: a turn's other times are mostly its wait in the queue, and with concurrent POSTs
  // to one Kin which answer belongs to which POST is not known; only the 202 is shown.
  if (result.mode === 'queued') return { benchmark: result.name, turns: result.turns, ...accepted };
  return {
    benchmark: result.name,
    turns: result.turns,
    ...accepted,
    'first token p50 ms': ms(result.firstToken, 50),
    'first token p95 ms': ms(result.firstToken, 95),
    'first token p99 ms': ms(result.firstToken, 99),
    'chat:done p50 ms': ms(result.done, 50),
    'chat:done p99 ms': ms(result.done, 99),
  };
}

export async function benchConversation(): Promise<Section[]> {
  const seconds = benchDuration();
  const worker = startClient();
  try {
    const ready = await next(worker);
    if (ready.type !== 'ready') throw new Error(`the client worker did not start: ${ready.type === 'failed' ? ready.message : ready.type}`);
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios(seconds)) results.push(await runOne(worker, scenario));
    const words = ANSWER.split(/\s+/).length;
    const where = `fake LLM answering at once (${words} words), loopback, SQLite stores`;
    return [
      {
        title: `Conversation turns per second: POST → chat:done on /api/sse (${where}; up to ${seconds} s each)`,
        rows: results.map(throughputRow),
      },
      {
        title: `Conversation latency from POST: 202, first chat:token, chat:done (${where}; "posted without waiting": ${POSTERS} concurrent posters, 202 only)`,
        rows: results.map(latencyRow),
      },
    ];
  } finally {
    worker.postMessage({ type: 'exit' } satisfies ToClient);
    await Promise.race([new Promise((resolve) => worker.once('exit', resolve)), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await worker.terminate();
  }
}

if (isMain(import.meta.url)) printSections(await benchConversation());
