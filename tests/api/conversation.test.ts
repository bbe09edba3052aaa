import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, toolResults, type FakeLlm } from '../fakes/fakeLlm.js';
import { kinInput, signUp, startTestServer, type Client, type TestServer, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

beforeAll(async () => {
  llm = await startFakeLlm({ apiKey: 'sk-fake' });
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl, 'sk-fake');
  expect(provider.status).toBe(201);
  expect(provider.body.provider.isValid).toBe(true);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

/** Waits until the Kin's history holds `count` messages (or gives up after ~6 s). */
async function historyOf(kinId: string, count: number) {
  for (let i = 0; i < 300; i++) {
    const { body } = await api.get(`/api/kins/${kinId}/messages`);
    if (body.messages.length >= count) return body.messages;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await api.get(`/api/kins/${kinId}/messages`)).body.messages;
}

describe('a conversation with a Kin', () => {
  it('streams the answer on SSE, runs a tool whose result reaches the model, and records the message', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Talker', model: 'fake-chat' }))).body.kin;
    llm.script({ toolCalls: [{ name: 'list_kins', args: {} }] }, { text: 'There is nobody else here yet.' });
    const sse = await openSse(server.url, { cookie });
    const sent = await api.post(`/api/kins/${kin.id}/messages`, { content: 'Who else lives here?' });
    expect(sent.status).toBe(202);
    expect(sent.body.queuePosition).toBeGreaterThanOrEqual(1);
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'chat:done' && m.kinId === kin.id));
    await sse.close();

    const mine = sse.messages().filter((m) => m.kinId === kin.id);
    const types = mine.map((m) => m.type);
    expect(types[0]).toBe('queue:update');
    expect(types).toContain('chat:tool-call-start');
    expect(types.indexOf('chat:tool-call')).toBeLessThan(types.indexOf('chat:tool-result'));
    const tokens = mine.filter((m) => m.type === 'chat:token');
    expect(tokens.length).toBeGreaterThan(2);
    expect(tokens[0].data).toMatchObject({ sourceType: 'kin', sourceId: kin.id, sourceName: 'Talker' });
    expect(tokens.map((t) => t.data.token).join('')).toBe('There is nobody else here yet.');
    const done = mine.find((m) => m.type === 'chat:done')!;
    expect(done.data).toMatchObject({ content: 'There is nobody else here yet.', sourceName: 'Talker' });
    expect(types.at(-1)).toBe('queue:update');
    expect(mine.at(-1)!.data).toMatchObject({ isProcessing: false, queueSize: 0 });

    // The second request of the turn carried the tool's result back to the model.
    const [first, second] = llm.chatRequests().slice(-2);
    expect(first!.messages.find((m) => m.role === 'system')!.content).toContain('You are Talker, Finds things');
    expect(JSON.parse(toolResults(second!)[0]!.content)).toEqual({ kins: [] });

    const history = await historyOf(kin.id, 2);
    expect(history.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(history[0]).toMatchObject({ content: 'Who else lives here?', sourceType: 'user', reactions: [], files: [] });
    expect(history[1]).toMatchObject({ content: 'There is nobody else here yet.', sourceType: 'kin', sourceName: 'Talker', stepLimitReached: false });
    expect(history[1].toolCalls).toEqual([{ id: expect.any(String), name: 'list_kins', args: {}, result: { kins: [] }, offset: 0 }]);
  });

  it('answers messages in order and sends the history back to the model', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Memory', model: 'fake-chat' }))).body.kin;
    llm.setDefault((request) => ({ text: `Reply ${request.messages.filter((m) => m.role === 'user').length}` }));
    for (const text of ['one', 'two', 'three']) await api.post(`/api/kins/${kin.id}/messages`, { content: text });
    const history = await historyOf(kin.id, 6);
    expect(history.map((m: { content: string }) => m.content)).toEqual(['one', 'Reply 1', 'two', 'Reply 2', 'three', 'Reply 3']);
    const last = llm.chatRequests().at(-1)!;
    expect(last.messages.filter((m) => m.role !== 'system').map((m) => m.content)).toEqual([
      '[Ada Lovelace] one',
      'Reply 1',
      '[Ada Lovelace] two',
      'Reply 2',
      '[Ada Lovelace] three',
    ]);
  });

  it('pages history backwards with `before` and `hasMore`', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Pager', model: 'fake-chat' }))).body.kin;
    llm.setDefault({ text: 'ok' });
    for (const text of ['a', 'b', 'c']) await api.post(`/api/kins/${kin.id}/messages`, { content: text });
    const all = await historyOf(kin.id, 6);
    const latest = await api.get(`/api/kins/${kin.id}/messages?limit=4`);
    expect(latest.body.hasMore).toBe(true);
    expect(latest.body.messages.map((m: { id: string }) => m.id)).toEqual(all.slice(2).map((m: { id: string }) => m.id));
    const older = await api.get(`/api/kins/${kin.id}/messages?limit=4&before=${latest.body.messages[0].id}`);
    expect(older.body.hasMore).toBe(false);
    expect(older.body.messages.map((m: { id: string }) => m.id)).toEqual(all.slice(0, 2).map((m: { id: string }) => m.id));
  });

  it('turns a provider error into a visible message and a kin:error, then answers the next message', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Fragile', model: 'fake-chat' }))).body.kin;
    llm.failNext(500, { error: { message: 'upstream exploded' } });
    llm.failNext(500, { error: { message: 'upstream exploded' } });
    const sse = await openSse(server.url, { cookie });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'hello?' });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'kin:error' && m.kinId === kin.id));
    await sse.close();
    const error = sse.messages().find((m) => m.type === 'kin:error' && m.kinId === kin.id)!;
    expect(error.data.error).toContain('500');
    const history = await historyOf(kin.id, 2);
    expect(history[1]).toMatchObject({ role: 'assistant', sourceType: 'system' });
    expect(history[1].content).toMatch(/^⚠️ .*500/);

    llm.setDefault({ text: 'Back on my feet.' });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'and now?' });
    const after = await historyOf(kin.id, 4);
    expect(after[3]).toMatchObject({ content: 'Back on my feet.', sourceType: 'kin' });
  });

  it('validates what is sent', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Strict', model: 'fake-chat' }))).body.kin;
    const empty = await api.post(`/api/kins/${kin.id}/messages`, { content: '   ' });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatchObject({ code: 'EMPTY_MESSAGE', message: 'Message content or files required' });
    const long = await api.post(`/api/kins/${kin.id}/messages`, { content: 'x'.repeat(32_001) });
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('MESSAGE_TOO_LONG');
    expect((await api.post('/api/kins/nobody/messages', { content: 'hi' })).status).toBe(404);
    expect((await api.post(`/api/kins/${kin.id}/messages`, { content: 'hi', fileIds: ['nope'] })).body.error.code).toBe('INVALID_FILE_ID');
  });
});

