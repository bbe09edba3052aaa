import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentText, startFakeLlm, toolResults, type ChatRequest, type FakeLlm } from '../fakes/fakeLlm.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

beforeAll(async () => {
  // "pet" and "cat", "name" and "called" embed alike: only the vector side relates them.
  llm = await startFakeLlm({ apiKey: 'sk-fake', dimensions: 256, synonyms: { pet: 'cat', name: 'called' } });
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl, 'sk-fake');
  expect(provider.status).toBe(201);
  expect((await api.request('PUT', '/api/settings/embedding-model', { model: 'fake-embed' })).status).toBe(200);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const newKin = async (name: string) => (await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };
const remember = async (kinId: string, body: Record<string, unknown>) => {
  const response = await api.post(`/api/kins/${kinId}/memories`, body);
  expect(response.status).toBe(201);
  return response.body.memory as { id: string; updatedAt: string };
};
const search = async (kinId: string, q: string) => (await api.get(`/api/kins/${kinId}/memories/search?q=${encodeURIComponent(q)}`)).body;

/** Waits until the Kin's history holds `count` messages. */
async function historyOf(kinId: string, count: number) {
  for (let i = 0; i < 300; i++) {
    const { body } = await api.get(`/api/kins/${kinId}/messages`);
    if (body.messages.length >= count) return body.messages;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await api.get(`/api/kins/${kinId}/messages`)).body.messages;
}

const systemOf = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')!.content);

describe('Kin memories', () => {
  it('creates, lists, updates and deletes, with their SSE events', async () => {
    const kin = await newKin('Keeper');
    const sse = await openSse(server.url, { cookie });
    const created = await api.post(`/api/kins/${kin.slug}/memories`, { content: 'Ada drinks green tea', category: 'preference', subject: 'Ada', scope: 'shared' });
    expect(created.status).toBe(201);
    const memory = created.body.memory;
    expect(memory).toEqual({
      id: expect.any(String),
      kinId: kin.id,
      content: 'Ada drinks green tea',
      category: 'preference',
      subject: 'Ada',
      scope: 'shared',
      sourceChannel: 'explicit',
      sourceContext: null,
      createdAt: expect.any(String),
      updatedAt: memory.createdAt,
    });
    // Any scope but exactly "shared" is private; the subject is optional.
    const other = await remember(kin.id, { content: 'The office opens at 9', category: 'fact', scope: 'public' });
    expect((await api.get(`/api/kins/${kin.id}/memories`)).body.memories.find((m: { id: string }) => m.id === other.id)).toMatchObject({
      scope: 'private',
      subject: null,
    });

    const list = await api.get(`/api/kins/${kin.id}/memories`);
    expect(list.body.memories.map((m: { id: string }) => m.id)).toEqual([other.id, memory.id]);
    expect(Object.keys(list.body.memories[0]).sort()).toEqual(
      ['id', 'content', 'category', 'subject', 'scope', 'sourceChannel', 'sourceContext', 'createdAt', 'updatedAt'].sort(),
    );
    expect((await api.get(`/api/kins/${kin.id}/memories?category=preference`)).body.memories.map((m: { id: string }) => m.id)).toEqual([memory.id]);
    expect((await api.get(`/api/kins/${kin.id}/memories?subject=Ada&scope=shared`)).body.memories).toHaveLength(1);
    expect((await api.get(`/api/kins/${kin.id}/memories?limit=1`)).body.memories).toHaveLength(1);

    await new Promise((r) => setTimeout(r, 5));
    const patched = await api.patch(`/api/kins/${kin.id}/memories/${memory.id}`, { content: 'Ada drinks jasmine tea', subject: null });
    expect(patched.status).toBe(200);
    expect(patched.body.memory).toMatchObject({ id: memory.id, kinId: kin.id, content: 'Ada drinks jasmine tea', subject: null, category: 'preference' });
    expect(patched.body.memory.updatedAt > memory.updatedAt).toBe(true);
    expect((await api.get(`/api/kins/${kin.id}/memories`)).body.memories[0].id).toBe(memory.id);

    expect((await api.delete(`/api/kins/${kin.id}/memories/${memory.id}`)).body).toEqual({ success: true });
    expect((await api.delete(`/api/kins/${kin.id}/memories/${memory.id}`)).body.error.code).toBe('MEMORY_NOT_FOUND');
    expect((await api.get(`/api/kins/${kin.id}/memories`)).body.memories.map((m: { id: string }) => m.id)).toEqual([other.id]);

    await sse.waitFor(() => sse.messages().some((m) => m.type === 'memory:deleted'));
    await sse.close();
    const events = sse.messages().filter((m) => m.type.startsWith('memory:'));
    expect(events).toEqual([
      {
        type: 'memory:created',
        kinId: kin.id,
        data: { memoryId: memory.id, kinId: kin.id, category: 'preference', content: 'Ada drinks green tea', subject: 'Ada', scope: 'shared' },
      },
      {
        type: 'memory:created',
        kinId: kin.id,
        data: { memoryId: other.id, kinId: kin.id, category: 'fact', content: 'The office opens at 9', subject: null, scope: 'private' },
      },
      { type: 'memory:updated', kinId: kin.id, data: { memoryId: memory.id, kinId: kin.id, content: 'Ada drinks jasmine tea', subject: null } },
      { type: 'memory:deleted', kinId: kin.id, data: { memoryId: memory.id, kinId: kin.id } },
    ]);
  });

  it('validates input and answers 400, 401 and 404 with the spec codes', async () => {
    const kin = await newKin('Strict Keeper');
    const path = `/api/kins/${kin.id}/memories`;
    for (const body of [{ category: 'fact' }, { content: '   ', category: 'fact' }, { content: 'x' }, { content: 'x', category: '' }, undefined]) {
      const response = await api.post(path, body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'INVALID_INPUT', message: 'Content and category are required' });
    }
    const badCategory = await api.post(path, { content: 'x', category: 'gossip' });
    expect(badCategory.status).toBe(400);
    expect(badCategory.body.error.code).toBe('INVALID_CATEGORY');

    const memory = await remember(kin.id, { content: 'Valid', category: 'knowledge' });
    expect((await api.patch(`${path}/${memory.id}`, { category: 'gossip' })).body.error.code).toBe('INVALID_CATEGORY');
    expect((await api.patch(`${path}/${memory.id}`, { content: '' })).body.error.code).toBe('INVALID_INPUT');

    expect((await api.get('/api/kins/nobody/memories')).body.error.code).toBe('KIN_NOT_FOUND');
    expect((await api.post('/api/kins/nobody/memories', { content: 'x', category: 'fact' })).status).toBe(404);
    const stranger = await newKin('Stranger');
    const foreign = await api.patch(`/api/kins/${stranger.id}/memories/${memory.id}`, { content: 'mine now' });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('MEMORY_NOT_FOUND');
    expect((await api.delete(`/api/kins/${stranger.id}/memories/${memory.id}`)).status).toBe(404);

    const anonymous = client(server.url);
    expect((await anonymous.get(path)).status).toBe(401);
    expect((await anonymous.post(path, { content: 'x', category: 'fact' })).status).toBe(401);
    expect((await anonymous.get('/api/memories')).status).toBe(401);
  });

  it('lists memories across Kins with filters and the maintenance fields', async () => {
    const a = await newKin('Lister A');
    const b = await newKin('Lister B');
    const ma = await remember(a.id, { content: 'A knows Rust', category: 'knowledge', subject: 'skills' });
    const mb = await remember(b.id, { content: 'B chose Postgres', category: 'decision', scope: 'shared' });
    const all = (await api.get('/api/memories')).body.memories;
    expect(all.map((m: { id: string }) => m.id).slice(0, 2)).toEqual([mb.id, ma.id]);
    expect(all[0]).toEqual({
      id: mb.id,
      kinId: b.id,
      content: 'B chose Postgres',
      category: 'decision',
      subject: null,
      scope: 'shared',
      importance: null,
      retrievalCount: 0,
      lastRetrievedAt: null,
      consolidationGeneration: 0,
      sourceChannel: 'explicit',
      sourceContext: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect((await api.get(`/api/memories?kinId=${a.id}`)).body.memories.map((m: { id: string }) => m.id)).toEqual([ma.id]);
    expect((await api.get(`/api/memories?kinId=${b.id}&category=decision&scope=shared`)).body.memories).toHaveLength(1);
    expect((await api.get(`/api/memories?kinId=${b.id}&category=fact`)).body.memories).toHaveLength(0);
    expect((await api.get('/api/memories?subject=skills')).body.memories.map((m: { id: string }) => m.id)).toEqual([ma.id]);
    expect((await api.get('/api/memories?limit=1')).body.memories).toHaveLength(1);
  });
});

describe('memory search', () => {
  it('finds a memory by meaning (vectors) and by its words (full text)', async () => {
    const kin = await newKin('Pet Owner');
    const misu = await remember(kin.id, { content: 'My cat is called Misu', category: 'fact' });
    await remember(kin.id, { content: 'The garden has three apple trees', category: 'fact' });

    const byMeaning = await search(kin.id, "what is my pet's name");
    expect(byMeaning.metadata).toEqual({ mode: 'hybrid', embeddingModel: 'fake-embed' });
    expect(byMeaning.memories[0]).toMatchObject({ id: misu.id, content: 'My cat is called Misu', authorKinId: kin.id, scope: 'private' });
    expect(byMeaning.memories[0].score).toBeGreaterThan(0);
    expect(byMeaning.memories[0].authorKinName).toBeUndefined();

    const byWord = await search(kin.id, 'Misu');
    expect(byWord.memories.map((m: { id: string }) => m.id)).toEqual([misu.id]);
    expect((await search(kin.id, 'submarine')).memories).toEqual([]);
  });

  it("keeps a Kin's private memories from other Kins and shares shared ones", async () => {
    const a = await newKin('Secretive');
    const b = await newKin('Curious');
    const secret = await remember(a.id, { content: 'The vault code is Zanzibar', category: 'fact' });
    const shared = await remember(a.id, { content: 'The team meets in Zanzibar room', category: 'fact', scope: 'shared' });
    const own = await remember(b.id, { content: 'Zanzibar is an island', category: 'knowledge' });

    const forA = (await search(a.id, 'Zanzibar')).memories.map((m: { id: string }) => m.id);
    expect(forA.sort()).toEqual([secret.id, shared.id].sort());
    const forB = (await search(b.id, 'Zanzibar')).memories;
    expect(forB.map((m: { id: string }) => m.id).sort()).toEqual([own.id, shared.id].sort());
    expect(forB.find((m: { id: string }) => m.id === shared.id)).toMatchObject({ authorKinId: a.id, authorKinName: 'Secretive', scope: 'shared' });
    // Nor through the vector side, however close the meaning.
    expect((await search(b.id, 'what is the vault code')).memories.map((m: { id: string }) => m.id)).not.toContain(secret.id);
  });

  it('answers 400 without a query', async () => {
    const kin = await newKin('Asker');
    const response = await api.get(`/api/kins/${kin.id}/memories/search`);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('INVALID_INPUT');
  });
});

describe('without an embedding provider', () => {
  it('stores memories without vectors and searches by full text, saying so', async () => {
    const bare = await startTestServer();
    try {
      const { api } = await signUp(bare.url);
      const kin = (await api.post('/api/kins', kinInput({ name: 'Plain' }))).body.kin;
      const created = await api.post(`/api/kins/${kin.id}/memories`, { content: 'My cat is called Misu', category: 'fact' });
      expect(created.status).toBe(201);
      const found = (await api.get(`/api/kins/${kin.id}/memories/search?q=Misu`)).body;
      expect(found.metadata).toMatchObject({ mode: 'full-text', embeddingModel: 'text-embedding-3-small', reason: expect.stringContaining('embedding') });
      expect(found.memories.map((m: { id: string }) => m.id)).toEqual([created.body.memory.id]);
      // The meaning alone is not enough for full text.
      expect((await api.get(`/api/kins/${kin.id}/memories/search?q=${encodeURIComponent("what is my pet's name")}`)).body.memories).toEqual([]);
    } finally {
      await bare.cleanup();
    }
  });
});

describe('memory in turns', () => {
  it('injects relevant memories into the system prompt, records them on the message and counts the retrieval', async () => {
    const kin = await newKin('Rememberer');
    const misu = await remember(kin.id, { content: 'My cat is called Misu', category: 'fact', subject: 'cat' });
    llm.setDefault({ text: 'Your cat is Misu.' });
    await api.post(`/api/kins/${kin.id}/messages`, { content: "What is my pet's name?" });
    const history = await historyOf(kin.id, 2);

    const request = llm.chatRequests().find((r) => r.messages.some((m) => m.role === 'user' && contentText(m.content).includes("What is my pet's name?")))!;
    const system = systemOf(request);
    expect(system).toContain('## What you remember');
    expect(system).toContain('My cat is called Misu');
    expect(history[1].injectedMemories).toEqual([{ id: misu.id, content: 'My cat is called Misu', category: 'fact', subject: 'cat', score: expect.any(Number) }]);
    expect(history[0].injectedMemories).toBeNull();

    const [stored] = (await api.get(`/api/memories?kinId=${kin.id}`)).body.memories;
    expect(stored).toMatchObject({ id: misu.id, retrievalCount: 1, lastRetrievedAt: expect.any(String) });
  });

  it('leaves the section out when nothing is relevant', async () => {
    const kin = await newKin('Forgetful');
    llm.setDefault({ text: 'Hello.' });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'Good morning' });
    const history = await historyOf(kin.id, 2);
    expect(history[1].injectedMemories).toBeNull();
    expect(systemOf(llm.chatRequests().at(-1)!)).not.toContain('## What you remember');
  });

  it('gives the model memory tools: memorize, recall, list_memories, update_memory, forget', async () => {
    const kin = await newKin('Toolsmith');
    const listing = (await api.get(`/api/kins/${kin.id}/tools`)).body.nativeTools.find((d: { domain: string }) => d.domain === 'memory');
    expect(listing.tools.map((t: { name: string }) => t.name)).toEqual(['recall', 'memorize', 'update_memory', 'forget', 'list_memories', 'search_history']);

    const lastResult = (request: ChatRequest) => JSON.parse(toolResults(request).at(-1)!.content);
    let memoryId = '';
    llm.script(
      { toolCalls: [{ name: 'memorize', args: { content: 'Ada prefers green tea', category: 'preference', subject: 'Ada' } }] },
      (request) => {
        memoryId = lastResult(request).id;
        return { toolCalls: [{ name: 'recall', args: { query: 'Which tea does Ada prefer?' } }] };
      },
      { toolCalls: [{ name: 'list_memories', args: { subject: 'Ada' } }] },
      (request) => ({ toolCalls: [{ name: 'update_memory', args: { memory_id: lastResult(request).memories[0].id, content: 'Ada prefers jasmine tea' } }] }),
      { toolCalls: [{ name: 'forget', args: { memory_id: 'no-such-memory' } }] },
      { text: 'Done.' },
    );
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'Please remember that Ada prefers green tea.' });
    const history = await historyOf(kin.id, 2);
    const calls = history[1].toolCalls as { name: string; result: any }[];
    expect(calls.map((c) => c.name)).toEqual(['memorize', 'recall', 'list_memories', 'update_memory', 'forget']);
    expect(calls[0]!.result).toEqual({ id: memoryId, content: 'Ada prefers green tea', category: 'preference', subject: 'Ada', scope: 'private' });
    expect(calls[1]!.result.searchMode).toBe('hybrid');
    expect(calls[1]!.result.memories[0]).toMatchObject({ id: memoryId, content: 'Ada prefers green tea', category: 'preference' });
    expect(calls[2]!.result.memories).toEqual([expect.objectContaining({ id: memoryId, subject: 'Ada', age: 'just now' })]);
    expect(calls[3]!.result).toMatchObject({ id: memoryId, content: 'Ada prefers jasmine tea', changed: true });
    expect(calls[4]!.result).toEqual({ error: 'Memory not found' });

    const [stored] = (await api.get(`/api/kins/${kin.id}/memories`)).body.memories;
    expect(stored).toMatchObject({ id: memoryId, content: 'Ada prefers jasmine tea', sourceChannel: 'explicit' });
  });
});
