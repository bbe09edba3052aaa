import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { createQuickSession } from '../../src/commands/quickSessions.js';
import { cleanUpQuickSessions } from '../../src/jobs/quickSessionCleanup.js';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer, until } from './helpers.js';
import { queueMessage } from '../../src/commands/messages.js';
import { MESSAGES } from '../../src/projections/messages.js';
import { openSse } from './sse.js';

const HOUR = 60 * 60 * 1000;

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;
let userId: string;

async function setUpProvider(target: Client, fake: FakeLlm) {
  const provider = await target.post('/api/providers', { name: 'Fake', type: 'openai-compatible', config: { baseUrl: fake.baseUrl, apiKey: 'sk-fake' } });
  expect(provider.status).toBe(201);
}

beforeAll(async () => {
  llm = await startFakeLlm({ apiKey: 'sk-fake' });
  server = await startTestServer();
  ({ api, cookie, userId } = await signUp(server.url));
  await setUpProvider(api, llm);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const newKin = async (name: string, target = api) => (await target.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };

/** Polls until `read` gives a value that `done` accepts (or gives up after ~6 s). */
const eventually = <T>(read: () => Promise<T>, done: (value: T) => boolean) => until(read, done, 6000);

const sessionMessages = (id: string, count: number, target = api) =>
  eventually(async () => (await target.get(`/api/quick-sessions/${id}`)).body.messages as any[], (messages) => messages.length >= count);

/** A session of `owner` whose creation happened `ago` ms before now: through the command handler, with an injected clock. */
async function createdAgo(target: TestServer, kinId: string, owner: string, ago: number) {
  const metadata = { actor: { kind: 'user' as const, id: owner }, correlationId: uuidv7(), now: new Date(Date.now() - ago) };
  const created = await createQuickSession(target.services, { kinId, userId: owner, title: 'Old chat' }, metadata);
  await target.services.settle(created.position);
  return created.session.sessionId;
}

describe('a quick session', () => {
  it('answers in the session only: the model sees the session alone, SSE carries sessionId, main history is untouched', async () => {
    const kin = await newKin('Sidekick');
    const sse = await openSse(server.url, { cookie });
    llm.setDefault({ text: 'A main answer.' });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'main hello' });
    const main = await eventually(async () => (await api.get(`/api/kins/${kin.id}/messages`)).body.messages as any[], (m) => m.length >= 2);
    const mainTools = llm.chatRequests().at(-1)!.tools!.map((t) => t.function.name);
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'queue:update' && m.kinId === kin.id && !m.data.isProcessing && m.data.queueSize === 0));
    const mainEvents = sse.messages().length;

    const created = await api.post(`/api/kins/${kin.slug}/quick-sessions`, { title: '  Side chat  ' });
    expect(created.status).toBe(201);
    const session = created.body;
    expect(session).toEqual({
      id: expect.any(String),
      kinId: kin.id,
      title: 'Side chat',
      status: 'active',
      createdAt: expect.any(Number),
      closedAt: null,
      expiresAt: session.createdAt + 24 * HOUR,
    });

    llm.setDefault({ text: 'A side answer.' });
    const sent = await api.post(`/api/quick-sessions/${session.id}/messages`, { content: 'side question' });
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ messageId: expect.any(String), queuePosition: expect.any(Number) });
    expect(sent.body.queuePosition).toBeGreaterThanOrEqual(1);
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:done' && m.data.sessionId === session.id));
    await sse.close();

    const mine = sse.messages().slice(mainEvents).filter((m) => m.kinId === kin.id);
    const tokens = mine.filter((m) => m.type === 'chat:token');
    expect(tokens.length).toBeGreaterThan(1);
    for (const token of tokens) expect(token.data.sessionId).toBe(session.id);
    expect(tokens[0].data.sourceName).toBeUndefined();
    expect(tokens.map((t) => t.data.token).join('')).toBe('A side answer.');
    const done = mine.find((m) => m.type === 'chat:done')!;
    expect(done.data).toEqual({ messageId: expect.any(String), content: 'A side answer.', sessionId: session.id });
    expect(mine.filter((m) => m.type === 'queue:update')).toEqual([]);

    // The model received the session's message only, and none of the tools a quick session leaves out.
    const request = llm.chatRequests().at(-1)!;
    expect(request.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual(['[Ada Lovelace] side question']);
    expect(request.messages[0]!.content).toContain('quick side session');
    expect(mainTools).toContain('list_kins');
    expect((request.tools ?? []).map((t) => t.function.name)).not.toContain('list_kins');

    const detail = await api.get(`/api/quick-sessions/${session.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.session).toEqual(session);
    const [question, answer] = detail.body.messages;
    expect(detail.body.messages).toHaveLength(2);
    expect(question).toMatchObject({ role: 'user', content: 'side question', sourceType: 'user', sourceId: userId, sourceName: null, sourceAvatarUrl: null, resolvedTaskId: null, files: [] });
    expect(answer).toMatchObject({ role: 'assistant', content: 'A side answer.', sourceType: 'kin', sourceName: 'Sidekick', sourceAvatarUrl: null, stepLimitReached: false });
    expect(answer).not.toHaveProperty('reactions');
    expect(answer).not.toHaveProperty('memoriesExtracted');
    expect(typeof answer.createdAt).toBe('string');

    const mainAfter = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
    expect(mainAfter.map((m: { id: string }) => m.id)).toEqual(main.map((m) => m.id));

    const listed = await api.get(`/api/kins/${kin.id}/quick-sessions`);
    expect(listed.body).toEqual({ sessions: [session], hasMore: false });
  });

  it('allows one active session per user and Kin, also under concurrent creates', async () => {
    const kin = await newKin('Busy');
    const first = await api.post(`/api/kins/${kin.id}/quick-sessions`);
    expect(first.status).toBe(201);
    expect(first.body.title).toBeNull();
    const second = await api.post(`/api/kins/${kin.id}/quick-sessions`, { title: 'another' });
    expect(second.status).toBe(409);
    expect(second.body.error).toEqual({ code: 'MAX_QUICK_SESSIONS', message: 'Maximum active quick sessions reached for this Kin' });

    const racer = await newKin('Racer');
    const results = await Promise.all(Array.from({ length: 6 }, () => api.post(`/api/kins/${racer.id}/quick-sessions`)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    for (const refused of results.filter((r) => r.status === 409)) expect(refused.body.error.code).toBe('MAX_QUICK_SESSIONS');
    const active = await api.get(`/api/kins/${racer.id}/quick-sessions?status=active`);
    expect(active.body.sessions).toHaveLength(1);

    // Closing frees the slot.
    expect((await api.post(`/api/quick-sessions/${first.body.id}/close`)).status).toBe(200);
    expect((await api.post(`/api/kins/${kin.id}/quick-sessions`)).status).toBe(201);
  });

  it('closes idempotently with quick-session:closed, then refuses messages with SESSION_CLOSED', async () => {
    const kin = await newKin('Closer');
    const session = (await api.post(`/api/kins/${kin.id}/quick-sessions`, { title: 'Short' })).body;
    llm.setDefault({ text: 'Noted.' });
    await api.post(`/api/quick-sessions/${session.id}/messages`, { content: 'remember this' });
    await sessionMessages(session.id, 2);

    const sse = await openSse(server.url, { cookie });
    const closed = await api.post(`/api/quick-sessions/${session.id}/close`, { saveMemory: true, memorySummary: '  The user likes tea.  ' });
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({ ok: true });
    // Already closed: success, and the body is not even looked at.
    const again = await api.post(`/api/quick-sessions/${session.id}/close`, { saveMemory: true });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ok: true });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'quick-session:closed'));
    await new Promise((r) => setTimeout(r, 100));
    await sse.close();
    const events = sse.messages().filter((m) => m.type === 'quick-session:closed');
    expect(events).toEqual([{ type: 'quick-session:closed', kinId: kin.id, data: { sessionId: session.id } }]);

    const detail = (await api.get(`/api/quick-sessions/${session.id}`)).body.session;
    expect(detail).toMatchObject({ status: 'closed', closedAt: expect.any(Number), expiresAt: session.expiresAt });
    const refused = await api.post(`/api/quick-sessions/${session.id}/messages`, { content: 'still there?' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('SESSION_CLOSED');

    const closedList = (await api.get(`/api/kins/${kin.id}/quick-sessions?status=closed`)).body.sessions;
    expect(closedList).toEqual([{ ...detail, messageCount: 2 }]);
    expect((await api.get(`/api/kins/${kin.id}/quick-sessions`)).body.sessions).toEqual([]);
  });

  it('lists newest first with status, limit, offset and hasMore', async () => {
    const kin = await newKin('Lister');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = (await api.post(`/api/kins/${kin.id}/quick-sessions`, { title: `s${i}` })).body;
      ids.push(created.id);
      if (i < 2) await api.post(`/api/quick-sessions/${created.id}/close`);
    }
    const all = await api.get(`/api/kins/${kin.id}/quick-sessions?status=all`);
    expect(all.body.sessions.map((s: { id: string }) => s.id)).toEqual([...ids].reverse());
    expect(all.body.sessions[0]).not.toHaveProperty('messageCount');
    expect(all.body.sessions[1].messageCount).toBe(0);
    expect((await api.get(`/api/kins/${kin.id}/quick-sessions?status=whatever`)).body.sessions).toHaveLength(3);
    const page = await api.get(`/api/kins/${kin.id}/quick-sessions?status=all&limit=1&offset=1`);
    expect(page.body).toMatchObject({ hasMore: true, sessions: [{ id: ids[1] }] });
    const clamped = await api.get(`/api/kins/${kin.id}/quick-sessions?status=all&limit=0`);
    expect(clamped.body.sessions).toHaveLength(1);
    expect((await api.get(`/api/kins/${kin.id}/quick-sessions?status=closed&limit=500&offset=-3`)).body.sessions).toHaveLength(2);
  });

  it('refuses messages past the expiry with SESSION_EXPIRED, and a new session replaces the expired one', async () => {
    const kin = await newKin('Ephemeral');
    const sessionId = await createdAgo(server, kin.id, userId, 25 * HOUR);
    const detail = (await api.get(`/api/quick-sessions/${sessionId}`)).body.session;
    expect(detail.status).toBe('active');
    expect(detail.expiresAt).toBeLessThan(Date.now());
    const refused = await api.post(`/api/quick-sessions/${sessionId}/messages`, { content: 'hello?' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toEqual({ code: 'SESSION_EXPIRED', message: 'This quick session has expired' });

    // The expired session no longer holds the user's slot: it is closed as expired.
    const fresh = await api.post(`/api/kins/${kin.id}/quick-sessions`);
    expect(fresh.status).toBe(201);
    expect((await api.get(`/api/quick-sessions/${sessionId}`)).body.session.status).toBe('closed');
    expect((await api.post(`/api/quick-sessions/${sessionId}/messages`, { content: 'hello?' })).body.error.code).toBe('SESSION_EXPIRED');
  });

  it('stops a generation of this session only: NOT_STREAMING when idle or when another session of the Kin streams', async () => {
    const kin = await newKin('Stopper');
    const other = (await api.post(`/api/kins/${kin.id}/quick-sessions`)).body;
    await api.post(`/api/quick-sessions/${other.id}/close`);
    const session = (await api.post(`/api/kins/${kin.id}/quick-sessions`)).body;

    const idle = await api.post(`/api/quick-sessions/${session.id}/messages/stop`);
    expect(idle.status).toBe(409);
    expect(idle.body.error).toEqual({ code: 'NOT_STREAMING', message: 'No active generation to stop' });

    const sse = await openSse(server.url, { cookie });
    llm.hangNext({ afterFrames: 3 });
    llm.script({ text: 'Partial answer that never ends' });
    await api.post(`/api/quick-sessions/${session.id}/messages`, { content: 'tell me a long story' });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:token' && m.data.sessionId === session.id));

    // The Kin's quick slot is busy with `session`; the other session of this Kin has nothing to stop.
    expect((await api.post(`/api/quick-sessions/${other.id}/messages/stop`)).body.error.code).toBe('NOT_STREAMING');
    const stopped = await api.post(`/api/quick-sessions/${session.id}/messages/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toEqual({ ok: true });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:done' && m.data.sessionId === session.id));
    await sse.close();
    const messages = await sessionMessages(session.id, 2);
    expect(messages[1]).toMatchObject({ role: 'assistant', content: 'Partial answer' });
  });

  it('stops the generation in progress when the session is closed', async () => {
    const kin = await newKin('Interrupted');
    const session = (await api.post(`/api/kins/${kin.id}/quick-sessions`)).body;
    const sse = await openSse(server.url, { cookie });
    llm.hangNext({ afterFrames: 2 });
    llm.script({ text: 'Never finished' });
    await api.post(`/api/quick-sessions/${session.id}/messages`, { content: 'go on' });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:token' && m.data.sessionId === session.id));
    expect((await api.post(`/api/quick-sessions/${session.id}/close`)).status).toBe(200);
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:done' && m.data.sessionId === session.id));
    await sse.close();
    expect(sse.messages().find((m) => m.type === 'chat:done' && m.data.sessionId === session.id)!.data.content).toBe('Never');
    expect((await api.post(`/api/quick-sessions/${session.id}/messages/stop`)).body.error.code).toBe('NOT_STREAMING');
  });

  it('validates input with the spec codes', async () => {
    const kin = await newKin('Validator');
    const long = await api.post(`/api/kins/${kin.id}/quick-sessions`, { title: 'x'.repeat(201) });
    expect(long.status).toBe(400);
    expect(long.body.error).toMatchObject({ code: 'TITLE_TOO_LONG', message: 'Title must be 200 characters or less' });
    const padded = await api.post(`/api/kins/${kin.id}/quick-sessions`, { title: `  ${'x'.repeat(200)}  ` });
    expect(padded.status).toBe(201);
    const id = padded.body.id;

    const send = (body: unknown) => api.post(`/api/quick-sessions/${id}/messages`, body);
    expect((await send({ content: '   ' })).body.error).toMatchObject({ code: 'EMPTY_MESSAGE', message: 'Message content or files required' });
    expect((await send({})).body.error.code).toBe('EMPTY_MESSAGE');
    expect((await send({ content: 'x'.repeat(100_001) })).body.error.code).toBe('CONTENT_TOO_LONG');
    const tooMany = await send({ content: 'hi', fileIds: Array.from({ length: 11 }, () => uuidv7()) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('TOO_MANY_FILES');
    expect((await send({ content: 'hi', fileIds: ['nope'] })).body.error.code).toBe('INVALID_FILE_ID');
    expect((await send({ content: 'hi', fileIds: [uuidv7()] })).body.error.code).toBe('INVALID_FILE_ID');

    const close = (body: unknown) => api.post(`/api/quick-sessions/${id}/close`, body);
    const tooLong = await close({ saveMemory: true, memorySummary: 'x'.repeat(5001) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe('SUMMARY_TOO_LONG');
    const required = await close({ saveMemory: true, memorySummary: '   ' });
    expect(required.status).toBe(400);
    expect(required.body.error.code).toBe('SUMMARY_REQUIRED');
    expect((await api.get(`/api/quick-sessions/${id}`)).body.session.status).toBe('active');
  });

  it('answers 404 for unknown sessions and Kins, 403 for another user’s session, 401 without credentials', async () => {
    const unknown = uuidv7();
    for (const [method, path] of [
      ['GET', `/api/quick-sessions/${unknown}`],
      ['POST', `/api/quick-sessions/${unknown}/messages`],
      ['POST', `/api/quick-sessions/${unknown}/messages/stop`],
      ['POST', `/api/quick-sessions/${unknown}/close`],
    ] as const) {
      const response = await api.request(method, path, method === 'POST' ? { content: 'hi' } : undefined);
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: 'SESSION_NOT_FOUND', message: 'Quick session not found' });
    }
    expect((await api.post('/api/kins/no-such-kin/quick-sessions')).body.error.code).toBe('KIN_NOT_FOUND');

    // A session owned by someone else (created through the command handler for another user id).
    const kin = await newKin('Shared');
    const foreign = await createdAgo(server, kin.id, 'another-user', 0);
    for (const [method, path] of [
      ['GET', `/api/quick-sessions/${foreign}`],
      ['POST', `/api/quick-sessions/${foreign}/messages`],
      ['POST', `/api/quick-sessions/${foreign}/messages/stop`],
      ['POST', `/api/quick-sessions/${foreign}/close`],
    ] as const) {
      const response = await api.request(method, path, method === 'POST' ? { content: 'hi' } : undefined);
      expect(response.status).toBe(403);
      expect(response.body.error).toEqual({ code: 'FORBIDDEN', message: 'You do not own this session' });
    }
    expect((await api.get(`/api/kins/${kin.id}/quick-sessions?status=all`)).body.sessions).toEqual([]);

    const anonymous = client(server.url);
    expect((await anonymous.post(`/api/kins/${kin.id}/quick-sessions`)).status).toBe(401);
    expect((await anonymous.get(`/api/kins/${kin.id}/quick-sessions`)).status).toBe(401);
    expect((await anonymous.get(`/api/quick-sessions/${foreign}`)).status).toBe(401);
    expect((await anonymous.post(`/api/quick-sessions/${foreign}/messages`, { content: 'hi' })).status).toBe(401);
    expect((await anonymous.post(`/api/quick-sessions/${foreign}/messages/stop`)).status).toBe(401);
    expect((await anonymous.post(`/api/quick-sessions/${foreign}/close`)).status).toBe(401);
  });
});

