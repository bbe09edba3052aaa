import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let api: Client;
let anonymous: Client;

beforeAll(async () => {
  server = await startTestServer();
  api = (await signUp(server.url)).api;
  anonymous = client(server.url);
});
afterAll(() => server.cleanup());

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);

async function uploadAvatar(kinId: string, bytes: Buffer, filename = 'me.png', type = 'image/png') {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], { type }), filename);
  const cookie = (api as unknown as { cookie?: string }).cookie;
  void cookie;
  return fetch(`${server.url}/api/kins/${kinId}/avatar`, { method: 'POST', body: form, headers: await authHeaders() });
}

let sessionCookie = '';
async function authHeaders() {
  if (!sessionCookie) {
    const login = await fetch(`${server.url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery' }),
    });
    sessionCookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  }
  return { cookie: sessionCookie };
}

describe('POST /api/kins', () => {
  it('creates a Kin with defaults and answers 201 with the documented shape', async () => {
    const { status, body } = await api.post('/api/kins', kinInput({ name: 'Créa Kin' }));
    expect(status).toBe(201);
    expect(body.kin).toMatchObject({
      slug: 'crea-kin',
      name: 'Créa Kin',
      role: 'Finds things',
      model: 'gpt-4o',
      character: '',
      expertise: '',
      providerId: null,
      avatarUrl: null,
      mcpServers: [],
      queueSize: 0,
      isProcessing: false,
    });
    expect(body.kin.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.kin.workspacePath).toContain(body.kin.id);
    expect(new Date(body.kin.createdAt).toISOString()).toBe(body.kin.createdAt);
    expect(body.kin).not.toHaveProperty('toolConfig');
    const read = await api.get(`/api/kins/${body.kin.id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toBe('Créa Kin');
  });

  it('de-duplicates slugs with -2, -3 and honours a requested slug', async () => {
    const first = await api.post('/api/kins', kinInput({ name: 'Twin' }));
    const second = await api.post('/api/kins', kinInput({ name: 'Twin' }));
    const third = await api.post('/api/kins', kinInput({ name: 'Other', slug: 'Twin' }));
    expect([first.body.kin.slug, second.body.kin.slug, third.body.kin.slug]).toEqual(['twin', 'twin-2', 'twin-3']);
  });

  it('gives concurrent creations with one name distinct slugs', async () => {
    const responses = await Promise.all(Array.from({ length: 12 }, () => api.post('/api/kins', kinInput({ name: 'Crowd' }))));
    expect(responses.every((r) => r.status === 201)).toBe(true);
    const slugs = responses.map((r) => r.body.kin.slug);
    expect(new Set(slugs).size).toBe(12);
  });

  it.each([
    [{ role: 'r', model: 'm' }, 'INVALID_NAME', 'Name is required'],
    [{ name: '   ', role: 'r', model: 'm' }, 'INVALID_NAME', 'Name is required'],
    [{ name: 'x'.repeat(101), role: 'r', model: 'm' }, 'INVALID_NAME', 'Name must be under 100 characters'],
    [{ name: 'n', model: 'm' }, 'INVALID_ROLE', 'Role is required'],
    [{ name: 'n', role: 'r'.repeat(201), model: 'm' }, 'INVALID_ROLE', 'Role must be under 200 characters'],
    [{ name: 'n', role: 'r' }, 'INVALID_MODEL', 'Model is required'],
    [{ name: 'n', role: 'r', model: 'm', character: 'c'.repeat(50_001) }, 'INVALID_CHARACTER', 'Character must be under 50000 characters'],
    [{ name: 'n', role: 'r', model: 'm', expertise: 'e'.repeat(50_001) }, 'INVALID_EXPERTISE', 'Expertise must be under 50000 characters'],
    [{ name: 'n', role: 'r', model: 'm', providerId: 'no-such-provider' }, 'INVALID_PROVIDER', 'Provider not found'],
    [{ name: 42, role: 'r', model: 'm' }, 'INVALID_NAME', 'Name cannot be empty'],
  ])('rejects %j with %s', async (input, code, message) => {
    const before = (await api.get('/api/kins')).body.kins.length;
    const { status, body } = await api.post('/api/kins', input);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code, message });
    expect((await api.get('/api/kins')).body.kins.length).toBe(before);
  });

  it('answers 400 INVALID_JSON for a malformed body and VALIDATION_ERROR for a non-object', async () => {
    expect((await api.post('/api/kins', '{"name":')).body.error.code).toBe('INVALID_JSON');
    const array = await api.post('/api/kins', [1, 2]);
    expect(array.status).toBe(400);
    expect(array.body.error.code).toBe('VALIDATION_ERROR');
  });

  it('returns the first response again for a repeated Idempotency-Key and creates nothing more', async () => {
    const headers = { 'idempotency-key': 'create-once-123' };
    const first = await api.post('/api/kins', kinInput({ name: 'Once' }), headers);
    const again = await api.post('/api/kins', kinInput({ name: 'Once' }), headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const named = (await api.get('/api/kins')).body.kins.filter((k: { name: string }) => k.name === 'Once');
    expect(named).toHaveLength(1);
  });
});

