import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { embed, generateText } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveEmbeddingModel, resolveLanguageModel } from '../../src/agents/providers.js';
import { join } from 'node:path';
import { createSqliteKeyStore } from '../../src/stores/sqlite/keyStore.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

// ── A tiny OpenAI-compatible model server: /v1/models, /v1/chat/completions, /v1/embeddings ──

const GOOD_KEY = 'sk-good-local-key';
let fakeLlm: Server;
let fakeBase: string;
const fakeCalls: string[] = [];

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => resolve(text));
  });

async function startFakeLlm() {
  fakeLlm = createServer(async (req, res) => {
    const body = await readBody(req);
    fakeCalls.push(`${req.method} ${req.url}`);
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.headers.authorization !== `Bearer ${GOOD_KEY}`) return json(401, { error: { message: 'Invalid API key', type: 'invalid_request_error' } });
    if (req.method === 'GET' && req.url === '/v1/models') {
      return json(200, { object: 'list', data: [{ id: 'fake-chat', object: 'model' }, { id: 'fake-embed', object: 'model' }] });
    }
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      const request = JSON.parse(body) as { model: string };
      return json(200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content: `pong from ${request.model}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
      });
    }
    if (req.method === 'POST' && req.url === '/v1/embeddings') {
      const request = JSON.parse(body) as { model: string; input: string[] };
      return json(200, {
        object: 'list',
        model: request.model,
        data: request.input.map((_text, index) => ({ object: 'embedding', index, embedding: [0.25, 0.5, 0.75] })),
        usage: { prompt_tokens: 1, total_tokens: 1 },
      });
    }
    json(404, { error: { message: 'not found' } });
  });
  await new Promise<void>((resolve) => fakeLlm.listen(0, '127.0.0.1', resolve));
  fakeBase = `http://127.0.0.1:${(fakeLlm.address() as AddressInfo).port}/v1`;
}

// ── The server under test ─────────────────────────────────────────────────────────────────────

let server: TestServer;
let api: Client;
let anonymous: Client;
let cookie: string;
let userId: string;

beforeAll(async () => {
  await startFakeLlm();
  server = await startTestServer();
  ({ api, cookie, userId } = await signUp(server.url));
  anonymous = client(server.url);
});
afterAll(async () => {
  await server.cleanup();
  fakeLlm.closeAllConnections();
  await new Promise((resolve) => fakeLlm.close(resolve));
});

const local = (overrides: Record<string, unknown> = {}, config: Record<string, unknown> = {}) => ({
  name: 'Local LLM',
  type: 'openai-compatible',
  config: { baseUrl: fakeBase, apiKey: GOOD_KEY, ...config },
  ...overrides,
});

const listed = async (id: string) =>
  ((await api.get('/api/providers')).body.providers as { id: string; createdAt: string }[]).find((p) => p.id === id);

/** Deletes every provider it can: the last one with `llm` (and `embedding`) stays. */
async function deleteAll() {
  const ids = (await api.get('/api/providers')).body.providers.map((p: { id: string }) => p.id) as string[];
  for (const id of ids) await api.delete(`/api/providers/${id}`);
}

describe('POST /api/providers', () => {
  it('tests the connection and creates a valid openai-compatible provider', async () => {
    fakeCalls.length = 0;
    const { status, body } = await api.post('/api/providers', local());
    expect(status).toBe(201);
    expect(body).toEqual({
      provider: { id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'Local LLM', type: 'openai-compatible', capabilities: ['llm', 'embedding'], isValid: true },
    });
    expect(fakeCalls).toEqual(['GET /v1/models']);
    const row = await listed(body.provider.id);
    expect(row).toEqual({ ...body.provider, lastError: null, createdAt: expect.any(String) });
    expect(new Date(row!.createdAt).toISOString()).toBe(row!.createdAt);
  });

  it('creates the provider even when the key is wrong: 201, isValid false, lastError', async () => {
    const { status, body } = await api.post('/api/providers', local({ name: 'Wrong key' }, { apiKey: 'sk-wrong' }));
    expect(status).toBe(201);
    expect(body.provider).toMatchObject({ name: 'Wrong key', capabilities: [], isValid: false });
    expect(await listed(body.provider.id)).toMatchObject({ isValid: false, lastError: 'HTTP 401: Invalid API key' });
  });

  it('reports an unreachable endpoint as invalid', async () => {
    const { status, body } = await api.post('/api/providers', local({ name: 'Nowhere' }, { baseUrl: 'http://127.0.0.1:9/v1' }));
    expect(status).toBe(201);
    expect(await listed(body.provider.id)).toMatchObject({ isValid: false, lastError: expect.stringMatching(/^Connection failed/) });
  });

  it.each([
    ['no name', { type: 'openai-compatible', config: { baseUrl: 'http://127.0.0.1:1/v1' } }, 'name: Name is required'],
    ['a blank name', { name: '  ', type: 'openai', config: { apiKey: 'k' } }, 'name: Name is required'],
    ['an unknown type', { name: 'X', type: 'nope', config: {} }, 'type: Unknown provider type: nope'],
    ['no type', { name: 'X', config: {} }, 'type: Type is required'],
    ['openai-compatible without baseUrl', { name: 'X', type: 'openai-compatible', config: {} }, 'config.baseUrl: A base URL is required for openai-compatible'],
    ['openai without a key', { name: 'X', type: 'openai', config: {} }, 'config.apiKey: An API key is required for openai'],
    ['a baseUrl that is not http', { name: 'X', type: 'openai-compatible', config: { baseUrl: 'file:///etc/passwd' } }, 'config.baseUrl: The base URL must be an http(s) URL'],
    ['a key that is not a string', { name: 'X', type: 'openai', config: { apiKey: 42 } }, 'config.apiKey: apiKey must be a string'],
  ])('answers 400 VALIDATION_ERROR for %s', async (_label, input, message) => {
    const { status, body } = await api.post('/api/providers', input);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'VALIDATION_ERROR', message });
  });

  it('answers 400 for malformed JSON', async () => {
    const { status, body } = await api.post('/api/providers', '{"name":');
    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_JSON');
  });
});