describe('quick session expiry across restarts', () => {
  it('still refuses an expired session after a restart, the cleanup closes it, and old closed sessions are purged', async () => {
    let first: TestServer | null = await startTestServer();
    const dataDir = first.dataDir;
    let restarted: TestServer | null = null;
    try {
      const owner = await signUp(first.url);
      const kin = await newKin('Sleeper', owner.api);
      const sessionId = await createdAgo(first, kin.id, owner.userId, 25 * HOUR);
      // A message from before it expired (answered with an error: this server has no provider).
      const queued = await queueMessage(
        first.services,
        { kinId: kin.id, sessionId, content: 'earlier', sourceType: 'user', sourceId: owner.userId, priority: 100 },
        { actor: { kind: 'user', id: owner.userId }, correlationId: 'c', now: new Date() },
      );
      await first.services.settle(queued.position);
      first.services.turns.kick();
      const sessionMessages = (services: TestServer['services']) => services.readStore.collection(MESSAGES).count({ sessionId });
      expect(await eventually(() => sessionMessages(first!.services), (n) => n === 2)).toBe(2);
      await first.stop();
      first = null;

      restarted = await startTestServer(dataDir);
      const again = client(restarted.url, { cookie: owner.cookie });
      const refused = await again.post(`/api/quick-sessions/${sessionId}/messages`, { content: 'are you there?' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('SESSION_EXPIRED');

      // The cleanup runs at start-up, then hourly: the expired session is closed as expired.
      const closed = await eventually(async () => (await again.get(`/api/quick-sessions/${sessionId}`)).body.session, (s) => s.status === 'closed');
      expect(closed.status).toBe('closed');
      expect((await again.post(`/api/quick-sessions/${sessionId}/messages`, { content: 'and now?' })).body.error.code).toBe('SESSION_EXPIRED');

      // Seven days after closing, the session is forgotten.
      expect(await cleanUpQuickSessions(restarted.services, new Date(Date.now() + 6 * 24 * HOUR))).toEqual({ closed: 0, purged: 0 });
      expect(await cleanUpQuickSessions(restarted.services, new Date(Date.now() + 8 * 24 * HOUR))).toEqual({ closed: 0, purged: 1 });
      expect((await again.get(`/api/quick-sessions/${sessionId}`)).body.error.code).toBe('SESSION_NOT_FOUND');
      expect(await eventually(() => sessionMessages(restarted!.services), (n) => n === 0)).toBe(0);
      expect((await again.get(`/api/kins/${kin.id}/quick-sessions?status=all`)).body.sessions).toEqual([]);
    } finally {
      await first?.cleanup();
      await restarted?.cleanup();
    }
  });
});