describe('a Kin with no provider able to serve its model', () => {
  it('closes the turn with a clear error and notifies', async () => {
    const lonely = await startTestServer();
    try {
      const { api } = await signUp(lonely.url);
      const kin = (await api.post('/api/kins', kinInput({ name: 'Lonely', model: 'claude-sonnet-4' }))).body.kin;
      await api.post(`/api/kins/${kin.id}/messages`, { content: 'anyone?' });
      let history: { content: string }[] = [];
      for (let i = 0; i < 300 && history.length < 2; i++) {
        history = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(history[1]!.content).toBe('⚠️ No LLM provider available for this model');
      const notifications = (await api.get('/api/notifications')).body.notifications;
      expect(notifications[0]).toMatchObject({ type: 'kin:error', kinId: kin.id, body: 'No LLM provider available for this model' });
    } finally {
      await lonely.cleanup();
    }
  });
});

describe('a Kin that asks a human', () => {
  it('creates a pending prompt with prompt_human, and the answer continues the conversation', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Asker', model: 'fake-chat' }))).body.kin;
    llm.script(
      { toolCalls: [{ name: 'prompt_human', args: { promptType: 'confirm', question: 'Deploy now?' } }] },
      { text: 'I have asked.' },
      (request) => ({ text: `Got it: ${request.messages.filter((m) => m.role === 'user').at(-1)!.content}` }),
    );
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'Ship it when I say so.' });
    await historyOf(kin.id, 2);
    const pending = await api.get(`/api/prompts/pending?kinId=${kin.id}`);
    expect(pending.body.prompts).toHaveLength(1);
    const prompt = pending.body.prompts[0];
    expect(prompt).toMatchObject({ question: 'Deploy now?', promptType: 'confirm', status: 'pending' });
    expect((await api.post(`/api/prompts/${prompt.id}/respond`, { response: 'yes' })).status).toBe(200);
    const history = await historyOf(kin.id, 4);
    expect(history[2]).toMatchObject({ role: 'user', sourceType: 'user', content: '[Human response to "Deploy now?"]: Yes' });
    expect(history[3].content).toBe('Got it: [Ada Lovelace] [Human response to "Deploy now?"]: Yes');
  });
});