describe('PATCH /api/providers/:id', () => {
  it('merges the config, re-tests it and becomes valid with the right key', async () => {
    const created = (await api.post('/api/providers', local({ name: 'Fix me' }, { apiKey: 'sk-wrong' }))).body.provider;
    const { status, body } = await api.patch(`/api/providers/${created.id}`, { config: { apiKey: GOOD_KEY } });
    expect(status).toBe(200);
    expect(body).toEqual({ provider: { id: created.id, name: 'Fix me', type: 'openai-compatible', capabilities: ['llm', 'embedding'], isValid: true } });
    expect(await listed(created.id)).toMatchObject({ isValid: true, lastError: null });
  });

  it('keeps the capabilities when a re-test fails, and renames without testing', async () => {
    const created = (await api.post('/api/providers', local({ name: 'Was fine' }))).body.provider;
    const broken = await api.patch(`/api/providers/${created.id}`, { config: { apiKey: 'sk-revoked' } });
    expect(broken.body.provider).toMatchObject({ isValid: false, capabilities: ['llm', 'embedding'] });
    expect(await listed(created.id)).toMatchObject({ lastError: 'HTTP 401: Invalid API key' });
    fakeCalls.length = 0;
    const renamed = await api.patch(`/api/providers/${created.id}`, { name: 'Renamed' });
    expect(renamed.body.provider).toMatchObject({ name: 'Renamed', isValid: false });
    expect(fakeCalls).toEqual([]);
  });

  it('answers 400 when the merged config no longer works for the type, and 404 for an unknown id', async () => {
    const created = (await api.post('/api/providers', local({ name: 'Base' }))).body.provider;
    const cleared = await api.patch(`/api/providers/${created.id}`, { config: { baseUrl: null } });
    expect(cleared.status).toBe(400);
    expect(cleared.body.error.code).toBe('VALIDATION_ERROR');
    const badName = await api.patch(`/api/providers/${created.id}`, { name: 12 });
    expect(badName.status).toBe(400);
    const missing = await api.patch('/api/providers/01936d3c-0000-7000-8000-000000000000', { name: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'PROVIDER_NOT_FOUND', message: 'Provider not found' } });
  });
});

