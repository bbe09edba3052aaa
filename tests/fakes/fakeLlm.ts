/**
 * A real, local HTTP server that speaks enough of the OpenAI API for the Vercel AI SDK
 * (`@ai-sdk/openai-compatible`) to work against it end to end: model listing, chat completions
 * (streamed as SSE `chat.completion.chunk` frames, or as one `chat.completion` object), tool calls
 * and embeddings. node:http only.
 *
 *   const fake = await startFakeLlm({ apiKey: 'sk-test' });
 *   fake.script({ toolCalls: [{ name: 'get_current_datetime', args: {} }] }, { text: 'It is late.' });
 *   // ... point the app (or createOpenAICompatible) at fake.baseUrl ...
 *   expect(fake.chatRequests()[1]!.messages.at(-1)).toMatchObject({ role: 'tool' });
 *   await fake.close();
 *
 * Turn consumption: every POST /v1/chat/completions that is actually answered takes the next
 * scripted turn (in arrival order), or the default turn when the script is empty. A multi-step
 * agent turn (the SDK calls again after running tools) therefore consumes one scripted turn per
 * call. Requests answered by `failNext` / `hangNext` (before headers) do not consume a turn, so a
 * retry gets the turn the failed call would have had.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export interface FakeLlmOptions {
  /** When set, every /v1 request must carry `Authorization: Bearer <apiKey>` or gets a 401. */
  apiKey?: string;
  /** Delay between streamed frames (ms). Default 0 (frames are still written separately). */
  tokenDelayMs?: number;
  /** Embedding dimensions (default 64). A request body `dimensions` overrides it. */
  dimensions?: number;
  /** Word → canonical word, applied (lower-cased) before hashing embeddings, e.g. `{ pet: 'cat' }`. */
  synonyms?: Record<string, string>;
  /**
   * When to send the usage chunk on streamed answers. 'when-requested' (default, like OpenAI):
   * only if the request has `stream_options.include_usage` — note that @ai-sdk/openai-compatible
   * only sends that when the provider is created with `includeUsage: true`. 'always': also
   * without it (some compatible servers do this). Non-streamed answers always carry usage.
   */
  streamUsage?: 'when-requested' | 'always';
  /** Model ids listed by GET /v1/models. Default ['fake-chat', 'fake-embed']. */
  models?: string[];
}

export interface RecordedRequest {
  method: string;
  /** Path without query string, e.g. '/v1/chat/completions'. */
  path: string;
  /** Full request target including query string. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw string if it is not JSON; undefined when empty. */
  body: unknown;
  /** Status the fake answered with (undefined while streaming / hung). */
  status?: number;
}

export type ChatContentPart = { type: 'text'; text: string } | { type: string; [key: string]: unknown };

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | ChatContentPart[] | null;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  [key: string]: unknown;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: unknown; strict?: boolean };
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: ChatTool[];
  tool_choice?: unknown;
  [key: string]: unknown;
}

export interface TurnToolCall {
  name: string;
  /** Serialised with JSON.stringify; a string is sent verbatim (lets a test send invalid JSON). */
  args: unknown;
  id?: string;
}

export interface TurnSpec {
  text?: string;
  toolCalls?: TurnToolCall[];
}

/** What the fake model answers to one chat completion call. */
export type Turn = TurnSpec | ((request: ChatRequest) => TurnSpec);

export interface HangOptions {
  /**
   * Streamed requests only: send the headers and this many SSE frames of the next turn (role
   * frame first, then text/tool-call frames), then stall. Default: stall before any header.
   * A mid-stream hang consumes the next turn.
   */
  afterFrames?: number;
}

