import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { addFakeProvider, kinInput, signUp, startTestServer, until, type Client, type TestServer } from './helpers.js';

/**
 * A turn reuses what it built for the previous one (the provider's model, the tools' JSON
 * schemas); these tests change what those were built from and check that the very next turn
 * goes by the change.
 */

let server: TestServer;
let first: FakeLlm;
let second: FakeLlm;
let api: Client;

beforeAll(async () => {
  [first, second] = await Promise.all([startFakeLlm(), startFakeLlm()]);
  first.setDefault({ text: 'From the first model.' });
  second.setDefault({ text: 'From the second model.' });
  server = await startTestServer();
  ({ api } = await signUp(server.url));
});
afterAll(async () => {
  await server.cleanup();
  await Promise.all([first.close(), second.close()]);
});

/** Sends a message and returns the Kin's answer once it is recorded. */
async function converse(kinId: string, content: string): Promise<string> {
  const before = (await api.get(`/api/kins/${kinId}/messages`)).body.messages.length;
  expect((await api.post(`/api/kins/${kinId}/messages`, { content })).status).toBe(202);
  const messages = await until(
    async () => (await api.get(`/api/kins/${kinId}/messages`)).body.messages as { role: string; content: string }[],
    (all) => all.length >= before + 2,
  );
  expect(messages.length).toBe(before + 2);
  return messages.at(-1)!.content;
}

const toolNames = (llm: FakeLlm) => (llm.chatRequests().at(-1)!.tools ?? []).map((tool) => tool.function.name);

describe('what a turn reuses from the previous one', () => {
  it('follows a provider whose config changed to another endpoint from the next turn on', async () => {
    const provider = await addFakeProvider(api, first.baseUrl);
    expect(provider.body.provider.isValid).toBe(true);
    const kin = (await api.post('/api/kins', kinInput({ name: 'Switcher', model: 'fake-chat' }))).body.kin;

    expect(await converse(kin.id, 'Hello')).toBe('From the first model.');
    expect(await converse(kin.id, 'Again')).toBe('From the first model.');
    const askedFirst = first.chatRequests().length;

    const updated = await api.patch(`/api/providers/${provider.body.provider.id}`, { config: { baseUrl: second.baseUrl } });
    expect(updated.status).toBe(200);
    expect(updated.body.provider.isValid).toBe(true);

    expect(await converse(kin.id, 'And now?')).toBe('From the second model.');
    expect(first.chatRequests().length).toBe(askedFirst);
    expect(second.chatRequests().length).toBe(1);
  });

  it('hands the model the tools of the Kin’s current tool configuration', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Toolsmith', model: 'fake-chat' }))).body.kin;
    await converse(kin.id, 'What can you do?');
    const initially = toolNames(second);
    expect(initially).toContain('list_kins');
    expect(initially).not.toContain('get_kin_details');
    const schema = second.chatRequests().at(-1)!.tools!.find((tool) => tool.function.name === 'notify')!.function.parameters;
    expect(schema).toMatchObject({ type: 'object', properties: { title: { type: 'string' } }, required: ['title'] });

    const patched = await api.patch(`/api/kins/${kin.id}`, { toolConfig: { disabledNativeTools: ['list_kins'], enabledOptInTools: ['get_kin_details'] } });
    expect(patched.status).toBe(200);
    await converse(kin.id, 'And now?');
    const after = toolNames(second);
    expect(after).not.toContain('list_kins');
    expect(after).toContain('get_kin_details');
    // The schemas are the same ones, whichever turn converted them first.
    expect(second.chatRequests().at(-1)!.tools!.find((tool) => tool.function.name === 'notify')!.function.parameters).toEqual(schema);
  });

  it('puts the global prompt as it is now in the next turn’s system prompt', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Listener', model: 'fake-chat' }))).body.kin;
    const systemPrompt = () => String(second.chatRequests().at(-1)!.messages.find((message) => message.role === 'system')!.content);
    expect((await api.request('PUT', '/api/settings/global-prompt', { globalPrompt: 'Always answer in French.' })).status).toBe(200);
    await converse(kin.id, 'Hello');
    expect(systemPrompt()).toContain('Always answer in French.');

    expect((await api.request('PUT', '/api/settings/global-prompt', { globalPrompt: 'Always answer in German.' })).status).toBe(200);
    await converse(kin.id, 'Hello again');
    expect(systemPrompt()).toContain('Always answer in German.');
    expect(systemPrompt()).not.toContain('French');
  });
});