describe('testing providers', () => {
  it('POST /:id/test calls the provider and records the outcome', async () => {
    const created = (await api.post('/api/providers', local({ name: 'Tested' }))).body.provider;
    fakeCalls.length = 0;
    const ok = await api.post(`/api/providers/${created.id}/test`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ valid: true, capabilities: ['llm', 'embedding'] });
    expect(fakeCalls).toEqual(['GET /v1/models']);
    expect((await api.post('/api/providers/01936d3c-0000-7000-8000-000000000000/test')).status).toBe(404);
  });

  it('POST /:id/test reports a failure with its error', async () => {
    const created = (await api.post('/api/providers', local({ name: 'Failing' }, { apiKey: 'sk-nope' }))).body.provider;
    const failed = await api.post(`/api/providers/${created.id}/test`);
    expect(failed.body).toEqual({ valid: false, capabilities: [], error: 'HTTP 401: Invalid API key' });
  });

  it('POST /test checks a config without saving it', async () => {
    const before = (await api.get('/api/providers')).body.providers.length;
    const ok = await api.post('/api/providers/test', { type: 'openai-compatible', config: { baseUrl: fakeBase, apiKey: GOOD_KEY } });
    expect(ok.body).toEqual({ valid: true, capabilities: ['llm', 'embedding'] });
    const bad = await api.post('/api/providers/test', { type: 'openai-compatible', config: { baseUrl: fakeBase } });
    expect(bad.body).toEqual({ valid: false, capabilities: [], error: 'HTTP 401: Invalid API key' });
    expect((await api.get('/api/providers')).body.providers.length).toBe(before);
    expect((await api.post('/api/providers/test', { type: 'nope', config: {} })).status).toBe(400);
  });
});

describe('GET /api/providers/types, /capabilities and /models', () => {
  it('lists the types with their capabilities', async () => {
    const { status, body } = await api.get('/api/providers/types');
    expect(status).toBe(200);
    const byType = Object.fromEntries(body.types.map((t: { type: string }) => [t.type, t]));
    expect(byType['openai-compatible']).toEqual({ type: 'openai-compatible', displayName: 'OpenAI-compatible', capabilities: ['llm', 'embedding'], noApiKey: true, source: 'builtin' });
    expect(byType.anthropic).toMatchObject({ capabilities: ['llm'], noApiKey: false, apiKeyUrl: expect.stringMatching(/^https:/) });
    expect(byType.ollama).toMatchObject({ noApiKey: true, capabilities: ['llm', 'embedding'] });
    expect(Object.keys(byType)).toEqual(expect.arrayContaining(['openai', 'gemini', 'voyage', 'brave-search', 'mistral', 'groq', 'together', 'fireworks', 'deepseek', 'openrouter', 'cohere', 'xai', 'tavily', 'jina', 'nomic', 'replicate', 'stability', 'fal', 'serper', 'perplexity', 'anthropic-oauth']));
  });

  it('lists the live models of valid providers only, and the capability flags', async () => {
    const good = (await api.post('/api/providers', local({ name: 'Modelled' }))).body.provider;
    const { status, body } = await api.get('/api/providers/models');
    expect(status).toBe(200);
    const mine = body.models.filter((m: { providerId: string }) => m.providerId === good.id);
    expect(mine).toEqual([
      { id: 'fake-chat', name: 'fake-chat', providerId: good.id, providerName: 'Modelled', providerType: 'openai-compatible', capability: 'llm' },
      { id: 'fake-embed', name: 'fake-embed', providerId: good.id, providerName: 'Modelled', providerType: 'openai-compatible', capability: 'embedding' },
    ]);
    const invalidIds = ((await api.get('/api/providers')).body.providers as { id: string; isValid: boolean }[]).filter((p) => !p.isValid).map((p) => p.id);
    expect(body.models.some((m: { providerId: string }) => invalidIds.includes(m.providerId))).toBe(false);
    const flags = await api.get('/api/providers/capabilities');
    expect(flags.body).toEqual({ capabilities: { llm: true, embedding: true, image: false, search: false } });
  });
});

