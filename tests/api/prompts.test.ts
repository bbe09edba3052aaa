import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeTools, type ToolContext } from '../../src/agents/tools.js';
import { cancelPrompt, createPrompt, type CreatePromptInput } from '../../src/commands/prompts.js';
import type { CommandMetadata } from '../../src/es/decider.js';
import { PROMPTS } from '../../src/projections/prompts.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let api: Client;
let anonymous: Client;
let cookie: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  anonymous = client(server.url);
});
afterAll(() => server.cleanup());

const UNKNOWN = '01936d3c-0000-7000-8000-000000000000';
const colours = [
  { label: 'Red', value: 'r' },
  { label: 'Green', value: 'g', variant: 'success' as const, description: 'the calm one' },
  { label: 'Blue', value: 'b' },
];

const kinMetadata = (kinId: string): CommandMetadata => ({ actor: { kind: 'kin', id: kinId }, correlationId: 'turn-1', now: new Date() });
/** Tools report no position: wait until the read models have everything appended so far. */
const settled = async () => server.services.settle(await server.services.eventStore.headPosition());

async function newKin(name: string) {
  return (await api.post('/api/kins', kinInput({ name }))).body.kin as { id: string; slug: string };
}

async function ask(kinId: string, input: Partial<CreatePromptInput> = {}) {
  const created = await createPrompt(
    server.services,
    { kinId, promptType: 'select', question: 'Which colour?', options: colours, ...input },
    kinMetadata(kinId),
  );
  await server.services.settle(created.position);
  return created.promptId;
}

const toolContext = (kinId: string, extra: Partial<ToolContext> = {}): ToolContext => ({
  kinId,
  readStore: server.services.readStore,
  services: server.services,
  metadata: kinMetadata(kinId),
  ...extra,
});

async function runTool(name: string, input: unknown, context: ToolContext) {
  const tool = nativeTools.find((t) => t.name === name)!;
  const result = await tool.execute(tool.input.parse(input) as never, context);
  await settled();
  return result as Record<string, unknown>;
}