export interface FakeLlm {
  /** e.g. http://127.0.0.1:PORT/v1 */
  baseUrl: string;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Bodies of all POST /v1/chat/completions, in arrival order (including failed/hung ones). */
  chatRequests(): ChatRequest[];
  /** Append turns to the script. */
  script(...turns: Turn[]): void;
  /** Turn used when the script is empty. Default: echo "You said: <last user message text>". */
  setDefault(turn: Turn | ((request: ChatRequest) => Turn)): void;
  /** The next chat request answers `status` with an OpenAI-style error body (or `body`). */
  failNext(status: number, body?: unknown): void;
  /** The next chat request never answers (socket kept open until the client aborts or close()). */
  hangNext(options?: HangOptions): void;
  /** Scripted turns not consumed yet. */
  remainingTurns(): number;
  /** Forget requests, script, pending failures/hangs and the default turn. */
  reset(): void;
  /** Stop listening and destroy every open socket (hung requests included). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Helpers (exported for tests)
// ---------------------------------------------------------------------------------------------

/** Plain text of a message content (string, or the text parts of an array). */
export function contentText(content: ChatMessage['content'] | undefined): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** Text of the last `user` message of a chat request ('' when none). */
export function lastUserText(request: ChatRequest): string {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i];
    if (message?.role === 'user') return contentText(message.content);
  }
  return '';
}

/** The `tool` role messages of a chat request, with the name of the tool resolved from the assistant's calls. */
export function toolResults(request: ChatRequest): { toolCallId: string; toolName?: string; content: string }[] {
  const names = new Map<string, string>();
  const results: { toolCallId: string; toolName?: string; content: string }[] = [];
  for (const message of request.messages) {
    for (const call of message.tool_calls ?? []) names.set(call.id, call.function.name);
    if (message.role === 'tool') {
      const toolCallId = message.tool_call_id ?? '';
      const toolName = names.get(toolCallId);
      results.push({ toolCallId, ...(toolName !== undefined ? { toolName } : {}), content: contentText(message.content) });
    }
  }
  return results;
}

/** Lower-cased word tokens, synonyms folded. */
export function embeddingTokens(text: string, synonyms: Record<string, string> = {}): string[] {
  const folded = new Map(Object.entries(synonyms).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).map((token) => folded.get(token) ?? token);
}

/** The deterministic embedding the fake returns for `text`: hashed bag of words, L2-normalised. */
export function fakeEmbedding(text: string, options: { dimensions?: number; synonyms?: Record<string, string> } = {}): number[] {
  const dimensions = options.dimensions ?? 64;
  const vector = new Array<number>(dimensions).fill(0);
  for (const token of embeddingTokens(text, options.synonyms)) {
    const bucket = fnv1a(token) % dimensions;
    vector[bucket] = (vector[bucket] ?? 0) + 1;
  }
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm === 0 ? vector : vector.map((x) => x / norm);
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** Rough token estimate: ~4 characters per token, at least 1 for non-empty text. */
function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

/** Split text into word-sized deltas (leading whitespace attached); concatenation is lossless. */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? (text.length > 0 ? [text] : []);
}

