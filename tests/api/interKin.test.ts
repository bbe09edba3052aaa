import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentText, startFakeLlm, type ChatRequest, type FakeLlm, type TurnSpec } from '../fakes/fakeLlm.js';
import { nativeTools, type ToolContext } from '../../src/agents/tools.js';
import { timeOutKinRequests } from '../../src/jobs/interKinTimeouts.js';
import { kinInput, signUp, startTestServer, type Client, type TestServer, until, addFakeProvider } from './helpers.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const systemOf = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')?.content);
const toolsOf = (request: ChatRequest) => (request.tools ?? []).map((t) => t.function.name);
/** Each Kin's behaviour, keyed by the name its system prompt starts with. */
let behaviours: Record<string, (last: string, request: ChatRequest) => TurnSpec> = {};

beforeAll(async () => {
  llm = await startFakeLlm();
  llm.setDefault((request) => {
    const last = request.messages.at(-1)!;
    if (last.role === 'tool') return { text: 'ok' };
    const name = /^You are (\w+)/.exec(systemOf(request))?.[1] ?? '';
    return behaviours[name]?.(contentText(last.content), request) ?? { text: 'noted' };
  });
  server = await startTestServer();
  ({ api } = await signUp(server.url));
  await addFakeProvider(api, llm.baseUrl);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const newKin = async (name: string) => (await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };
const historyOf = async (kinId: string) =>
  (await api.get(`/api/kins/${kinId}/messages?limit=100`)).body.messages as { role: string; content: string; sourceType: string; sourceId: string | null }[];
const requestsOf = (name: string) => llm.chatRequests().filter((r) => systemOf(r).startsWith(`You are ${name},`));
const requestIdIn = (text: string) => /request_id: ([0-9a-f-]{36})/.exec(text)?.[1];

/** Runs a native tool as `kinId` would in a turn. */
async function runTool(name: string, input: unknown, kinId: string, taskId: string | null = null) {
  const context: ToolContext = {
    kinId,
    readStore: server.services.readStore,
    services: server.services,
    metadata: { actor: { kind: 'kin', id: kinId }, correlationId: `test-${kinId}`, now: new Date() },
    taskId,
  };
  const tool = nativeTools.find((t) => t.name === name)!;
  return (await tool.execute(tool.input.parse(input) as never, context)) as Record<string, unknown>;
}

describe('inter-Kin messages', () => {
  it('a request reaches the other Kin with its correlation id; the reply comes back as a turn that cannot answer it', async () => {
    const alice = await newKin('Alice');
    const bob = await newKin('Bob');
    behaviours = {
      Alice: (last) =>
        last.includes('ask bob')
          ? { toolCalls: [{ name: 'send_message', args: { slug: bob.slug, message: 'What is 6x7?', type: 'request' } }] }
          : last.includes('reply to your request')
            ? { text: 'Bob says 42.' }
            : { text: 'noted' },
      Bob: (last) => {
        const requestId = requestIdIn(last);
        return requestId ? { toolCalls: [{ name: 'reply', args: { request_id: requestId, message: '42' } }] } : { text: 'noted' };
      },
    };
    await api.post(`/api/kins/${alice.id}/messages`, { content: 'ask bob the answer' });
    const aliceHistory = await until(() => historyOf(alice.id), (h) => h.length >= 4);
    const bobHistory = await historyOf(bob.id);
    const requestId = requestIdIn(bobHistory[0]!.content)!;
    expect(bobHistory[0]).toMatchObject({ role: 'user', sourceType: 'kin', sourceId: alice.id });
    expect(bobHistory[0]!.content).toBe(`What is 6x7?\n\n[request_id: ${requestId} — answer with the reply tool]`);
    expect(bobHistory.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(aliceHistory.map((m) => [m.role, m.sourceType, m.content])).toEqual([
      ['user', 'user', 'ask bob the answer'],
      ['assistant', 'kin', 'ok'],
      ['user', 'kin', `42\n\n(reply to your request ${requestId})`],
      ['assistant', 'kin', 'Bob says 42.'],
    ]);
    // The turn that read the reply had no inter-Kin tools (no ping-pong); the others had them.
    const replyTurn = requestsOf('Alice').find((r) => contentText(r.messages.at(-1)!.content).includes('reply to your request'))!;
    expect(toolsOf(replyTurn)).not.toEqual(expect.arrayContaining(['send_message']));
    expect(toolsOf(replyTurn).filter((t) => ['send_message', 'reply', 'list_kins'].includes(t))).toEqual([]);
    expect(toolsOf(requestsOf('Alice')[0]!)).toEqual(expect.arrayContaining(['send_message', 'reply', 'list_kins']));
    // The model saw who spoke.
    expect(contentText(replyTurn.messages.at(-1)!.content)).toBe(`[Kin Bob] 42\n\n(reply to your request ${requestId})`);
    await sleep(300);
    expect(await historyOf(bob.id)).toHaveLength(2);
    // One reply per request, from its addressee only.
    expect(await runTool('reply', { request_id: requestId, message: 'again' }, bob.id)).toEqual({ error: 'This request was already answered' });
    expect(await runTool('reply', { request_id: requestId, message: 'me too' }, alice.id)).toEqual({ error: 'Original request not found — cannot correlate reply' });
  }, 30_000);

  it('an inform is deposited without a turn and cannot be replied to', async () => {
    const carol = await newKin('Carol');
    const dave = await newKin('Dave');
    const sent = await runTool('send_message', { slug: dave.slug, message: 'FYI: the build is green', type: 'inform' }, carol.id);
    expect(sent).toMatchObject({ success: true, requestId: null });
    const history = await until(() => historyOf(dave.id), (h) => h.length === 1);
    expect(history).toEqual([expect.objectContaining({ role: 'user', sourceType: 'kin', sourceId: carol.id, content: 'FYI: the build is green' })]);
    await sleep(300);
    expect(requestsOf('Dave')).toHaveLength(0);
    const informs = await server.services.readStore.collection('kin_messages').find({ fromKinId: carol.id });
    expect(await runTool('reply', { request_id: informs[0]!.id, message: 'thanks' }, dave.id)).toEqual({ error: 'That message was informational: it does not expect a reply' });
    expect(await runTool('reply', { request_id: '01936d3c-0000-7000-8000-00000000beef', message: 'hm' }, dave.id)).toEqual({ error: 'Original request not found — cannot correlate reply' });
    expect(await runTool('send_message', { slug: carol.slug, message: 'me', type: 'inform' }, carol.id)).toEqual({ error: 'Cannot send a message to yourself' });
    expect(await runTool('send_message', { slug: 'nobody-here', message: 'hi', type: 'inform' }, carol.id)).toEqual({ error: 'Kin "nobody-here" not found' });
  }, 30_000);

  it('limits how many messages a Kin sends another per minute', async () => {
    const eve = await newKin('Eve');
    const frank = await newKin('Frank');
    for (let i = 0; i < 20; i++) expect(await runTool('send_message', { slug: frank.id, message: `note ${i}`, type: 'inform' }, eve.id)).toMatchObject({ success: true });
    expect(await runTool('send_message', { slug: frank.id, message: 'one too many', type: 'inform' }, eve.id)).toEqual({ error: 'Rate limit exceeded: max 20 messages/minute to this Kin' });
    // Another pair has its own budget.
    expect(await runTool('send_message', { slug: eve.id, message: 'hello back', type: 'inform' }, frank.id)).toMatchObject({ success: true });
  }, 30_000);

  it('a task that asks another Kin waits for the reply (awaiting_kin_response), then goes on with it', async () => {
    const boss = await newKin('Gina');
    const expert = await newKin('Hank');
    behaviours = {
      Gina: (last, request) => {
        if (systemOf(request).includes('## Your task')) {
          if (last.includes('reply to your request')) return { toolCalls: [{ name: 'update_task_status', args: { status: 'completed', result: `expert said: ${last.split('\n')[0]}` } }] };
          return { toolCalls: [{ name: 'send_message', args: { slug: expert.slug, message: 'Capital of France?', type: 'request' } }] };
        }
        return last.includes('consult') ? { toolCalls: [{ name: 'spawn_self', args: { title: 'Consult', task_description: 'Ask the expert', mode: 'async' } }] } : { text: 'noted' };
      },
      Hank: (last) => {
        const requestId = requestIdIn(last);
        return requestId ? { toolCalls: [{ name: 'reply', args: { request_id: requestId, message: 'Paris' } }] } : { text: 'noted' };
      },
    };
    await api.post(`/api/kins/${boss.id}/messages`, { content: 'consult the expert' });
    const tasks = await until(
      async () => (await api.get(`/api/tasks?kinId=${boss.id}`)).body.tasks as { id: string; status: string }[],
      (t) => t[0]?.status === 'completed',
    );
    const detail = (await api.get(`/api/tasks/${tasks[0]!.id}`)).body;
    expect(detail.task.result).toBe('expert said: [Kin Hank] Paris');
    // The reply resumed the task's own conversation, not Gina's main one.
    expect(detail.messages.some((m: { content: string; sourceType: string }) => m.sourceType === 'kin' && m.content.startsWith('Paris'))).toBe(true);
    const taskTurns = requestsOf('Gina').filter((r) => systemOf(r).includes('## Your task') && r.messages.at(-1)!.role === 'user');
    expect(toolsOf(taskTurns.at(-1)!)).not.toContain('send_message');
    const counted = await server.services.readStore.collection('tasks').get(tasks[0]!.id);
    expect(counted).toMatchObject({ interKinRequestCount: 1, status: 'completed' });
  }, 30_000);

  it('a task whose request gets no reply goes on after the response timeout', async () => {
    const boss = await newKin('Ivy');
    const silent = await newKin('Jack');
    behaviours = {
      Ivy: (last, request) => {
        if (systemOf(request).includes('## Your task')) {
          if (last.includes('No reply came')) return { toolCalls: [{ name: 'update_task_status', args: { status: 'failed', error: 'Jack did not answer' } }] };
          return { toolCalls: [{ name: 'send_message', args: { slug: silent.slug, message: 'Anyone there?', type: 'request' } }] };
        }
        return last.includes('wait') ? { toolCalls: [{ name: 'spawn_self', args: { title: 'Wait', task_description: 'Ask Jack', mode: 'async' } }] } : { text: 'noted' };
      },
      Jack: () => ({ text: 'I will not reply.' }),
    };
    await api.post(`/api/kins/${boss.id}/messages`, { content: 'wait for jack' });
    const waiting = await until(
      async () => (await api.get(`/api/tasks?kinId=${boss.id}`)).body.tasks as { id: string; status: string }[],
      (t) => t[0]?.status === 'awaiting_kin_response',
    );
    expect(waiting[0]!.status).toBe('awaiting_kin_response');
    expect(await timeOutKinRequests(server.services)).toEqual({ timedOut: 0 });
    const later = new Date(Date.now() + server.services.config.tasks.interKinTimeoutMs + 1000);
    expect(await timeOutKinRequests(server.services, later)).toEqual({ timedOut: 1 });
    const ended = await until(
      async () => (await api.get(`/api/tasks/${waiting[0]!.id}`)).body,
      (d) => d.task.status === 'failed',
    );
    expect(ended.task.error).toBe('Jack did not answer');
    expect(ended.messages.some((m: { content: string }) => m.content === 'No reply came within 5 minute(s); go on without it.')).toBe(true);
  }, 30_000);
});