describe('DELETE /api/providers/:id', () => {
  it('refuses to delete the last provider with llm, deletes the others, and shreds their keys', async () => {
    await deleteAll();
    const remaining = (await api.get('/api/providers')).body.providers as { id: string; capabilities: string[] }[];
    expect(remaining).toHaveLength(1);
    const last = remaining[0]!;
    const refused = await api.delete(`/api/providers/${last.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: { code: 'PROVIDER_REQUIRED', message: 'Cannot delete: this is the last provider with "llm" capability' } });

    const invalid = (await api.post('/api/providers', local({ name: 'Invalid' }, { apiKey: 'sk-x' }))).body.provider;
    const keys = createSqliteKeyStore(join(server.dataDir, 'keys.db'));
    expect(await keys.get(`provider-${invalid.id}`)).not.toBeNull();
    expect((await api.delete(`/api/providers/${invalid.id}`)).body).toEqual({ success: true });
    expect(await listed(invalid.id)).toBeUndefined();
    expect(await keys.get(`provider-${invalid.id}`)).toBeNull();
    await keys.close();
    const [createdEvent] = await server.services.eventStore.readStream(`provider-${invalid.id}`, { limit: 1 });
    const sealed = (createdEvent!.data as { configEncrypted: string }).configEncrypted;
    expect(await server.services.secrets.decrypt(`provider-${invalid.id}`, sealed)).toBeNull();

    const again = await api.delete(`/api/providers/${invalid.id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('PROVIDER_NOT_FOUND');
  });

  it('points the Kins that used a deleted provider at no provider, with provider:deleted then kin:updated', async () => {
    const keep = (await api.post('/api/providers', local({ name: 'Keeper' }))).body.provider;
    const doomed = (await api.post('/api/providers', local({ name: 'Doomed' }))).body.provider;
    const kin = (await api.post('/api/kins', kinInput({ name: 'Orphan', providerId: doomed.id }))).body.kin;
    const other = (await api.post('/api/kins', kinInput({ name: 'Loyal', providerId: keep.id }))).body.kin;
    expect(kin.providerId).toBe(doomed.id);
    const sse = await openSse(server.url, { cookie });
    try {
      expect((await api.delete(`/api/providers/${doomed.id}`)).body).toEqual({ success: true });
      expect((await api.get(`/api/kins/${kin.id}`)).body.providerId).toBeNull();
      expect((await api.get(`/api/kins/${other.id}`)).body.providerId).toBe(keep.id);
      await sse.waitFor(() => sse.messages().some((m) => m.type === 'kin:updated' && m.kinId === kin.id));
      const relevant = sse.messages().filter((m) => m.type === 'provider:deleted' || m.type === 'kin:updated');
      expect(relevant).toEqual([
        { type: 'provider:deleted', data: { providerId: doomed.id } },
        { type: 'kin:updated', kinId: kin.id, data: { kinId: kin.id, slug: 'orphan', name: 'Orphan', role: 'Finds things', model: 'gpt-4o', avatarUrl: null, providerId: null } },
      ]);
      const kinEvents = await server.services.eventStore.readStream(`kin-${kin.id}`);
      expect(kinEvents.at(-1)).toMatchObject({ type: 'KinUpdated', data: { changes: { providerId: null } } });
    } finally {
      await sse.close();
    }
  });
});

describe('live messages', () => {
  it('announces provider:created and provider:updated with the documented payloads', async () => {
    const sse = await openSse(server.url, { cookie });
    try {
      const created = (await api.post('/api/providers', local({ name: 'Announced' }, { apiKey: 'sk-bad' }))).body.provider;
      await api.patch(`/api/providers/${created.id}`, { config: { apiKey: GOOD_KEY } });
      await api.post(`/api/providers/${created.id}/test`);
      await sse.waitFor(() => sse.messages().filter((m) => m.data?.providerId === created.id).length >= 3);
      const mine = sse.messages().filter((m) => m.data?.providerId === created.id);
      expect(mine).toEqual([
        { type: 'provider:created', data: { providerId: created.id, name: 'Announced', providerType: 'openai-compatible', capabilities: [], isValid: false } },
        {
          type: 'provider:updated',
          data: { providerId: created.id, name: 'Announced', providerType: 'openai-compatible', capabilities: ['llm', 'embedding'], isValid: true, lastError: null },
        },
        {
          type: 'provider:updated',
          data: { providerId: created.id, name: 'Announced', providerType: 'openai-compatible', capabilities: ['llm', 'embedding'], isValid: true, lastError: null },
        },
      ]);
      expect(JSON.stringify(sse.messages())).not.toContain(GOOD_KEY);
    } finally {
      await sse.close();
    }
  });
});

describe('model resolution for the conversation engine', () => {
  it('resolves a valid provider to an ai SDK model that really answers', async () => {
    const provider = (await api.post('/api/providers', local({ name: 'Engine' }))).body.provider;
    const resolved = await resolveLanguageModel(server.services, { providerId: provider.id, model: 'fake-chat' });
    expect(resolved).toMatchObject({ providerId: provider.id, providerType: 'openai-compatible' });
    const { text } = await generateText({ model: resolved!.model, prompt: 'ping' });
    expect(text).toBe('pong from fake-chat');
    const embedding = await resolveEmbeddingModel(server.services, 'fake-embed');
    expect(embedding?.providerType).toBe('openai-compatible');
    const { embedding: vector } = await embed({ model: embedding!.model, value: 'hello' });
    expect(vector).toEqual([0.25, 0.5, 0.75]);
  });

  it('falls back to a valid provider when the Kin names an invalid one, and finds none for a vendor model no one serves', async () => {
    const invalid = (await api.post('/api/providers', local({ name: 'Broken' }, { apiKey: 'sk-bad' }))).body.provider;
    const resolved = await resolveLanguageModel(server.services, { providerId: invalid.id, model: 'fake-chat' });
    expect(resolved).not.toBeNull();
    expect(resolved!.providerId).not.toBe(invalid.id);
    // Gateways (openai-compatible) serve any id, so only an empty or all-invalid set yields null.
    const none = await resolveLanguageModel(
      { readStore: { collection: () => ({ find: async () => [] }) } as never, secrets: server.services.secrets },
      { model: 'claude-opus-4' },
    );
    expect(none).toBeNull();
  });
});

describe('credentials and roles', () => {
  it.each([
    ['GET', '/api/providers'],
    ['POST', '/api/providers'],
    ['PATCH', '/api/providers/any'],
    ['DELETE', '/api/providers/any'],
    ['POST', '/api/providers/any/test'],
    ['POST', '/api/providers/test'],
    ['GET', '/api/providers/types'],
    ['GET', '/api/providers/models'],
    ['GET', '/api/providers/capabilities'],
  ])('%s %s answers 401 without credentials', async (method, path) => {
    const { status, body } = await anonymous.request(method, path, method === 'GET' ? undefined : {});
    expect(status).toBe(401);
    expect(body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
  });

  it('lets members read providers but not change or test them', async () => {
    const provider = (await api.post('/api/providers', local({ name: 'Admin only' }))).body.provider;
    // Members arrive by invitation (not built yet): demote the admin in the read model for this test.
    const users = server.services.readStore.collection('users');
    await users.update({ id: userId }, { $set: { role: 'member' } });
    try {
      expect((await api.get('/api/providers')).status).toBe(200);
      expect((await api.get('/api/providers/types')).status).toBe(200);
      for (const [method, path, body] of [
        ['POST', '/api/providers', local()],
        ['PATCH', `/api/providers/${provider.id}`, { name: 'x' }],
        ['DELETE', `/api/providers/${provider.id}`, undefined],
        ['POST', `/api/providers/${provider.id}/test`, {}],
        ['POST', '/api/providers/test', { type: 'ollama', config: {} }],
      ] as const) {
        const response = await api.request(method, path, body);
        expect(response.status, `${method} ${path}`).toBe(403);
        expect(response.body).toEqual({ error: { code: 'FORBIDDEN', message: 'Admin access required' } });
      }
    } finally {
      await users.update({ id: userId }, { $set: { role: 'admin' } });
    }
  });
});