describe('GET /api/kins and /api/kins/:id', () => {
  it('lists Kins with the summary shape', async () => {
    const created = (await api.post('/api/kins', kinInput({ name: 'Listed' }))).body.kin;
    const { status, body } = await api.get('/api/kins');
    expect(status).toBe(200);
    const listed = body.kins.find((k: { id: string }) => k.id === created.id);
    expect(listed).toEqual({
      id: created.id,
      slug: 'listed',
      name: 'Listed',
      role: 'Finds things',
      avatarUrl: null,
      model: 'gpt-4o',
      providerId: null,
      createdAt: created.createdAt,
      isHub: false,
      isProcessing: false,
      queueSize: 0,
    });
  });

  it('finds a Kin by slug as well as by id, unwrapped', async () => {
    const created = (await api.post('/api/kins', kinInput({ name: 'By Slug' }))).body.kin;
    const bySlug = await api.get('/api/kins/by-slug');
    expect(bySlug.status).toBe(200);
    expect(bySlug.body).toMatchObject({ id: created.id, toolConfig: null, compactingConfig: null, isCompacting: false });
  });

  it('answers 404 KIN_NOT_FOUND for unknown ids and slugs', async () => {
    for (const path of ['/api/kins/01936d3c-0000-7000-8000-000000000000', '/api/kins/nobody', '/api/kins/nobody/tools', '/api/kins/nobody/context-usage']) {
      const { status, body } = await api.get(path);
      expect(status).toBe(404);
      expect(body).toEqual({ error: { code: 'KIN_NOT_FOUND', message: 'Kin not found' } });
    }
  });
});