describe('GET /api/prompts/pending', () => {
  it("lists a Kin's pending prompts with the documented shape, by id or slug", async () => {
    const kin = await newKin('Asker');
    const before = Date.now();
    const promptId = await ask(kin.id, { description: 'For the logo' });
    const expected = {
      id: promptId,
      kinId: kin.id,
      taskId: null,
      promptType: 'select',
      question: 'Which colour?',
      description: 'For the logo',
      options: colours,
      response: null,
      status: 'pending',
      createdAt: expect.any(Number),
      respondedAt: null,
    };
    const byId = await api.get(`/api/prompts/pending?kinId=${kin.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual({ prompts: [expected] });
    expect(byId.body.prompts[0].createdAt).toBeGreaterThanOrEqual(before - 5);
    expect((await api.get(`/api/prompts/pending?kinId=${kin.slug}`)).body).toEqual({ prompts: [expected] });
    const other = await newKin('Quiet');
    expect((await api.get(`/api/prompts/pending?kinId=${other.id}`)).body).toEqual({ prompts: [] });
  });

  it('filters by taskId', async () => {
    const kin = await newKin('Tasked');
    await ask(kin.id, { taskId: 'task-1', question: 'One?' });
    await ask(kin.id, { taskId: 'task-2', question: 'Two?' });
    await ask(kin.id, { question: 'None?' });
    const { body } = await api.get(`/api/prompts/pending?kinId=${kin.id}&taskId=task-2`);
    expect(body.prompts.map((p: { question: string }) => p.question)).toEqual(['Two?']);
    expect((await api.get(`/api/prompts/pending?kinId=${kin.id}`)).body.prompts).toHaveLength(3);
  });

  it('requires kinId (400) and answers 404 for an unknown Kin', async () => {
    for (const path of ['/api/prompts/pending', '/api/prompts/pending?kinId=']) {
      const { status, body } = await api.get(path);
      expect(status).toBe(400);
      expect(body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'kinId is required' });
    }
    const unknown = await api.get('/api/prompts/pending?kinId=nobody');
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'KIN_NOT_FOUND' } } });
  });

  it('forgets the prompts of a deleted Kin: not listed, not answerable', async () => {
    const kin = await newKin('Doomed Asker');
    const promptId = await ask(kin.id);
    await api.delete(`/api/kins/${kin.id}`);
    expect(await server.services.readStore.collection(PROMPTS).count({ kinId: kin.id })).toBe(0);
    expect((await api.get(`/api/prompts/pending?kinId=${kin.id}`)).status).toBe(404);
    const respond = await api.post(`/api/prompts/${promptId}/respond`, { response: 'r' });
    expect(respond).toMatchObject({ status: 404, body: { error: { code: 'PROMPT_NOT_FOUND' } } });
  });
});

describe('POST /api/prompts/:id/respond', () => {
  it('records the answer, removes the prompt from pending, and gives the Kin its text', async () => {
    const kin = await newKin('Chooser');
    const promptId = await ask(kin.id);
    const { status, body } = await api.post(`/api/prompts/${promptId}/respond`, { response: 'g' });
    expect(status).toBe(200);
    expect(body).toEqual({ success: true });
    expect((await api.get(`/api/prompts/pending?kinId=${kin.id}`)).body.prompts).toEqual([]);
    const stored = await server.services.readStore.collection(PROMPTS).get(promptId);
    expect(stored).toMatchObject({ status: 'answered', response: 'g', respondedAt: expect.any(Number) });
    const events = await server.services.eventStore.readStream(`prompt-${promptId}`);
    expect(events.map((e) => e.type)).toEqual(['PromptCreated', 'PromptAnswered']);
    expect(events[1]!.data).toMatchObject({
      promptId,
      kinId: kin.id,
      taskId: null,
      response: 'g',
      responseText: '[Human response to "Which colour?"]: Green',
    });
    expect(events[1]!.metadata.actor.kind).toBe('user');
  });

  it('answers 409 PROMPT_NOT_PENDING once answered or cancelled', async () => {
    const kin = await newKin('Once');
    const promptId = await ask(kin.id);
    await api.post(`/api/prompts/${promptId}/respond`, { response: 'r' });
    const again = await api.post(`/api/prompts/${promptId}/respond`, { response: 'b' });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'PROMPT_NOT_PENDING', message: 'Prompt is no longer pending' } } });
    const cancelledId = await ask(kin.id);
    await server.services.settle((await cancelPrompt(server.services, cancelledId, kinMetadata(kin.id))).position);
    expect((await api.post(`/api/prompts/${cancelledId}/respond`, { response: 'r' })).status).toBe(409);
    expect((await api.get(`/api/prompts/pending?kinId=${kin.id}`)).body.prompts).toEqual([]);
  });

  it('answers 400 VALIDATION_ERROR without a response, and 404 for an unknown prompt', async () => {
    const kin = await newKin('Strict');
    const promptId = await ask(kin.id);
    for (const body of [{}, { response: null }]) {
      const response = await api.post(`/api/prompts/${promptId}/respond`, body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'Response is required' });
    }
    expect((await api.post(`/api/prompts/${promptId}/respond`, '{"response":')).body.error.code).toBe('INVALID_JSON');
    const unknown = await api.post(`/api/prompts/${UNKNOWN}/respond`, { response: 'r' });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'PROMPT_NOT_FOUND', message: 'Prompt not found' } } });
    expect((await api.get(`/api/prompts/pending?kinId=${kin.id}`)).body.prompts).toHaveLength(1);
  });

  it.each([
    ['select', 'purple', 'Select response must be one of: r, g, b'],
    ['select', ['r'], 'Select response must be one of: r, g, b'],
    ['confirm', 'maybe', 'Confirm response must be one of: r, g, b'],
    ['multi_select', [], 'Multi-select response must be a non-empty array of valid values'],
    ['multi_select', ['r', 'nope'], 'Multi-select response must be a non-empty array of valid values'],
  ] as const)('refuses a %s answer %j with 400 PROMPT_ERROR', async (promptType, response, message) => {
    const kin = await newKin(`Picky ${promptType}`);
    const promptId = await ask(kin.id, { promptType });
    const answer = await api.post(`/api/prompts/${promptId}/respond`, { response });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({ code: 'PROMPT_ERROR', message });
    expect((await api.get(`/api/prompts/pending?kinId=${kin.id}`)).body.prompts).toHaveLength(1);
  });
});

describe('the prompt_human and notify tools', () => {
  it('prompt_human creates a pending prompt (confirm defaults to yes/no) and notifies every user', async () => {
    const kin = await newKin('Tool User');
    const result = await runTool('prompt_human', { promptType: 'confirm', question: 'Deploy now?' }, toolContext(kin.id, { taskId: 'task-9' }));
    expect(result).toEqual({ promptId: expect.any(String), status: 'pending', note: 'The human will answer later; their answer will arrive as a new message.' });
    const [prompt] = (await api.get(`/api/prompts/pending?kinId=${kin.id}`)).body.prompts;
    expect(prompt).toMatchObject({
      id: result.promptId,
      taskId: 'task-9',
      promptType: 'confirm',
      description: null,
      options: [
        { label: 'Yes', value: 'yes', variant: 'success' },
        { label: 'No', value: 'no', variant: 'destructive' },
      ],
    });
    const notifications = (await api.get('/api/notifications')).body.notifications;
    expect(notifications.find((n: { relatedId: string }) => n.relatedId === result.promptId)).toMatchObject({
      type: 'prompt:pending',
      title: 'Kin needs your input',
      body: 'Deploy now?',
      kinId: kin.id,
      kinName: 'Tool User',
      relatedType: 'prompt',
      isRead: false,
    });
    expect(await api.post(`/api/prompts/${result.promptId}/respond`, { response: 'yes' })).toMatchObject({ status: 200 });
    const answered = await server.services.eventStore.readStream(`prompt-${result.promptId}`);
    expect(answered.at(-1)!.data).toMatchObject({ taskId: 'task-9', responseText: '[Human response to "Deploy now?"]: Yes' });
  });

  it('prompt_human takes multi_select answers as labels joined by commas', async () => {
    const kin = await newKin('Multi');
    const { promptId } = await runTool('prompt_human', { promptType: 'multi_select', question: 'Which?', options: colours }, toolContext(kin.id));
    expect((await api.post(`/api/prompts/${promptId}/respond`, { response: ['b', 'r'] })).status).toBe(200);
    const events = await server.services.eventStore.readStream(`prompt-${promptId}`);
    expect(events.at(-1)!.data).toMatchObject({ response: ['b', 'r'], responseText: '[Human response to "Which?"]: Blue, Red' });
  });

  it('prompt_human refuses select without options, more than 20 options, and an unknown Kin', async () => {
    const tool = nativeTools.find((t) => t.name === 'prompt_human')!;
    expect(tool.input.safeParse({ promptType: 'select', question: 'Q?' }).success).toBe(false);
    const many = Array.from({ length: 21 }, (_, i) => ({ label: `O${i}`, value: `o${i}` }));
    expect(tool.input.safeParse({ promptType: 'select', question: 'Q?', options: many }).success).toBe(false);
    await expect(runTool('prompt_human', { promptType: 'confirm', question: 'Q?' }, toolContext(UNKNOWN))).rejects.toMatchObject({ code: 'KIN_NOT_FOUND' });
  });

  it('notify sends a kin:alert to every user with the Kin', async () => {
    const kin = await newKin('Alerter');
    const result = await runTool('notify', { title: 'Server down', body: 'Since 10:02' }, toolContext(kin.id));
    expect(result).toEqual({ success: true, notified: 1 });
    const [latest] = (await api.get('/api/notifications')).body.notifications;
    expect(latest).toMatchObject({ type: 'kin:alert', title: 'Server down', body: 'Since 10:02', kinId: kin.id, kinSlug: 'alerter' });
  });

  it('both tools are listed in the tasks domain', async () => {
    const kin = await newKin('Lister');
    const { body } = await api.get(`/api/kins/${kin.id}/tools`);
    const tasks = body.nativeTools.find((d: { domain: string }) => d.domain === 'tasks');
    const names = ['notify', 'prompt_human', 'spawn_self', 'spawn_kin', 'respond_to_task', 'cancel_task', 'list_tasks', 'report_to_parent', 'update_task_status', 'request_input'];
    expect(tasks.tools).toEqual(names.map((name) => ({ name, enabled: true, defaultDisabled: false })));
  });
});

describe('GET /api/sse prompt events', () => {
  it('sends prompt:pending and prompt:answered (and {cancelled: true}) tagged with the Kin', async () => {
    const sse = await openSse(server.url, { cookie });
    const kin = await newKin('Live Asker');
    const answeredId = await ask(kin.id, { taskId: 'task-3' });
    await api.post(`/api/prompts/${answeredId}/respond`, { response: 'b' });
    const cancelledId = await ask(kin.id, { promptType: 'multi_select' });
    await cancelPrompt(server.services, cancelledId, kinMetadata(kin.id));
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'prompt:answered' && m.data.promptId === cancelledId));
    await sse.close();
    const prompts = sse.messages().filter((m) => m.type.startsWith('prompt:'));
    expect(prompts).toEqual([
      {
        type: 'prompt:pending',
        kinId: kin.id,
        data: { promptId: answeredId, kinId: kin.id, taskId: 'task-3', promptType: 'select', question: 'Which colour?', description: null, options: colours },
      },
      { type: 'prompt:answered', kinId: kin.id, data: { promptId: answeredId, kinId: kin.id, taskId: 'task-3', response: 'b' } },
      {
        type: 'prompt:pending',
        kinId: kin.id,
        data: { promptId: cancelledId, kinId: kin.id, taskId: null, promptType: 'multi_select', question: 'Which colour?', description: null, options: colours },
      },
      { type: 'prompt:answered', kinId: kin.id, data: { promptId: cancelledId, kinId: kin.id, taskId: null, cancelled: true } },
    ]);
    const notified = sse.messages().filter((m) => m.type === 'notification:new').map((m) => m.data.notification.relatedId);
    expect(notified).toEqual([answeredId, cancelledId]);
  });
});

describe('credentials', () => {
  it.each([
    ['GET', '/api/prompts/pending?kinId=x'],
    ['POST', '/api/prompts/any/respond'],
  ])('%s %s answers 401 without credentials', async (method, path) => {
    const { status, body } = await anonymous.request(method, path, method === 'GET' ? undefined : { response: 'x' });
    expect(status).toBe(401);
    expect(body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
  });
});
