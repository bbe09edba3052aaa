import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { startFakeLlm, type FakeLlm } from '../tests/fakes/fakeLlm.js';
import { note, adminApiKey, callApi, type Target } from './lib.js';

/**
 * The client side of bench/conversation.ts, run in a worker thread so that it does not share the
 * server's event loop: the fake OpenAI-compatible LLM (standing for a remote provider) and the
 * driver that posts messages and reads /api/sse. Every time here is this thread's
 * `performance.now()`; only durations leave the worker.
 */

export const CLIENT_ROLE = 'kinbot-bench-conversation-client';

/** The fake model's answer to every turn: five words, streamed as five chat:token messages. */
export const ANSWER = 'Sure, here you go now.';

/**
 * - `one-in-flight`: each Kin has one message in flight: POST, wait for its chat:done, POST the next.
 * - `queued`: POSTERS clients post messages round-robin over the Kins without waiting for answers;
 *   each Kin answers its queue one message at a time. With several concurrent POSTs to one Kin the
 *   order in which they are queued is not known, so only the 202 latency is exact in this mode.
 */
export type Mode = 'one-in-flight' | 'queued';

export type Scenario = {
  /** Label of the row. */
  name: string;
  mode: Mode;
  kins: number;
  /** Messages to send in total, spread round-robin over the Kins. */
  messages: number;
  /** Time budget from the first measured POST: no POST after it, turns not done by then are not counted. */
  seconds: number;
};

/** Durations in ms from each POST being sent: to its 202 (every POST), first chat:token and chat:done (answered turns). */
export type ScenarioResult = {
  name: string;
  mode: Mode;
  kins: number;
  sent: number;
  turns: number;
  errors: number;
  /** First measured POST sent → last counted chat:done received. */
  elapsedMs: number;
  accepted: number[];
  firstToken: number[];
  done: number[];
};

export type ToClient =
  | { type: 'run'; base: string; origin: string; scenario: Scenario }
  | { type: 'exit' };

export type FromClient =
  | { type: 'ready'; llmBaseUrl: string }
  | { type: 'result'; result: ScenarioResult }
  | { type: 'failed'; message: string };

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Turns answered before measuring, not counted. */
const WARM_UP_TURNS = 40;
/** Concurrent clients posting in the `queued` mode. */
export const POSTERS = 20;

/** A turn that did not end within this long is a failure of the benchmark, not a slow figure. */
const TURN_TIMEOUT_MS = 60_000;

/** Admin sign-up, an API key, the fake LLM as an openai-compatible provider, and `count` Kins on its model. */
async function prepare(target: Target, llmBaseUrl: string, count: number): Promise<{ apiKey: string; kinIds: string[] }> {
  const apiKey = await adminApiKey(target);
  const headers = { 'x-api-key': apiKey };
  const provider = await callApi(target, '/api/providers', {
    headers,
    body: { name: 'Fake', type: 'openai-compatible', config: { baseUrl: llmBaseUrl, apiKey: 'sk-bench' } },
  });
  if ((provider.body.provider as { isValid?: unknown } | undefined)?.isValid !== true) {
    throw new Error(`the fake LLM provider is not valid: ${JSON.stringify(provider.body)}`);
  }
  const kinIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const kin = await callApi(target, '/api/kins', { headers, body: { name: `Bench Kin ${i + 1}`, role: 'benchmark', model: 'fake-chat' } });
    const kinId = (kin.body.kin as { id?: unknown } | undefined)?.id;
    if (typeof kinId !== 'string') throw new Error('POST /api/kins did not return a Kin id');
    kinIds.push(kinId);
  }
  return { apiKey, kinIds };
}

type LiveEnvelope = { type: string; kinId?: string; data: Record<string, unknown> };

/**
 * One /api/sse connection; `onMessage` is called for every `message` frame as soon as its bytes
 * are read, with the time they were read (no polling, unlike the tests' reader).
 */
