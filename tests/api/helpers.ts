import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices, type Services } from '../../src/services.js';
import { startServer, type RunningServer } from '../../src/server.js';

export type TestServer = {
  url: string;
  dataDir: string;
  services: Services;
  running: RunningServer;
  /** Stops the server; the data dir stays until `cleanup`. */
  stop: () => Promise<void>;
  cleanup: () => Promise<void>;
};

/**
 * A real server on an ephemeral port over a fresh data dir (or the given one, to restart), with
 * optional configuration variables (e.g. `{ LLM_IDLE_TIMEOUT_MS: '1000' }`).
 */
export async function startTestServer(
  dataDir = mkdtempSync(join(tmpdir(), 'kinbot-test-')),
  env: Record<string, string> = {},
): Promise<TestServer> {
  const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', ...env });
  const services = await openServices(config, pino({ level: 'silent' }));
  const running = await startServer(services, 0);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await running.close();
  };
  return {
    url: `http://127.0.0.1:${running.port}`,
    dataDir,
    services,
    running,
    stop,
    cleanup: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Client = {
  request: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any; headers: Headers }>;
  get: (path: string) => Promise<{ status: number; body: any; headers: Headers }>;
  post: (path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any; headers: Headers }>;
  patch: (path: string, body?: unknown) => Promise<{ status: number; body: any; headers: Headers }>;
  delete: (path: string) => Promise<{ status: number; body: any; headers: Headers }>;
};

/** A JSON client that sends the given credentials (cookie or API key) with every request. */
export function client(baseUrl: string, credentials: Record<string, string> = {}): Client {
  const request: Client['request'] = async (method, path, body, headers = {}) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...credentials, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return {
    request,
    get: (path) => request('GET', path),
    post: (path, body, headers) => request('POST', path, body, headers),
    patch: (path, body) => request('PATCH', path, body),
    delete: (path) => request('DELETE', path),
  };
}

/** Signs up (the first user becomes admin) and returns a client carrying the session cookie. */
export async function signUp(baseUrl: string, user = { name: 'Ada Lovelace', email: 'ada@example.com', password: 'correct horse battery' }) {
  const response = await fetch(`${baseUrl}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  if (response.status !== 200) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const body = (await response.json()) as { user: { id: string } };
  return { cookie, userId: body.user.id, api: client(baseUrl, { cookie }) };
}

/** Creates an API key for the signed-in user and returns a client that authenticates with it. */
export async function apiKeyClient(baseUrl: string, cookie: string) {
  const created = await client(baseUrl, { cookie }).post('/api/auth/api-key/create', { name: 'tests' });
  if (created.status !== 200) throw new Error(`api key creation failed: ${created.status} ${JSON.stringify(created.body)}`);
  const key = created.body.key as string;
  return { key, id: created.body.id as string, api: client(baseUrl, { 'x-api-key': key }) };
}

export const kinInput = (overrides: Record<string, unknown> = {}) => ({ name: 'Scout', role: 'Finds things', model: 'gpt-4o', ...overrides });

/** Polls until `ok` holds (or `timeoutMs` passes) and returns the last value; the caller asserts on it. */
export async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let value = await probe();
  while (!ok(value) && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    value = await probe();
  }
  return value;
}

/** Configures a fake OpenAI-compatible server (tests/fakes/fakeLlm.ts) as a provider; returns the POST response. */
export const addFakeProvider = (api: Client, baseUrl: string, apiKey?: string) =>
  api.post('/api/providers', { name: 'Fake', type: 'openai-compatible', config: apiKey ? { baseUrl, apiKey } : { baseUrl } });