describe('PATCH /api/kins/:id', () => {
  it('updates fields, tool config and slug, and a GET sees it', async () => {
    const created = (await api.post('/api/kins', kinInput({ name: 'Before' }))).body.kin;
    const { status, body } = await api.patch(`/api/kins/${created.id}`, {
      name: 'After',
      slug: 'after-slug',
      toolConfig: { disabledNativeTools: ['list_kins'], mcpAccess: {}, enabledOptInTools: ['get_kin_details'] },
    });
    expect(status).toBe(200);
    expect(body.kin).toMatchObject({ name: 'After', slug: 'after-slug', queueSize: 0, isProcessing: false });
    expect(body.kin.toolConfig.disabledNativeTools).toEqual(['list_kins']);
    expect((await api.get('/api/kins/after-slug')).body.name).toBe('After');
    expect((await api.get('/api/kins/before')).status).toBe(404);
    const tools = (await api.get('/api/kins/after-slug/tools')).body.nativeTools.flatMap((d: { tools: unknown[] }) => d.tools);
    expect(tools).toContainEqual({ name: 'list_kins', enabled: false, defaultDisabled: false });
    expect(tools).toContainEqual({ name: 'get_kin_details', enabled: true, defaultDisabled: true });
  });

  it('frees the old slug after a rename so another Kin can take it', async () => {
    const a = (await api.post('/api/kins', kinInput({ name: 'Swap A' }))).body.kin;
    await api.patch(`/api/kins/${a.id}`, { slug: 'swap-a-renamed' });
    const b = (await api.post('/api/kins', kinInput({ name: 'Swap A' }))).body.kin;
    expect(b.slug).toBe('swap-a');
  });

  it('rejects an invalid slug (400) and a taken one (409), changing nothing', async () => {
    const a = (await api.post('/api/kins', kinInput({ name: 'Slug Owner' }))).body.kin;
    const b = (await api.post('/api/kins', kinInput({ name: 'Slug Wanter' }))).body.kin;
    for (const slug of ['Bad Slug', '-lead', 'double--dash', 'x'.repeat(51)]) {
      const { status, body } = await api.patch(`/api/kins/${b.id}`, { slug });
      expect(status).toBe(400);
      expect(body.error.code).toBe('INVALID_SLUG');
    }
    const taken = await api.patch(`/api/kins/${b.id}`, { slug: a.slug, name: 'Renamed' });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toEqual({ code: 'SLUG_TAKEN', message: 'This slug is already in use' });
    expect((await api.get(`/api/kins/${b.id}`)).body).toMatchObject({ slug: 'slug-wanter', name: 'Slug Wanter' });
  });

  it('validates fields like creation does, with "cannot be empty" messages', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Patchable' }))).body.kin;
    const blank = await api.patch(`/api/kins/${kin.id}`, { name: '  ' });
    expect(blank.body.error).toMatchObject({ code: 'INVALID_NAME', message: 'Name cannot be empty' });
    const model = await api.patch(`/api/kins/${kin.id}`, { model: '' });
    expect(model.body.error).toMatchObject({ code: 'INVALID_MODEL', message: 'Model cannot be empty' });
    expect((await api.patch('/api/kins/nobody', { name: 'x' })).status).toBe(404);
  });

  it('survives 20 concurrent PATCHes of one Kin: only 200 or 409, and no lost update', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Contended' }))).body.kin;
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api.patch(`/api/kins/${kin.id}`, { expertise: `version ${i}` })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
    const succeeded = responses.filter((r) => r.status === 200).map((r) => r.body.kin.expertise);
    expect(succeeded.length).toBeGreaterThan(0);
    // Every accepted PATCH is one KinUpdated event, and the final state is the last of them.
    const events = await server.services.eventStore.readStream(`kin-${kin.id}`);
    const updates = events.filter((e) => e.type === 'KinUpdated').map((e) => (e.data as { changes: { expertise: string } }).changes.expertise);
    expect(updates.sort()).toEqual([...succeeded].sort());
    expect((await api.get(`/api/kins/${kin.id}`)).body.expertise).toBe(updates.at(-1) === undefined ? '' : (events.filter((e) => e.type === 'KinUpdated').at(-1)!.data as { changes: { expertise: string } }).changes.expertise);
  });
});

describe('DELETE /api/kins/:id', () => {
  it('deletes, then answers 404, and frees the slug', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Doomed' }))).body.kin;
    const { status, body } = await api.delete(`/api/kins/${kin.id}`);
    expect(status).toBe(200);
    expect(body).toEqual({ success: true });
    expect((await api.get(`/api/kins/${kin.id}`)).status).toBe(404);
    expect((await api.delete(`/api/kins/${kin.id}`)).status).toBe(404);
    expect((await api.post('/api/kins', kinInput({ name: 'Doomed' }))).body.kin.slug).toBe('doomed');
  });
});

describe('GET /api/kins/:id/context-usage', () => {
  it('estimates the system prompt from the identity and uses the model window', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Ctx', model: 'claude-sonnet-4', character: 'c'.repeat(400) }))).body.kin;
    const { status, body } = await api.get(`/api/kins/${kin.id}/context-usage`);
    expect(status).toBe(200);
    const identityTokens = Math.ceil(['Ctx', 'Finds things', 'c'.repeat(400), ''].join(' ').length / 4);
    expect(body.contextBreakdown.systemPrompt).toBe(identityTokens + 1500);
    expect(body).toMatchObject({ contextWindow: 200_000, pipelineStatus: null, compactingMessages: 0, compactingMessageThreshold: 35 });
    expect(body.contextTokens).toBe(body.contextBreakdown.total);
  });
});

