import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { addFakeProvider, kinInput, signUp, startTestServer, until, type Client, type TestServer } from './helpers.js';
import { expectPayloadFlattened, openSse, type WireMessage } from './sse.js';

/**
 * /api/sse read the way the original web app reads it (webapp.md §3, DECISIONS 20): it parses
 * each `message` event and takes the fields at the top level, never under `data`.
 */

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

beforeAll(async () => {
  llm = await startFakeLlm();
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  expect((await addFakeProvider(api, llm.baseUrl)).status).toBe(201);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);

const mainChat = (kinId: string) => (m: WireMessage) => m.kinId === kinId && (m.type.startsWith('chat:') || m.type === 'queue:update');

describe('the live feed as the web app reads it', () => {
  it('streams a main-chat turn with tokens, tool calls and the answer at the top level, without task or session ids', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Flat', model: 'fake-chat' }))).body.kin;
    llm.script({ toolCalls: [{ name: 'list_kins', args: {} }] }, { text: 'Only me around here.' });
    const sse = await openSse(server.url, { cookie });
    expect((await api.post(`/api/kins/${kin.id}/messages`, { content: 'Anyone else?' })).status).toBe(202);
    await sse.waitFor(() => sse.wire().some((m) => m.type === 'queue:update' && m.kinId === kin.id && m.isProcessing === false && m.queueSize === 0 && sse.wire().some((d) => d.type === 'chat:done')));
    await sse.close();

    const mine = sse.wire().filter(mainChat(kin.id));
    for (const message of mine) {
      expectPayloadFlattened(message);
      expect(message.taskId).toBeFalsy();
      expect(message.sessionId).toBeFalsy();
    }

    const tokens = mine.filter((m) => m.type === 'chat:token');
    expect(tokens.map((m) => m.token).join('')).toBe('Only me around here.');
    const messageId = tokens[0]!.messageId;
    expect(messageId).toEqual(expect.any(String));
    expect(tokens.every((m) => m.messageId === messageId)).toBe(true);
    expect(tokens[0]).toMatchObject({ sourceType: 'kin', sourceId: kin.id, sourceName: 'Flat', sourceAvatarUrl: null });

    const start = mine.find((m) => m.type === 'chat:tool-call-start')!;
    const call = mine.find((m) => m.type === 'chat:tool-call')!;
    const result = mine.find((m) => m.type === 'chat:tool-result')!;
    expect(start).toMatchObject({ messageId, toolName: 'list_kins', toolCallId: expect.any(String), contentOffset: 0 });
    expect(call).toMatchObject({ messageId, toolName: 'list_kins', toolCallId: start.toolCallId, args: {}, contentOffset: 0 });
    expect(result).toMatchObject({ messageId, toolName: 'list_kins', toolCallId: start.toolCallId, result: { kins: [] } });

    const done = mine.find((m) => m.type === 'chat:done')!;
    expect(done).toMatchObject({ kinId: kin.id, messageId, content: 'Only me around here.', sourceType: 'kin', sourceId: kin.id, sourceName: 'Flat' });
    const history = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
    expect(history.at(-1)).toMatchObject({ id: messageId, role: 'assistant' });
  });

  it('sends queue:update with the queue, the context figures of the last turn and the messages not compacted yet', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Counter', model: 'fake-chat' }))).body.kin;
    llm.setDefault({ text: 'Counted.' });
    const sse = await openSse(server.url, { cookie });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'first' });
    await until(async () => (await api.get(`/api/kins/${kin.id}/messages`)).body.messages.length, (n) => n >= 2);
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'second' });
    await sse.waitFor(() => sse.wire().filter((m) => m.type === 'chat:done' && m.kinId === kin.id).length === 2);
    await sse.waitFor(() => sse.wire().filter((m) => m.type === 'queue:update' && m.kinId === kin.id).at(-1)?.isProcessing === false);
    await sse.close();

    const updates = sse.wire().filter((m) => m.type === 'queue:update' && m.kinId === kin.id);
    for (const update of updates) {
      expectPayloadFlattened(update);
      expect(update).toMatchObject({ kinId: kin.id, isProcessing: expect.any(Boolean), queueSize: expect.any(Number) });
    }
    const turnStart = updates.find((m) => m.isProcessing && m.contextTokens !== undefined)!;
    expect(turnStart).toMatchObject({ queueSize: 0, contextTokens: expect.any(Number), contextWindow: expect.any(Number) });
    expect(turnStart.contextTokens).toBeGreaterThan(0);
    expect(turnStart.contextBreakdown).toMatchObject({ systemPrompt: expect.any(Number), messages: expect.any(Number), total: turnStart.contextTokens });
    // Once a turn has run, every queue:update (the end of the turn, the next message queued) shows its figures.
    const mine = sse.wire().filter((m) => m.kinId === kin.id);
    const afterFirstTurn = mine.slice(mine.findIndex((m) => m.type === 'chat:done')).filter((m) => m.type === 'queue:update');
    expect(afterFirstTurn.length).toBeGreaterThanOrEqual(2);
    for (const update of afterFirstTurn) expect(update).toMatchObject({ contextTokens: expect.any(Number), contextWindow: turnStart.contextWindow });
    // The end of a turn also counts the messages not compacted yet, as /context-usage does.
    const { compactingMessageThreshold } = (await api.get(`/api/kins/${kin.id}/context-usage`)).body;
    expect(afterFirstTurn[0]).toMatchObject({ isProcessing: false, queueSize: 0, compactingMessages: 2, compactingMessageThreshold });
    expect(updates.at(-1)).toMatchObject({ isProcessing: false, queueSize: 0, compactingMessages: 4, compactingMessageThreshold });
  });

  it('announces a message from another source with chat:message, createdAt in epoch milliseconds', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Hooked', model: 'fake-chat' }))).body.kin;
    const webhook = (await api.post('/api/webhooks', { kinId: kin.id, name: 'Deploys' })).body.webhook;
    llm.setDefault({ text: 'Deploy noted.' });
    const sse = await openSse(server.url, { cookie });
    const before = Date.now();
    const delivered = await fetch(`${server.url}/api/webhooks/incoming/${webhook.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${webhook.token}` },
      body: '{"status":"ok"}',
    });
    expect(delivered.status).toBe(200);
    await sse.waitFor(() => sse.wire().some((m) => m.type === 'chat:done' && m.kinId === kin.id));
    await sse.close();

    const message = sse.wire().find((m) => m.type === 'chat:message' && m.kinId === kin.id)!;
    expectPayloadFlattened(message);
    expect(message).toMatchObject({ id: expect.any(String), role: 'user', sourceType: 'webhook', sourceId: webhook.id, content: '[Webhook: Deploys]\n{"status":"ok"}', resolvedTaskId: null });
    expect(message.createdAt).toBeTypeOf('number');
    expect(message.createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(message.createdAt).toBeLessThanOrEqual(Date.now());
    expect(message.taskId).toBeFalsy();
    expect(message.sessionId).toBeFalsy();
    const history = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
    expect(history.find((m: { id: string }) => m.id === message.id)).toMatchObject({ role: 'user', sourceType: 'webhook' });
  });

  it('tags a quick session’s chat events with its sessionId at the top level', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Aside', model: 'fake-chat' }))).body.kin;
    const session = (await api.post(`/api/kins/${kin.id}/quick-sessions`, {})).body;
    llm.setDefault({ text: 'A quick word.' });
    const sse = await openSse(server.url, { cookie });
    expect((await api.post(`/api/quick-sessions/${session.id}/messages`, { content: 'quick?' })).status).toBe(202);
    await sse.waitFor(() => sse.wire().some((m) => m.type === 'chat:done' && m.sessionId === session.id));
    await sse.close();

    const chat = sse.wire().filter((m) => m.type.startsWith('chat:') && m.kinId === kin.id);
    expect(chat.map((m) => m.type)).toContain('chat:token');
    for (const message of chat) {
      expectPayloadFlattened(message);
      expect(message.sessionId).toBe(session.id);
    }
    expect(chat.filter((m) => m.type === 'chat:token').map((m) => m.token).join('')).toBe('A quick word.');
  });

  it('flattens a payload key named type as sourceType and keeps it inside data', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Reader' }))).body.kin;
    const sse = await openSse(server.url, { cookie });
    const added = await api.post(`/api/kins/${kin.id}/knowledge`, { name: 'Notes', type: 'text', content: 'The lantern is copper.' });
    expect(added.status).toBe(201);
    await sse.waitFor(() => sse.wire().some((m) => m.type === 'knowledge:source-created' && m.kinId === kin.id));
    await sse.close();

    const created = sse.wire().find((m) => m.type === 'knowledge:source-created' && m.kinId === kin.id)!;
    expect(created).toEqual({
      type: 'knowledge:source-created',
      kinId: kin.id,
      sourceId: expect.any(String),
      name: 'Notes',
      sourceType: 'text',
      data: { sourceId: created.sourceId, name: 'Notes', type: 'text' },
    });
  });

  it('sends kin:updated with every field the web app takes from it, also after an avatar change', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Whole' }))).body.kin;
    const sse = await openSse(server.url, { cookie });
    await api.patch(`/api/kins/${kin.id}`, { name: 'Whole Again' });
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(PNG)], { type: 'image/png' }), 'face.png');
    const avatar = await fetch(`${server.url}/api/kins/${kin.id}/avatar`, { method: 'POST', body: form, headers: { cookie } });
    expect(avatar.status).toBe(200);
    const { avatarUrl } = (await avatar.json()) as { avatarUrl: string };
    await sse.waitFor(() => sse.wire().filter((m) => m.type === 'kin:updated' && m.kinId === kin.id).length === 2);
    await sse.close();

    const updates = sse.wire().filter((m) => m.type === 'kin:updated' && m.kinId === kin.id);
    const whole = { kinId: kin.id, slug: kin.slug, name: 'Whole Again', role: 'Finds things', model: 'gpt-4o', providerId: null };
    updates.forEach(expectPayloadFlattened);
    expect(updates[0]).toMatchObject({ ...whole, avatarUrl: null });
    expect(updates[1]).toMatchObject({ ...whole, avatarUrl });
  });
});
