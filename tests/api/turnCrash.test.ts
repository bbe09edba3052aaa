import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { apiKeyClient, client, kinInput, signUp, addFakeProvider } from './helpers.js';
import { freePort, launchServer } from './process.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kinbot-turn-crash-'));
const children: ChildProcess[] = [];
let llm: FakeLlm | null = null;
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await llm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('kill -9 in the middle of a streamed turn', () => {
  it('continues the queue after a restart, losing no message and answering none twice', async () => {
    llm = await startFakeLlm({ tokenDelayMs: 40 });
    // A slow answer that names the message it answers, so duplicates would show.
    const lastUser = (messages: { role: string; content: unknown }[]) => String(messages.filter((m) => m.role === 'user').at(-1)!.content);
    llm.setDefault((request) => ({ text: `Answering (${lastUser(request.messages)}) with a rather long and slow reply` }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await launchServer(dataDir, port);
    children.push(first);
    const { cookie } = await signUp(url);
    const { key } = await apiKeyClient(url, cookie);
    const api = client(url, { 'x-api-key': key });
    expect((await addFakeProvider(api, llm.baseUrl)).status).toBe(201);
    const kin = (await api.post('/api/kins', kinInput({ name: 'Survivor', model: 'fake-chat' }))).body.kin;

    const sent = ['first', 'second', 'third'];
    for (const content of sent) expect((await api.post(`/api/kins/${kin.id}/messages`, { content })).status).toBe(202);
    // Kill the server while the first answer is streaming.
    for (let i = 0; i < 200 && llm.chatRequests().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 150));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect((await client(url, { 'x-api-key': key }).get('/healthz').catch(() => null))).toBeNull();

    const second = await launchServer(dataDir, port);
    children.push(second);
    const after = client(url, { 'x-api-key': key });
    let history: { role: string; content: string; sourceType: string }[] = [];
    for (let i = 0; i < 500 && history.length < 6; i++) {
      history = (await after.get(`/api/kins/${kin.id}/messages`)).body.messages;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(history.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    expect(history.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(sent);
    for (const [i, content] of sent.entries()) {
      expect(history[i * 2 + 1]).toMatchObject({ sourceType: 'kin', content: `Answering ([Ada Lovelace] ${content}) with a rather long and slow reply` });
    }
    // The cut turn was asked again after the restart: the model saw "first" twice, but it is answered once.
    const firstAsked = llm.chatRequests().filter((r) => lastUser(r.messages).endsWith('first')).length;
    expect(firstAsked).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect((await after.get(`/api/kins/${kin.id}/messages`)).body.messages).toHaveLength(6);
    second.kill('SIGTERM');
  }, 60_000);
});