async function openSse(target: Target, apiKey: string, onMessage: (message: LiveEnvelope, at: number) => void) {
  const controller = new AbortController();
  const response = await fetch(`${target.base}/api/sse`, {
    headers: { 'x-api-key': apiKey, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  if (!response.ok || !response.body) throw new Error(`GET /api/sse answered ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let connected!: () => void;
  const isConnected = new Promise<void>((resolve) => (connected = resolve));
  let buffer = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      const at = now();
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event === 'connected') connected();
        else if (event === 'message' && data !== undefined) onMessage(JSON.parse(data) as LiveEnvelope, at);
      }
    }
  })();
  await isConnected;
  return {
    async close() {
      controller.abort();
      await pump;
    },
  };
}

/** What is known of one message: when it was posted, accepted, first answered and done. */
type Turn = { postedAt: number; acceptedAt?: number; firstTokenAt?: number; doneAt?: number };

/** Per Kin, its turns in the order posted; a Kin answers in that order, one at a time. */
type KinTrack = { turns: Turn[]; answering: number; waiters: (() => void)[] };

async function runScenario(target: Target, llm: FakeLlm, scenario: Scenario): Promise<ScenarioResult> {
  const { apiKey, kinIds } = await prepare(target, llm.baseUrl, scenario.kins);
  const tracks = new Map<string, KinTrack>(kinIds.map((id) => [id, { turns: [], answering: 0, waiters: [] }]));
  let errors = 0;

  // The turn a message is about is the Kin's oldest turn not closed yet: a Kin answers its
  // messages in order, one at a time (its main conversation is the only one used here).
  const sse = await openSse(target, apiKey, (message, at) => {
    const track = message.kinId === undefined ? undefined : tracks.get(message.kinId);
    if (!track) return;
    const turn = track.turns[track.answering];
    const close = () => {
      track.answering++;
      for (const wake of track.waiters.splice(0)) wake();
    };
    switch (message.type) {
      case 'chat:token':
        if (turn && turn.firstTokenAt === undefined) turn.firstTokenAt = at;
        break;
      case 'chat:done':
        if (turn) turn.doneAt = at;
        close();
        break;
      case 'kin:error':
        errors++;
        close();
        break;
    }
    // The fake records every request with its body: keep only the recent ones.
    if (llm.requests.length > 1_000) llm.requests.length = 0;
  });

  const post = async (kinId: string, turn: Turn) => {
    const path = `/api/kins/${kinId}/messages`;
    const response = await fetch(target.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: JSON.stringify({ content: `Message ${tracks.get(kinId)!.turns.length} to you` }),
    });
    const text = await response.text();
    turn.acceptedAt = now();
    if (response.status !== 202) throw new Error(`POST ${path} answered ${response.status}: ${text}`);
  };

  /** True once the Kin's turn `index` is closed (chat:done or kin:error); false if `until` came first. */
  const closed = async (kinId: string, index: number, until = now() + TURN_TIMEOUT_MS) => {
    const track = tracks.get(kinId)!;
    while (track.answering <= index) {
      const left = until - now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => track.waiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
    return true;
  };

  const sendAndWait = async (kinId: string) => {
    const track = tracks.get(kinId)!;
    const turn: Turn = { postedAt: now() };
    track.turns.push(turn);
    await post(kinId, turn);
    if (!(await closed(kinId, track.turns.length - 1))) throw new Error(`no chat:done within ${TURN_TIMEOUT_MS / 1000} s`);
  };

  try {
    // Warm-up, not counted (JIT, first model build, first history reads): every Kin answers at
    // least once, and WARM_UP_TURNS turns are answered in all.
    await Promise.all(
      kinIds.map(async (kinId) => {
        for (let n = 0; n < Math.max(1, Math.ceil(WARM_UP_TURNS / kinIds.length)); n++) await sendAndWait(kinId);
      }),
    );
    const skip = new Map(kinIds.map((kinId) => [kinId, tracks.get(kinId)!.turns.length]));
    errors = 0;

    const started = now();
    const deadline = started + scenario.seconds * 1000;

    if (scenario.mode === 'one-in-flight') {
      const share = (i: number) => Math.floor(scenario.messages / kinIds.length) + (i < scenario.messages % kinIds.length ? 1 : 0);
      await Promise.all(
        kinIds.map(async (kinId, i) => {
          for (let n = 0; n < share(i) && now() < deadline; n++) await sendAndWait(kinId);
        }),
      );
    } else {
      // POSTERS concurrent clients post message n to Kin n mod kins, each as soon as its previous
      // POST was accepted; then every Kin's queue is waited for until the deadline.
      let next = 0;
      await Promise.all(
        Array.from({ length: POSTERS }, async () => {
          while (next < scenario.messages && now() < deadline) {
            const kinId = kinIds[next++ % kinIds.length]!;
            const turn: Turn = { postedAt: now() };
            tracks.get(kinId)!.turns.push(turn);
            await post(kinId, turn);
          }
        }),
      );
      const waits = await Promise.all(kinIds.map((kinId) => closed(kinId, tracks.get(kinId)!.turns.length - 1, deadline)));
      if (waits.includes(false)) note(`conversation: ${scenario.name}: some messages were not answered within ${scenario.seconds} s`);
    }

    const counted = kinIds.flatMap((kinId) => tracks.get(kinId)!.turns.slice(skip.get(kinId)));
    // One in flight: every turn started before the deadline is waited for. Queued: what was not
    // answered by the deadline is left in the queue (and dropped with the server).
    const done = counted.filter((turn) => turn.doneAt !== undefined && (scenario.mode === 'one-in-flight' || turn.doneAt <= deadline));
    const lastDone = Math.max(started, ...done.map((turn) => turn.doneAt!));
    return {
      name: scenario.name,
      mode: scenario.mode,
      kins: scenario.kins,
      sent: counted.length,
      turns: done.length,
      errors,
      elapsedMs: lastDone - started,
      accepted: counted.filter((turn) => turn.acceptedAt !== undefined).map((turn) => turn.acceptedAt! - turn.postedAt),
      firstToken: done.filter((turn) => turn.firstTokenAt !== undefined).map((turn) => turn.firstTokenAt! - turn.postedAt),
      done: done.map((turn) => turn.doneAt! - turn.postedAt),
    };
  } finally {
    await sse.close();
    // Let the server see the SSE connection close before it is shut down.
    await sleep(20);
  }
}

async function serve(): Promise<void> {
  const port = parentPort!;
  const llm = await startFakeLlm({ tokenDelayMs: 0 });
  const answer = () => llm.setDefault({ text: ANSWER });
  answer();
  port.on('message', (message: ToClient) => {
    if (message.type === 'exit') {
      void llm.close().then(() => port.close());
      return;
    }
    llm.reset();
    answer();
    runScenario({ base: message.base, origin: message.origin }, llm, message.scenario).then(
      (result) => port.postMessage({ type: 'result', result } satisfies FromClient),
      (error: unknown) => port.postMessage({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies FromClient),
    );
  });
  port.postMessage({ type: 'ready', llmBaseUrl: llm.baseUrl } satisfies FromClient);
}

if (!isMainThread && (workerData as { role?: unknown } | null)?.role === CLIENT_ROLE) await serve();