describe('POST /api/kins/:id/avatar', () => {
  it('stores an image, serves it back at the Kin avatarUrl, and bumps ?v', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Pictured' }))).body.kin;
    const response = await uploadAvatar(kin.id, PNG);
    expect(response.status).toBe(200);
    const { avatarUrl } = (await response.json()) as { avatarUrl: string };
    expect(avatarUrl).toMatch(new RegExp(`^/api/uploads/kins/${kin.id}/avatar\\.png\\?v=\\d+$`));
    expect((await api.get(`/api/kins/${kin.id}`)).body.avatarUrl).toBe(avatarUrl);
    const image = await fetch(server.url + avatarUrl, { headers: await authHeaders() });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(PNG)).toBe(true);
    expect((await fetch(server.url + avatarUrl)).status).toBe(401);
  });

  it('refuses non-images, missing files and files over 10 MB with 400', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Picky' }))).body.kin;
    const text = await uploadAvatar(kin.id, Buffer.from('not an image at all'), 'evil.png', 'image/png');
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe('INVALID_FILE_TYPE');
    const big = await uploadAvatar(kin.id, Buffer.concat([PNG, Buffer.alloc(10 * 1024 * 1024)]));
    expect(big.status).toBe(400);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('FILE_TOO_LARGE');
    const none = await fetch(`${server.url}/api/kins/${kin.id}/avatar`, { method: 'POST', body: new FormData(), headers: await authHeaders() });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('INVALID_FILE');
    expect((await api.get(`/api/kins/${kin.id}`)).body.avatarUrl).toBeNull();
  });

  it('answers 404 for an unknown Kin', async () => {
    expect((await uploadAvatar('nobody', PNG)).status).toBe(404);
  });
});

describe('credentials and routing', () => {
  it.each([
    ['GET', '/api/kins'],
    ['POST', '/api/kins'],
    ['GET', '/api/kins/any'],
    ['PATCH', '/api/kins/any'],
    ['DELETE', '/api/kins/any'],
    ['GET', '/api/kins/any/tools'],
    ['GET', '/api/kins/any/context-usage'],
    ['POST', '/api/kins/any/avatar'],
    ['GET', '/api/sse'],
  ])('%s %s answers 401 with the envelope without credentials', async (method, path) => {
    const { status, body } = await anonymous.request(method, path, method === 'GET' ? undefined : {});
    expect(status).toBe(401);
    expect(body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
  });

  it('answers 400 INVALID_PATH for a path whose percent-encoding is broken, not 500', async () => {
    const broken = await api.get('/api/kins/%E0%A4%A');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('INVALID_PATH');
  });

  it('answers 404 ROUTE_NOT_FOUND for unknown routes and 405 with Allow for a wrong method', async () => {
    const unknown = await api.get('/api/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('ROUTE_NOT_FOUND');
    const wrong = await api.request('PUT', '/api/kins', {});
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toContain('POST');
  });
});

describe('GET /api/sse', () => {
  it('sends connected, then kin:created / kin:updated / kin:deleted in the documented envelope', async () => {
    const sse = await openSse(server.url, await authHeaders());
    expect(sse.response.headers.get('content-type')).toContain('text/event-stream');
    const received = sse.received;
    expect(received[0]).toMatchObject({ event: 'connected', data: { type: 'connected' } });
    expect(received[0]!.data.connectionId).toMatch(/^[0-9a-f-]{36}$/);

    const kin = (await api.post('/api/kins', kinInput({ name: 'Live' }))).body.kin;
    await api.patch(`/api/kins/${kin.id}`, { role: 'Streams' });
    await api.delete(`/api/kins/${kin.id}`);
    await sse.waitFor(() => received.some((m) => m.data?.type === 'kin:deleted' && m.data.kinId === kin.id));
    await sse.close();
    // DECISIONS 20: the payload at the top level, as the web app reads it, and under `data`.
    const created = { kinId: kin.id, slug: 'live', name: 'Live', role: 'Finds things', model: 'gpt-4o', providerId: null, avatarUrl: null, createdAt: kin.createdAt };
    const updated = { kinId: kin.id, slug: 'live', name: 'Live', role: 'Streams', model: 'gpt-4o', providerId: null, avatarUrl: null };
    const mine = received.filter((m) => m.event === 'message' && m.data.kinId === kin.id).map((m) => m.data);
    expect(mine).toEqual([
      { type: 'kin:created', ...created, data: created },
      { type: 'kin:updated', ...updated, data: updated },
      { type: 'kin:deleted', kinId: kin.id, data: { kinId: kin.id } },
    ]);
  });
});
