import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { conversationStream, turnStream } from '../../src/events/messages.js';
import { createLogBuffer } from '../../src/lib/logBuffer.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { openServices, type Services } from '../../src/services.js';
import { contentText, lastUserText, startFakeLlm, toolResults, type ChatRequest, type FakeLlm } from '../fakes/fakeLlm.js';
import { addFakeProvider, client, kinInput, signUp, startTestServer, until, type Client, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

/** The routes the original web app calls beyond the seed (webapp.md §1 items 6, 9, 10, 11, 14, 15). */

let server: TestServer;
let llm: FakeLlm;
let admin: { cookie: string; userId: string; api: Client };
let member: { cookie: string; userId: string; api: Client };
const anonymous = () => client(server.url);

/** A member: invited by the admin, signed up with the invitation's token. */
async function signUpMember(url: string, adminApi: Client, name = 'Grace Hopper') {
  const invitation = await adminApi.post('/api/invitations', {});
  expect(invitation.status).toBe(201);
  const user = { name, email: `${name.split(' ')[0]!.toLowerCase()}@example.com`, password: 'correct horse battery', invitationToken: invitation.body.invitation.token };
  return signUp(url, user);
}

beforeAll(async () => {
  llm = await startFakeLlm({ apiKey: 'sk-fake' });
  llm.setDefault((request) => ({ text: `Reply to ${lastUserText(request)}` }));
  server = await startTestServer();
  admin = await signUp(server.url);
  member = await signUpMember(server.url, admin.api);
  expect((await addFakeProvider(admin.api, llm.baseUrl, 'sk-fake')).status).toBe(201);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const newKin = async (name: string) => (await admin.api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };

describe('GET /api/info', () => {
  it('gives the version, the process start and uptime, and counts from the read models', async () => {
    const before = (await member.api.get('/api/info')).body;
    await newKin('Counted');
    const response = await member.api.get('/api/info');
    expect(response.status).toBe(200);
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    expect(response.body).toMatchObject({ version, isDocker: expect.any(Boolean) });
    expect(response.body.startedAt + response.body.uptimeMs).toBeGreaterThan(Date.now() - 5_000);
    expect(response.body.startedAt + response.body.uptimeMs).toBeLessThanOrEqual(Date.now());
    expect(response.body.stats).toEqual({ ...before.stats, kins: before.stats.kins + 1 });
    expect(response.body.stats).toMatchObject({ providers: 1, users: 2, crons: 0, memories: 0, channels: 0, mcpServers: 0, contacts: 0 });
  });

  it('needs credentials', async () => {
    expect((await anonymous().get('/api/info')).status).toBe(401);
  });
});

describe('GET /api/changelog', () => {
  it("serves the repository's CHANGELOG.md", async () => {
    const response = await member.api.get('/api/changelog');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ content: readFileSync(new URL('../../CHANGELOG.md', import.meta.url), 'utf8') });
    expect(response.body.content).toMatch(/^# Changelog/);
    expect((await anonymous().get('/api/changelog')).status).toBe(401);
  });
});

describe('GET /api/channels/platforms', () => {
  it('lists the six built-in platforms with their display names and colours', async () => {
    const response = await member.api.get('/api/channels/platforms');
    expect(response.status).toBe(200);
    expect(response.body.platforms.map((p: { platform: string }) => p.platform)).toEqual(['telegram', 'discord', 'slack', 'whatsapp', 'signal', 'matrix']);
    expect(response.body.platforms[0]).toEqual({ platform: 'telegram', displayName: 'Telegram', brandColor: '#26A5E4', isPlugin: false });
    for (const platform of response.body.platforms) expect(platform.brandColor).toMatch(/^#[0-9A-F]{6}$/);
    expect((await anonymous().get('/api/channels/platforms')).status).toBe(401);
  });
});

describe('notification preferences', () => {
  const allOn = {
    'prompt:pending': true,
    'channel:user-pending': true,
    'cron:pending-approval': true,
    'mcp:pending-approval': true,
    'kin:error': true,
    'kin:alert': true,
    mention: true,
  };

  it('are every type on by default, per user, and turned off with PUT', async () => {
    expect((await member.api.get('/api/notifications/preferences')).body).toEqual({ preferences: allOn });
    const put = await member.api.request('PUT', '/api/notifications/preferences', { updates: [{ type: 'kin:alert', enabled: false }, { type: 'mention', enabled: false }] });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ preferences: { ...allOn, 'kin:alert': false, mention: false } });
    expect((await member.api.get('/api/notifications/preferences')).body.preferences).toMatchObject({ 'kin:alert': false, mention: false });
    const back = await member.api.request('PUT', '/api/notifications/preferences', { updates: [{ type: 'mention', enabled: true }] });
    expect(back.body.preferences).toEqual({ ...allOn, 'kin:alert': false });
    // The admin's own preferences did not change.
    expect((await admin.api.get('/api/notifications/preferences')).body).toEqual({ preferences: allOn });
  });

  it('keep a turned-off type from reaching that user', async () => {
    await member.api.request('PUT', '/api/notifications/preferences', { updates: [{ type: 'kin:alert', enabled: false }] });
    const kin = await newKin('Herald');
    llm.script({ toolCalls: [{ name: 'notify', args: { title: 'Look at this' } }] }, { text: 'Told everyone who wants to know.' });
    await admin.api.post(`/api/kins/${kin.id}/messages`, { content: 'Raise an alert' });
    const alerts = (api: Client) => api.get('/api/notifications').then((r) => r.body.notifications.filter((n: { type: string }) => n.type === 'kin:alert'));
    expect(await until(() => alerts(admin.api), (found) => found.length === 1)).toHaveLength(1);
    // The tool's result, sent back to the model: one user was notified.
    const results = llm.chatRequests().flatMap(toolResults).filter((result) => result.content.includes('notified'));
    expect(results.map((result) => JSON.parse(result.content))).toEqual([{ success: true, notified: 1 }]);
    expect(await alerts(member.api)).toEqual([]);
  });

  it('refuse an unknown type or a malformed body with 400, and need credentials', async () => {
    const unknown = await member.api.request('PUT', '/api/notifications/preferences', { updates: [{ type: 'kin:gossip', enabled: false }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('VALIDATION_ERROR');
    expect((await member.api.request('PUT', '/api/notifications/preferences', { updates: 'all' })).status).toBe(400);
    expect((await member.api.request('PUT', '/api/notifications/preferences', { updates: [{ type: 'mention' }] })).status).toBe(400);
    expect((await anonymous().get('/api/notifications/preferences')).status).toBe(401);
  });
});

describe('DELETE /api/kins/:kinId/messages', () => {
  const historyOf = async (kinId: string) => (await admin.api.get(`/api/kins/${kinId}/messages?limit=100`)).body.messages as { role: string; content: string }[];
  const historySent = (request: ChatRequest) => request.messages.filter((m) => m.role !== 'system').map((m) => contentText(m.content));
  const systemOf = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')?.content);
  const requestFor = (text: string) => llm.chatRequests().find((request) => lastUserText(request).endsWith(text));

  async function converse(kinId: string, texts: string[]) {
    const before = (await historyOf(kinId)).length;
    const ids: string[] = [];
    for (const content of texts) ids.push((await admin.api.post(`/api/kins/${kinId}/messages`, { content })).body.messageId);
    const history = await until(() => historyOf(kinId), (messages) => messages.length >= before + 2 * texts.length);
    expect(history).toHaveLength(before + 2 * texts.length);
    return ids;
  }

  it('clears the history, the compaction summary and what the model is sent next, keeping the log and announcing chat:cleared', async () => {
    const kin = await newKin('Forgetful');
    const queued = await converse(kin.id, Array.from({ length: 9 }, (_, i) => `old ${i + 1}`));
    llm.script({ text: 'SUMMARY OF THE OLD DAYS' });
    expect((await admin.api.post(`/api/kins/${kin.id}/compacting/run`)).status).toBe(200);
    await converse(kin.id, ['old 10']);
    expect(systemOf(requestFor('old 10')!)).toContain('SUMMARY OF THE OLD DAYS');

    const sse = await openSse(server.url, { cookie: member.cookie });
    const cleared = await admin.api.delete(`/api/kins/${kin.slug}/messages`);
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({ ok: true });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:cleared'));
    await sse.close();
    expect(sse.messages().filter((m) => m.type === 'chat:cleared')).toEqual([expect.objectContaining({ type: 'chat:cleared', kinId: kin.id })]);
    expect(await historyOf(kin.id)).toEqual([]);

    await converse(kin.id, ['a fresh start']);
    const next = requestFor('a fresh start')!;
    expect(historySent(next)).toEqual(['[Ada Lovelace] a fresh start']);
    expect(systemOf(next)).not.toContain('SUMMARY OF THE OLD DAYS');
    expect((await historyOf(kin.id)).map((m) => m.content)).toEqual(['a fresh start', 'Reply to [Ada Lovelace] a fresh start']);

    // The log keeps what was said: the clear is an event of its own.
    const { eventStore } = server.services;
    expect((await eventStore.readStream(turnStream(queued[0]!))).map((e) => e.type)).toEqual(['MessageQueued', 'TurnStarted', 'AssistantMessageRecorded']);
    expect((await eventStore.readStream(conversationStream(kin.id))).map((e) => e.type)).toEqual(['ConversationCleared']);
  });

  it('stops the turn in progress, whose answer is not kept, and answers the queued messages afterwards', async () => {
    const kin = await newKin('Busy');
    const sse = await openSse(server.url, { cookie: admin.cookie });
    llm.hangNext({ afterFrames: 2 });
    llm.script({ text: 'An answer that is cut short' });
    await admin.api.post(`/api/kins/${kin.id}/messages`, { content: 'start something long' });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:token' && m.kinId === kin.id));
    await admin.api.post(`/api/kins/${kin.id}/messages`, { content: 'still waiting in the queue' });
    expect((await admin.api.get(`/api/kins/${kin.id}/messages/queue`)).body.items).toHaveLength(1);

    expect((await admin.api.delete(`/api/kins/${kin.id}/messages`)).status).toBe(200);
    const history = await until(() => historyOf(kin.id), (messages) => messages.length >= 2);
    await sse.close();
    expect(history.map((m) => m.content)).toEqual(['still waiting in the queue', 'Reply to [Ada Lovelace] still waiting in the queue']);
    expect(historySent(requestFor('still waiting in the queue')!)).toEqual(['[Ada Lovelace] still waiting in the queue']);
  });

  it('answers 404 for an unknown Kin and 401 without credentials', async () => {
    const missing = await admin.api.delete('/api/kins/nobody-here/messages');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('KIN_NOT_FOUND');
    expect((await anonymous().delete('/api/kins/nobody-here/messages')).status).toBe(401);
  });
});

describe('GET /api/logs', () => {
  /** A server whose logger feeds the buffer, as src/main.ts builds it (without the terminal). */
  let logging: { url: string; services: Services; running: RunningServer; dataDir: string };
  let root: Awaited<ReturnType<typeof signUp>>;
  let guest: Awaited<ReturnType<typeof signUp>>;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kinbot-logs-'));
    const logs = createLogBuffer();
    const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' });
    const services = await openServices(config, pino({ level: 'info' }, logs.stream), { logs });
    const running = await startServer(services, 0);
    logging = { url: `http://127.0.0.1:${running.port}`, services, running, dataDir };
    root = await signUp(logging.url);
    guest = await signUpMember(logging.url, root.api, 'Linus Pauling');
  });
  afterAll(async () => {
    await logging.running.close();
    rmSync(logging.dataDir, { recursive: true, force: true });
  });

  it('gives admins the recent entries with the request lines, oldest first', async () => {
    await root.api.get('/api/kins');
    const response = await root.api.get('/api/logs?limit=200');
    expect(response.status).toBe(200);
    const requests = response.body.logs.filter((entry: { message: string }) => entry.message === 'request');
    expect(requests.at(-1)).toMatchObject({ level: 'info', module: 'server', data: { method: 'GET', url: '/api/kins', status: 200 } });
    const times = response.body.logs.map((entry: { timestamp: number }) => entry.timestamp);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect((await root.api.get('/api/logs?limit=1')).body.logs).toHaveLength(1);
  });

  it('filters by level, module and text, and lists the modules', async () => {
    logging.services.log.child({ module: 'probe' }).warn({ kinId: 'k-42' }, 'Careful with the probe');
    const warnings = (await root.api.get('/api/logs?level=warn')).body.logs;
    expect(warnings).toContainEqual(expect.objectContaining({ level: 'warn', module: 'probe', message: 'Careful with the probe', data: { kinId: 'k-42' } }));
    expect(warnings.every((entry: { level: string }) => ['warn', 'error', 'fatal'].includes(entry.level))).toBe(true);
    expect((await root.api.get('/api/logs?module=probe')).body.logs.map((entry: { message: string }) => entry.message)).toEqual(['Careful with the probe']);
    expect((await root.api.get('/api/logs?search=CAREFUL')).body.logs).toHaveLength(1);
    expect((await root.api.get('/api/logs?search=k-42')).body.logs).toHaveLength(1);
    const modules = (await root.api.get('/api/logs/modules')).body;
    expect(modules.modules).toEqual(expect.arrayContaining(['probe', 'server']));
    expect((await root.api.get('/api/logs?level=loud')).status).toBe(400);
  });

  it('keeps credentials that requests carry out of the entries', async () => {
    await fetch(`${logging.url}/s/share-token-abc123?password=hunter2`);
    await fetch(`${logging.url}/api/invitations/invite-token-xyz789/validate`);
    await fetch(`${logging.url}/api/webhooks/incoming/some-hook?token=webhook-secret-555`);
    const text = JSON.stringify((await root.api.get('/api/logs')).body.logs);
    for (const secret of ['share-token-abc123', 'hunter2', 'invite-token-xyz789', 'webhook-secret-555']) expect(text).not.toContain(secret);
    expect(text).toContain('/s/[redacted]?password=[redacted]');
    expect(text).toContain('/api/webhooks/incoming/some-hook?token=[redacted]');
  });

  it('streams log:entry to admins only', async () => {
    const adminFeed = await openSse(logging.url, { cookie: root.cookie });
    const memberFeed = await openSse(logging.url, { cookie: guest.cookie });
    logging.services.log.child({ module: 'probe' }).info('Live line for admins');
    await adminFeed.waitFor(() => adminFeed.messages().some((m) => m.type === 'log:entry' && m.data.message === 'Live line for admins'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await adminFeed.close();
    await memberFeed.close();
    const entry = adminFeed.messages().find((m) => m.type === 'log:entry' && m.data.message === 'Live line for admins');
    expect(entry?.data).toMatchObject({ level: 'info', module: 'probe', timestamp: expect.any(Number) });
    expect(memberFeed.messages().filter((m) => m.type === 'log:entry')).toEqual([]);
  });

  it('is for admins only', async () => {
    const forbidden = await guest.api.get('/api/logs');
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    expect((await guest.api.get('/api/logs/modules')).status).toBe(403);
    expect((await client(logging.url).get('/api/logs')).status).toBe(401);
  });
});