describe('a provider that hangs', () => {
  it('ends the turn with a clear error after the idle timeout, and the next message is answered', async () => {
    const slow = await startTestServer(undefined, { LLM_IDLE_TIMEOUT_MS: '1000' });
    try {
      const { api } = await signUp(slow.url);
      await addFakeProvider(api, llm.baseUrl, 'sk-fake');
      const kin = (await api.post('/api/kins', kinInput({ name: 'Patient', model: 'fake-chat' }))).body.kin;
      llm.hangNext();
      await api.post(`/api/kins/${kin.id}/messages`, { content: 'are you there?' });
      llm.setDefault({ text: 'Yes, now I am.' });
      await api.post(`/api/kins/${kin.id}/messages`, { content: 'and now?' });
      let history: { content: string; sourceType: string }[] = [];
      for (let i = 0; i < 300 && history.length < 4; i++) {
        history = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(history[1]).toMatchObject({ sourceType: 'system', content: '⚠️ The model sent nothing for 1 s; the turn was stopped' });
      expect(history[3]).toMatchObject({ sourceType: 'kin', content: 'Yes, now I am.' });
    } finally {
      await slow.cleanup();
    }
  });
});

describe('files attached to a message', () => {
  it('reach the model: text inline, images as image parts', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Reader', model: 'fake-chat' }))).body.kin;
    const upload = async (bytes: Buffer, name: string, type: string) => {
      const form = new FormData();
      form.append('kinId', kin.id);
      form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
      const response = await fetch(`${server.url}/api/files/upload`, { method: 'POST', body: form, headers: { cookie } });
      expect(response.status).toBe(201);
      return ((await response.json()) as { file: { id: string } }).file.id;
    };
    const notes = await upload(Buffer.from('Shopping list: apples, pears'), 'notes.txt', 'text/plain');
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
    const image = await upload(png, 'dot.png', 'image/png');
    llm.setDefault({ text: 'Read them.' });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'Here are my files', fileIds: [notes, image] });
    const history = await historyOf(kin.id, 2);
    expect(history[0].files.map((f: { name: string }) => f.name)).toEqual(['notes.txt', 'dot.png']);
    const request = llm.chatRequests().at(-1)!;
    const parts = request.messages.filter((m) => m.role === 'user').at(-1)!.content as { type: string; text?: string; image_url?: { url: string } }[];
    expect(parts[0]).toEqual({ type: 'text', text: '[Ada Lovelace] Here are my files' });
    expect(parts[1]!.text).toContain('Shopping list: apples, pears');
    expect(parts[2]!.type).toBe('image_url');
    expect(parts[2]!.image_url!.url).toBe(`data:image/png;base64,${png.toString('base64')}`);
  });
});
