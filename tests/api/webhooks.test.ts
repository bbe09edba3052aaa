import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeTools, type ToolContext } from '../../src/agents/tools.js';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;
let kinId: string;

beforeAll(async () => {
  llm = await startFakeLlm({ apiKey: 'sk-fake' });
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl, 'sk-fake');
  expect(provider.status).toBe(201);
  kinId = (await api.post('/api/kins', kinInput({ name: 'Hooked', model: 'fake-chat' }))).body.kin.id;
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

/** POSTs a payload to the incoming route, as a sender (no session) would. */
async function deliver(webhookId: string, body: string | undefined, options: { token?: string; query?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(`${server.url}/api/webhooks/incoming/${webhookId}${options.query ?? ''}`, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

async function createWebhook(name: string, forKin = kinId) {
  const created = await api.post('/api/webhooks', { kinId: forKin, name });
  expect(created.status).toBe(201);
  return created.body.webhook as { id: string; token: string; url: string };
}

/** Waits until the Kin's history holds `count` messages (or gives up after ~6 s). */
async function historyOf(id: string, count: number) {
  for (let i = 0; i < 300; i++) {
    const { body } = await api.get(`/api/kins/${id}/messages`);
    if (body.messages.length >= count) return body.messages;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await api.get(`/api/kins/${id}/messages`)).body.messages;
}

describe('webhook management', () => {
  it('creates a webhook with its token once, lists it without, and deletes it', async () => {
    const sse = await openSse(server.url, { cookie });
    const created = await api.post('/api/webhooks', { kinId, name: '  GitHub  ', description: 'Issues' });
    expect(created.status).toBe(201);
    const webhook = created.body.webhook;
    expect(webhook).toMatchObject({
      kinId,
      kinName: 'Hooked',
      kinAvatarUrl: null,
      name: 'GitHub',
      description: 'Issues',
      isActive: true,
      triggerCount: 0,
      lastTriggeredAt: null,
      filterMode: null,
      filterField: null,
      filterAllowedValues: null,
      filterExpression: null,
      filteredCount: 0,
      createdBy: 'user',
      url: `${server.services.config.publicUrl}/api/webhooks/incoming/${webhook.id}`,
    });
    expect(webhook.token).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof webhook.createdAt).toBe('number');

    const listed = await api.get(`/api/webhooks?kinId=${kinId}`);
    const found = listed.body.webhooks.find((w: { id: string }) => w.id === webhook.id);
    expect(found).toMatchObject({ name: 'GitHub' });
    expect(found).not.toHaveProperty('token');
    expect((await api.get('/api/webhooks?kinId=nobody')).body.webhooks).toEqual([]);

    // The token is in no event: only its hash is.
    const events = await server.services.eventStore.readStream(`webhook-${webhook.id}`);
    expect(JSON.stringify(events)).not.toContain(webhook.token);

    expect(await api.delete(`/api/webhooks/${webhook.id}`)).toMatchObject({ status: 200, body: { success: true } });
    expect((await api.delete(`/api/webhooks/${webhook.id}`)).body.error).toEqual({ code: 'NOT_FOUND', message: 'Webhook not found' });
    expect((await deliver(webhook.id, '{}', { token: webhook.token })).status).toBe(404);

    await sse.waitFor(() => sse.messages().some((m) => m.type === 'webhook:deleted' && m.data.webhookId === webhook.id));
    await sse.close();
    const mine = sse.messages().filter((m) => m.data?.webhookId === webhook.id);
    expect(mine.map((m) => m.type)).toEqual(['webhook:created', 'webhook:deleted']);
    expect(mine[0]).toEqual({ type: 'webhook:created', kinId, data: { webhookId: webhook.id, kinId } });
  });

  it('validates creation as the spec says', async () => {
    const required = { code: 'VALIDATION_ERROR', message: 'kinId and name are required' };
    expect((await api.post('/api/webhooks', { name: 'x' })).body.error).toMatchObject(required);
    expect((await api.post('/api/webhooks', { kinId, name: '   ' })).body.error).toMatchObject(required);
    expect((await api.post('/api/webhooks', { kinId, name: 'x'.repeat(201) })).body.error.code).toBe('VALIDATION_ERROR');
    expect((await api.post('/api/webhooks', { kinId, name: 'x', description: 'd'.repeat(1001) })).status).toBe(400);
    const missing = await api.post('/api/webhooks', { kinId: '01936d3c-0000-7000-8000-000000000000', name: 'x' });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'Kin not found' } } });
  });

  it('refuses a 21st webhook for one Kin', async () => {
    const crowded = (await api.post('/api/kins', kinInput({ name: 'Crowded' }))).body.kin.id;
    for (let i = 0; i < 20; i++) expect((await api.post('/api/webhooks', { kinId: crowded, name: `hook ${i}` })).status).toBe(201);
    const refused = await api.post('/api/webhooks', { kinId: crowded, name: 'one too many' });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'WEBHOOK_CREATE_ERROR', message: 'Max webhooks per Kin (20) reached' } } });
    expect((await api.get(`/api/webhooks?kinId=${crowded}`)).body.webhooks).toHaveLength(20);
  });

  it('stores filters by mode and validates them', async () => {
    const webhook = await createWebhook('Filtered');
    const path = `/api/webhooks/${webhook.id}`;
    const simple = await api.patch(path, { filterMode: 'simple', filterField: ' action ', filterAllowedValues: ['opened'], filterExpression: 'ignored' });
    expect(simple.status).toBe(200);
    expect(simple.body.webhook).toMatchObject({ filterMode: 'simple', filterField: 'action', filterAllowedValues: ['opened'], filterExpression: null });
    // No filterMode: the filter stays as it is.
    const renamed = await api.patch(path, { name: 'Renamed', description: null, filterField: 'other' });
    expect(renamed.body.webhook).toMatchObject({ name: 'Renamed', description: null, filterMode: 'simple', filterField: 'action' });
    const advanced = await api.patch(path, { filterMode: 'advanced', filterExpression: ' "action":"opened" ' });
    expect(advanced.body.webhook).toMatchObject({ filterMode: 'advanced', filterField: null, filterAllowedValues: null, filterExpression: '"action":"opened"' });
    const cleared = await api.patch(path, { filterMode: null });
    expect(cleared.body.webhook).toMatchObject({ filterMode: null, filterField: null, filterAllowedValues: null, filterExpression: null });

    const invalid = async (body: unknown) => (await api.patch(path, body)).body.error;
    expect(await invalid({ filterMode: 'simple' })).toMatchObject({ code: 'VALIDATION_ERROR', message: 'filterField is required for simple mode' });
    expect(await invalid({ filterMode: 'advanced', filterExpression: '(' })).toMatchObject({ code: 'VALIDATION_ERROR', message: 'Invalid regular expression' });
    expect(await invalid({ filterMode: 'advanced', filterExpression: 'a'.repeat(501) })).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(await invalid({ filterMode: 'simple', filterField: 'a', filterAllowedValues: 'opened' })).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(await invalid({ name: ' ' })).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(await invalid({ description: 'd'.repeat(1001) })).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect((await api.patch('/api/webhooks/nope', { name: 'x' })).body.error).toEqual({ code: 'NOT_FOUND', message: 'Webhook not found' });
  });

  it('tests a filter without side effects, with overrides taking the place of the saved fields', async () => {
    const webhook = await createWebhook('Tester');
    await api.patch(`/api/webhooks/${webhook.id}`, { filterMode: 'simple', filterField: 'action', filterAllowedValues: ['opened'] });
    const test = (body: unknown) => api.post(`/api/webhooks/${webhook.id}/test-filter`, body);
    expect((await test({ payload: '{"action":"Opened"}' })).body).toEqual({ passed: true, extractedValue: 'Opened' });
    expect((await test({ payload: '{"action":"closed"}' })).body).toEqual({ passed: false, extractedValue: 'closed' });
    expect((await test({ payload: '{"action":"closed"}', filterAllowedValues: ['closed'] })).body).toEqual({ passed: true, extractedValue: 'closed' });
    expect((await test({ payload: 'x', filterMode: null })).body).toEqual({ passed: true });
    expect((await test({ payload: 'abc', filterMode: 'advanced', filterExpression: '^a' })).body).toEqual({ passed: true });
    expect((await test({ payload: '' })).body).toEqual({ passed: true, error: 'non-json' });
    expect((await test({})).body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'payload is required' });
    expect((await test({ payload: null })).body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'payload is required' });
    const after = (await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs;
    expect(after).toEqual([]);
  });
});