/** Split a string into 2–3 non-empty pieces (fewer only if it is shorter). */
function splitPieces(text: string): string[] {
  const count = Math.min(text.length, text.length >= 12 ? 3 : 2);
  if (count <= 1) return [text];
  const size = Math.ceil(text.length / count);
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

function errorBody(message: string, type: string, code: string | number | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

function statusErrorType(status: number): string {
  if (status === 401) return 'invalid_request_error';
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

type Intervention = { kind: 'fail'; status: number; body?: unknown } | { kind: 'hang'; afterFrames?: number };

interface ResolvedTurn {
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
}

export async function startFakeLlm(options: FakeLlmOptions = {}): Promise<FakeLlm> {
  const models = options.models ?? ['fake-chat', 'fake-embed'];
  const tokenDelayMs = options.tokenDelayMs ?? 0;
  const requests: RecordedRequest[] = [];
  let turns: Turn[] = [];
  let interventions: Intervention[] = [];
  let defaultTurn: Turn | ((request: ChatRequest) => Turn) = (request) => ({ text: `You said: ${lastUserText(request)}` });
  let sequence = 0;
  let closed = false;
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, errorBody(`fake LLM internal error: ${String(error)}`, 'server_error', null));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function sendJson(res: ServerResponse, status: number, body: unknown, record?: RecordedRequest): void {
    if (record) record.status = status;
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    res.end(payload);
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.local');
    const raw = await readBody(req);
    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, url: req.url ?? '/', headers: req.headers, body };
    requests.push(record);

    if (options.apiKey !== undefined) {
      const auth = req.headers.authorization;
      if (auth === undefined) {
        return sendJson(res, 401, errorBody("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null), record);
      }
      if (auth !== `Bearer ${options.apiKey}`) {
        return sendJson(res, 401, errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'), record);
      }
    }

    const route = `${record.method} ${url.pathname.replace(/\/+$/, '')}`;
    switch (route) {
      case 'GET /v1/models':
        return sendJson(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' })) }, record);
      case 'POST /v1/chat/completions':
        return handleChat(body, res, record);
      case 'POST /v1/embeddings':
        return handleEmbeddings(body, res, record);
      default:
        return sendJson(res, 404, errorBody(`Unknown request URL: ${record.method} ${url.pathname}.`, 'invalid_request_error', 'unknown_url'), record);
    }
  }

  function resolveTurn(request: ChatRequest): ResolvedTurn {
    let turn: Turn | ((request: ChatRequest) => Turn) | undefined = turns.shift();
    if (turn === undefined) turn = defaultTurn;
    // A function may return a spec, or (for setDefault) another function: unwrap until a spec.
    let spec: Turn | ((request: ChatRequest) => Turn) = turn;
    for (let depth = 0; typeof spec === 'function' && depth < 5; depth++) spec = spec(request);
    if (typeof spec === 'function') throw new Error('turn function nested too deeply');
    return {
      text: spec.text ?? '',
      toolCalls: (spec.toolCalls ?? []).map((call) => ({
        id: call.id ?? `call_fake_${++sequence}`,
        name: call.name,
        arguments: typeof call.args === 'string' ? call.args : JSON.stringify(call.args ?? {}),
      })),
    };
  }

  function usageFor(request: ChatRequest, turn: ResolvedTurn) {
    const promptText = request.messages
      .map((m) => contentText(m.content) + (m.tool_calls ? JSON.stringify(m.tool_calls) : ''))
      .join('\n') + (request.tools ? JSON.stringify(request.tools) : '');
    const prompt_tokens = estimateTokens(promptText) + 3 * request.messages.length;
    const completion_tokens = Math.max(1, estimateTokens(turn.text) + turn.toolCalls.reduce((n, c) => n + estimateTokens(c.name + c.arguments) + 3, 0));
    return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
  }

  async function handleChat(body: unknown, res: ServerResponse, record: RecordedRequest): Promise<void> {
    if (typeof body !== 'object' || body === null || !Array.isArray((body as { messages?: unknown }).messages)) {
      return sendJson(res, 400, errorBody("'messages' is a required property", 'invalid_request_error', null, 'messages'), record);
    }
    const request = body as ChatRequest;

    const intervention = interventions.shift();
    if (intervention?.kind === 'fail') {
      const status = intervention.status;
      return sendJson(res, status, intervention.body ?? errorBody(`The fake LLM was told to fail this request with status ${status}.`, statusErrorType(status), status >= 500 ? 'fake_failure' : null), record);
    }
    if (intervention?.kind === 'hang' && (intervention.afterFrames === undefined || request.stream !== true)) {
      return; // never answer; close() or the client's abort ends the socket
    }

    const turn = resolveTurn(request);
    const id = `chatcmpl-fake-${++sequence}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof request.model === 'string' ? request.model : 'fake-chat';
    const finishReason = turn.toolCalls.length > 0 ? 'tool_calls' : 'stop';
    const usage = usageFor(request, turn);

    if (request.stream !== true) {
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{
          index: 0,
          message: {
            role: 'assistant',
            content: turn.text.length > 0 || turn.toolCalls.length === 0 ? turn.text : null,
            ...(turn.toolCalls.length > 0
              ? { tool_calls: turn.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
              : {}),
          },
          logprobs: null,
          finish_reason: finishReason,
        }],
        usage,
      }, record);
    }

    // ---- streamed answer -------------------------------------------------------------------
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'chat.completion.chunk', created, model, choices, ...extra });
    const deltaChunk = (delta: Record<string, unknown>, finish: string | null = null) => chunk([{ index: 0, delta, logprobs: null, finish_reason: finish }]);

    const frames: unknown[] = [deltaChunk({ role: 'assistant', content: '' })];
    for (const word of splitWords(turn.text)) frames.push(deltaChunk({ content: word }));
    turn.toolCalls.forEach((call, index) => {
      frames.push(deltaChunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }));
      for (const piece of splitPieces(call.arguments)) frames.push(deltaChunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    });
    frames.push(deltaChunk({}, finishReason));
    const wantsUsage = request.stream_options?.include_usage === true || options.streamUsage === 'always';
    if (wantsUsage) frames.push(chunk([], { usage }));

    const stallAfter = intervention?.kind === 'hang' ? intervention.afterFrames : undefined;
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
    for (let i = 0; i < frames.length; i++) {
      if (stallAfter !== undefined && i >= stallAfter) return; // hang mid-stream
      if (res.destroyed || closed) return;
      if (i > 0 && tokenDelayMs > 0) await sleep(tokenDelayMs);
      if (res.destroyed || closed) return;
      res.write(`data: ${JSON.stringify(frames[i])}\n\n`);
    }
    if (stallAfter !== undefined) return;
    res.end('data: [DONE]\n\n');
  }

  function handleEmbeddings(body: unknown, res: ServerResponse, record: RecordedRequest): void {
    const input = (body as { input?: unknown } | null)?.input;
    if (input === undefined || input === null) {
      return sendJson(res, 400, errorBody("'input' is a required property", 'invalid_request_error', null, 'input'), record);
    }
    const texts = (Array.isArray(input) ? input : [input]).map((item) => (Array.isArray(item) ? item.join(' ') : String(item)));
    const requested = (body as { dimensions?: unknown }).dimensions;
    const dimensions = typeof requested === 'number' && requested > 0 ? requested : options.dimensions ?? 64;
    const tokens = texts.reduce((n, text) => n + Math.max(1, embeddingTokens(text).length), 0);
    return sendJson(res, 200, {
      object: 'list',
      data: texts.map((text, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(text, { dimensions, ...(options.synonyms ? { synonyms: options.synonyms } : {}) }) })),
      model: typeof (body as { model?: unknown }).model === 'string' ? (body as { model: string }).model : 'fake-embed',
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    }, record);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    chatRequests: () =>
      requests.filter((r) => r.method === 'POST' && r.path.replace(/\/+$/, '') === '/v1/chat/completions' && typeof r.body === 'object' && r.body !== null).map((r) => r.body as ChatRequest),
    script: (...newTurns: Turn[]) => {
      turns.push(...newTurns);
    },
    setDefault: (turn) => {
      defaultTurn = turn;
    },
    failNext: (status, body) => {
      interventions.push({ kind: 'fail', status, ...(body !== undefined ? { body } : {}) });
    },
    hangNext: (hang = {}) => {
      interventions.push({ kind: 'hang', ...(hang.afterFrames !== undefined ? { afterFrames: hang.afterFrames } : {}) });
    },
    remainingTurns: () => turns.length,
    reset: () => {
      requests.length = 0;
      turns = [];
      interventions = [];
      defaultTurn = (request) => ({ text: `You said: ${lastUserText(request)}` });
    },
    close: async () => {
      if (closed) return;
      closed = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await done;
    },
  };
}