describe('incoming webhooks', () => {
  it('accepts a payload with the right token, logs it, and the Kin answers it', async () => {
    const webhook = await createWebhook('Deploys');
    llm.setDefault({ text: 'Noted, the deploy went fine.' });
    const sse = await openSse(server.url, { cookie });
    const payload = JSON.stringify({ status: 'success', env: { name: 'prod' } });
    const delivered = await deliver(webhook.id, payload, { token: webhook.token, headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(delivered).toMatchObject({ status: 200, body: { success: true } });

    const history = await historyOf(kinId, 2);
    const mine = history.slice(-2);
    expect(mine[0]).toMatchObject({ role: 'user', sourceType: 'webhook', sourceId: webhook.id, content: `[Webhook: Deploys]\n${payload}` });
    expect(mine[1]).toMatchObject({ role: 'assistant', content: 'Noted, the deploy went fine.' });
    expect(llm.chatRequests().at(-1)!.messages.at(-1)!.content).toContain(payload);

    await sse.waitFor(() => sse.messages().some((m) => m.type === 'webhook:triggered'));
    await sse.close();
    const triggered = sse.messages().find((m) => m.type === 'webhook:triggered')!;
    expect(triggered).toEqual({ type: 'webhook:triggered', kinId, data: { webhookId: webhook.id, kinId, queueItemId: expect.any(String) } });

    const logs = (await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs;
    expect(logs).toEqual([{ id: expect.any(String), webhookId: webhook.id, payload, sourceIp: '203.0.113.9', filtered: false, createdAt: expect.any(Number) }]);
    const summary = (await api.get(`/api/webhooks?kinId=${kinId}`)).body.webhooks.find((w: { id: string }) => w.id === webhook.id);
    expect(summary).toMatchObject({ triggerCount: 1, filteredCount: 0, lastTriggeredAt: logs[0].createdAt });

    // The ingestion is an event of the webhook's log stream, linked to the queued turn.
    const [event] = await server.services.eventStore.readStream(`webhooklog-${webhook.id}`);
    expect(event).toMatchObject({ type: 'WebhookPayloadAccepted', data: { logId: logs[0].id, queueItemId: triggered.data.queueItemId } });
  });

  it('takes the token from the query too, and any body: not JSON, empty', async () => {
    const webhook = await createWebhook('Anything');
    llm.setDefault({ text: 'ok' });
    const before = (await historyOf(kinId, 0)).length;
    expect((await deliver(webhook.id, '{not json', { query: `?token=${webhook.token}` })).status).toBe(200);
    expect((await deliver(webhook.id, undefined, { token: webhook.token, headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    const logs = (await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs;
    expect(logs.map((log: { payload: string | null; sourceIp: string }) => [log.payload, log.sourceIp])).toEqual([
      [null, 'unknown'],
      ['{not json', 'unknown'],
    ]);
    await historyOf(kinId, before + 4);
  });

  it('answers 401 without a token, 403 with a wrong one, 404 for an unknown webhook, 409 when inactive, 405 for other methods', async () => {
    const webhook = await createWebhook('Guarded');
    expect(await deliver(webhook.id, '{}')).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED', message: 'Token required. Use Authorization: Bearer <token> header or ?token= query param.' } },
    });
    expect(await deliver(webhook.id, '{}', { token: 'f'.repeat(64) })).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN', message: 'Invalid token' } } });
    expect((await deliver(webhook.id, '{}', { query: '?token=short' })).status).toBe(403);
    expect((await deliver('01936d3c-0000-7000-8000-000000000000', '{}', { token: webhook.token })).body.error.code).toBe('WEBHOOK_NOT_FOUND');
    await api.patch(`/api/webhooks/${webhook.id}`, { isActive: false });
    expect(await deliver(webhook.id, '{}', { token: webhook.token })).toMatchObject({ status: 409, body: { error: { code: 'WEBHOOK_INACTIVE' } } });
    const get = await client(server.url).get(`/api/webhooks/incoming/${webhook.id}`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    // Nothing was logged.
    expect((await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs).toEqual([]);
  });

  it('stops working with the old token as soon as a new one is generated', async () => {
    const webhook = await createWebhook('Rotated');
    await api.patch(`/api/webhooks/${webhook.id}`, { filterMode: 'advanced', filterExpression: '^never$' });
    const regenerated = await api.post(`/api/webhooks/${webhook.id}/regenerate-token`);
    expect(regenerated.status).toBe(200);
    expect(regenerated.body.token).toMatch(/^[0-9a-f]{64}$/);
    expect((await deliver(webhook.id, 'x', { token: webhook.token })).status).toBe(403);
    expect((await deliver(webhook.id, 'x', { token: regenerated.body.token })).status).toBe(200);
    expect((await api.post('/api/webhooks/nope/regenerate-token')).status).toBe(404);
  });

  it('logs a payload the filter turns away and queues no turn', async () => {
    const webhook = await createWebhook('Picky');
    await api.patch(`/api/webhooks/${webhook.id}`, { filterMode: 'simple', filterField: 'action', filterAllowedValues: ['opened'] });
    const queued = () => server.services.readStore.collection('queue_items').count({ sourceId: webhook.id });
    const filtered = await deliver(webhook.id, '{"action":"closed"}', { token: webhook.token });
    expect(filtered).toMatchObject({ status: 200, body: { success: true, filtered: true } });
    expect(await queued()).toBe(0);
    const logs = (await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs;
    expect(logs).toMatchObject([{ payload: '{"action":"closed"}', filtered: true }]);
    const summary = (await api.get(`/api/webhooks?kinId=${kinId}`)).body.webhooks.find((w: { id: string }) => w.id === webhook.id);
    expect(summary).toMatchObject({ triggerCount: 1, filteredCount: 1 });
    const [event] = await server.services.eventStore.readStream(`webhooklog-${webhook.id}`);
    expect(event).toMatchObject({ type: 'WebhookPayloadFiltered', data: { extractedValue: 'closed' } });
  });

  it('refuses a payload over 1 048 576 characters with 413, counting characters, not bytes', async () => {
    const webhook = await createWebhook('Big');
    await api.patch(`/api/webhooks/${webhook.id}`, { filterMode: 'advanced', filterExpression: '^never$' });
    const tooBig = await deliver(webhook.id, 'x'.repeat(1_048_577), { token: webhook.token });
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    // 600 000 characters of 3 bytes each: 1.8 MB, but within the limit.
    const wide = await deliver(webhook.id, '€'.repeat(600_000), { token: webhook.token, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    expect(wide).toMatchObject({ status: 200, body: { success: true, filtered: true } });
    const [log] = (await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs;
    expect(log.payload).toHaveLength(10_240);
    // The connection is still usable after a refused body.
    expect((await deliver(webhook.id, 'x'.repeat(5_000_000), { token: webhook.token })).status).toBe(413);
    expect((await deliver(webhook.id, 'small', { token: webhook.token })).status).toBe(200);
  });

  it('rate-limits each webhook id to 60 requests a minute, unknown ids included, with Retry-After', async () => {
    const unknown = '01936d3c-0000-7000-8000-00000000abcd';
    const statuses = [];
    for (let i = 0; i < 60; i++) statuses.push((await deliver(unknown, '{}')).status);
    expect(new Set(statuses)).toEqual(new Set([404]));
    const limited = await deliver(unknown, '{}');
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED', message: 'Rate limit exceeded (max 60/min)' } } });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Another webhook is not affected.
    expect((await deliver('01936d3c-0000-7000-8000-00000000abce', '{}')).status).toBe(404);
  });
});

describe('logs and field suggestions', () => {
  it('lists logs newest first with a clamped limit, and suggests fields from the last payload', async () => {
    const webhook = await createWebhook('Chatty');
    await api.patch(`/api/webhooks/${webhook.id}`, { filterMode: 'advanced', filterExpression: '^never$' });
    expect((await api.post(`/api/webhooks/${webhook.id}/suggest-fields`)).body).toEqual({ fields: [], lastPayload: null });
    for (let i = 0; i < 3; i++) await deliver(webhook.id, JSON.stringify({ n: i, data: { kind: 'tick', items: [1] } }), { token: webhook.token });
    const logs = async (query: string) => (await api.get(`/api/webhooks/${webhook.id}/logs${query}`)).body.logs.map((log: { payload: string }) => JSON.parse(log.payload).n);
    expect(await logs('')).toEqual([2, 1, 0]);
    expect(await logs('?limit=2')).toEqual([2, 1]);
    expect(await logs('?limit=0')).toEqual([2]);
    expect(await logs('?limit=abc')).toEqual([2, 1, 0]);
    const suggested = await api.post(`/api/webhooks/${webhook.id}/suggest-fields`);
    expect(suggested.body).toEqual({ fields: ['n', 'data', 'data.kind', 'data.items'], lastPayload: JSON.stringify({ n: 2, data: { kind: 'tick', items: [1] } }) });
    await deliver(webhook.id, 'plain text', { token: webhook.token });
    expect((await api.post(`/api/webhooks/${webhook.id}/suggest-fields`)).body).toEqual({ fields: [], lastPayload: 'plain text' });
    expect((await api.get('/api/webhooks/nope/logs')).status).toBe(404);
  });

  it('keeps logs within the retention when the cleaner runs', async () => {
    const { pruneOldWebhookLogs } = await import('../../src/jobs/webhookLogRetention.js');
    const webhook = await createWebhook('Pruned');
    await api.patch(`/api/webhooks/${webhook.id}`, { filterMode: 'advanced', filterExpression: '^never$' });
    for (let i = 0; i < 4; i++) await deliver(webhook.id, `p${i}`, { token: webhook.token });
    const { services } = server;
    const config = { webhooks: { ...services.config.webhooks, maxLogsPerWebhook: 2 } };
    await pruneOldWebhookLogs({ ...services, config });
    expect((await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs.map((log: { payload: string }) => log.payload)).toEqual(['p3', 'p2']);
    await pruneOldWebhookLogs({ ...services, config }, new Date(Date.now() + 31 * 24 * 3600 * 1000));
    expect((await api.get(`/api/webhooks/${webhook.id}/logs`)).body.logs).toEqual([]);
    // The trigger count is history, not the stored logs.
    const summary = (await api.get(`/api/webhooks?kinId=${kinId}`)).body.webhooks.find((w: { id: string }) => w.id === webhook.id);
    expect(summary).toMatchObject({ triggerCount: 4, filteredCount: 0 });
  });
});

describe('a deleted Kin', () => {
  it('takes its webhooks with it', async () => {
    const doomed = (await api.post('/api/kins', kinInput({ name: 'Doomed' }))).body.kin.id;
    const webhook = await createWebhook('Orphan', doomed);
    const sse = await openSse(server.url, { cookie });
    expect((await api.delete(`/api/kins/${doomed}`)).status).toBe(200);
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'webhook:deleted' && m.data.webhookId === webhook.id));
    await sse.close();
    expect(sse.messages().find((m) => m.type === 'webhook:deleted')).toEqual({ type: 'webhook:deleted', kinId: doomed, data: { webhookId: webhook.id, kinId: doomed } });
    expect((await deliver(webhook.id, '{}', { token: webhook.token })).status).toBe(404);
    expect((await api.get(`/api/webhooks/${webhook.id}/logs`)).status).toBe(404);
    expect((await api.get('/api/webhooks')).body.webhooks.some((w: { id: string }) => w.id === webhook.id)).toBe(false);
  });
});

describe('Kin tools', () => {
  it('let a Kin create, list, update and delete its own webhooks, never seeing a token', async () => {
    const { services } = server;
    const context: ToolContext = { kinId, readStore: services.readStore, services, metadata: { actor: { kind: 'kin', id: kinId }, correlationId: 'c', now: new Date() } };
    const run = async (name: string, input: unknown) => {
      const tool = nativeTools.find((t) => t.name === name)!;
      return (await tool.execute(tool.input.parse(input) as never, context)) as Record<string, any>;
    };
    const created = await run('create_webhook', { name: 'From the Kin', filter_mode: 'simple', filter_field: 'kind', filter_allowed_values: ['alert'] });
    expect(created).toMatchObject({ webhookId: expect.any(String), url: expect.stringContaining('/api/webhooks/incoming/'), filterMode: 'simple' });
    expect(JSON.stringify(created)).not.toMatch(/[0-9a-f]{64}/);
    expect(await run('create_webhook', { name: 'Bad', filter_mode: 'advanced', filter_expression: '(' })).toEqual({ error: 'Invalid regular expression' });

    const listed = await run('list_webhooks', {});
    expect(listed.webhooks.find((w: { id: string }) => w.id === created.webhookId)).toMatchObject({ name: 'From the Kin', filterField: 'kind', filterAllowedValues: ['alert'] });
    const summary = (await api.get(`/api/webhooks?kinId=${kinId}`)).body.webhooks.find((w: { id: string }) => w.id === created.webhookId);
    expect(summary.createdBy).toBe('kin');

    const updated = await run('update_webhook', { webhook_id: created.webhookId, is_active: false, filter_mode: null });
    expect(updated).toMatchObject({ success: true, webhook: { isActive: false, filterMode: null, filterField: null } });
    const other = await createWebhook('Someone else', (await api.post('/api/kins', kinInput({ name: 'Other' }))).body.kin.id);
    expect(await run('delete_webhook', { webhook_id: other.id })).toEqual({ error: 'Webhook not found' });
    expect(await run('delete_webhook', { webhook_id: created.webhookId })).toEqual({ success: true });
    expect((await api.get(`/api/webhooks/${created.webhookId}/logs`)).status).toBe(404);
  });
});
