import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentText, startFakeLlm, type ChatRequest, type FakeLlm, type TurnSpec } from '../fakes/fakeLlm.js';
import { spawnTask } from '../../src/commands/tasks.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer, until, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── The fake model: a task's turn is told apart by its system prompt, a task by its description ──
const systemOf = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')?.content);
const firstUser = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'user')?.content);
const isTaskTurn = (request: ChatRequest) => systemOf(request).includes('## Your task');
type Behaviour = { main: (last: string, request: ChatRequest) => TurnSpec; task: (description: string, last: string, request: ChatRequest) => TurnSpec };
let behaviour: Behaviour;
function route(request: ChatRequest): TurnSpec {
  const last = request.messages.at(-1)!;
  // After its tools ran, a turn ends with a short text.
  if (last.role === 'tool') return { text: 'ok' };
  const text = contentText(last.content);
  return isTaskTurn(request) ? behaviour.task(firstUser(request), text, request) : behaviour.main(text, request);
}

beforeAll(async () => {
  llm = await startFakeLlm();
  llm.setDefault(route);
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl);
  expect(provider.status).toBe(201);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const newKin = async (name: string) => (await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };
const tasksOf = async (kinId: string) => (await api.get(`/api/tasks?kinId=${kinId}&limit=100`)).body.tasks as { id: string; title: string; status: string; createdAt: string }[];
const oldestFirst = <T extends { createdAt: string; id: string }>(items: T[]) => [...items].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
const historyOf = async (kinId: string) => (await api.get(`/api/kins/${kinId}/messages?limit=100`)).body.messages as { role: string; content: string; sourceType: string; resolvedTaskId: string | null }[];
const ACTIVE = ['pending', 'in_progress', 'awaiting_human_input', 'awaiting_kin_response'];
const jobNumber = (text: string) => Number(/Job #(\d+)/.exec(text)?.[1]);

describe('a concurrency group of tasks spawned by a Kin', () => {
  it('runs at most M, queues the rest, promotes oldest first, and lets a queued task be cancelled or force-promoted', async () => {
    const boss = await newKin('Boss');
    behaviour = {
      main: (last) =>
        last.includes('fan out')
          ? {
              toolCalls: [1, 2, 3, 4, 5].map((n) => ({
                name: 'spawn_self',
                args: { title: `Job ${n}`, task_description: `Job #${n}: count to ${n}`, mode: 'async', concurrency_group: 'batch', concurrency_max: 2 },
              })),
            }
          : { text: 'noted' },
      // Each task asks a human before finishing, which holds it (active) until the test answers.
      task: (description, last) =>
        last.includes('Human response')
          ? { toolCalls: [{ name: 'update_task_status', args: { status: 'completed', result: `done ${jobNumber(description)}` } }] }
          : { toolCalls: [{ name: 'prompt_human', args: { promptType: 'confirm', question: `Finish job ${jobNumber(description)}?` } }] },
    };
    const sse = await openSse(server.url, { cookie });
    expect((await api.post(`/api/kins/${boss.id}/messages`, { content: 'fan out five jobs' })).status).toBe(202);

    // Exactly two run (here: waiting for their human), three wait in the queue.
    let tasks = await until(() => tasksOf(boss.id), (t) => t.length === 5 && t.filter((x) => x.status === 'awaiting_human_input').length === 2);
    const [t1, t2, t3, t4, t5] = oldestFirst(tasks);
    const statusOf = async () => new Map((await tasksOf(boss.id)).map((t) => [t.id, t.status]));
    let statuses = await statusOf();
    expect([t1, t2].map((t) => statuses.get(t!.id))).toEqual(['awaiting_human_input', 'awaiting_human_input']);
    expect([t3, t4, t5].map((t) => statuses.get(t!.id))).toEqual(['queued', 'queued', 'queued']);
    // The queue does not move by itself.
    await sleep(300);
    expect([...(await statusOf()).values()].filter((s) => ACTIVE.includes(s))).toHaveLength(2);

    const answer = async (taskId: string) => {
      const pending = await until(
        async () => (await api.get(`/api/prompts/pending?kinId=${boss.id}&taskId=${taskId}`)).body.prompts as { id: string }[],
        (p) => p.length === 1,
      );
      expect((await api.post(`/api/prompts/${pending[0]!.id}/respond`, { response: 'yes' })).status).toBe(200);
    };

    // The second task finishes first: its slot goes to the oldest queued task (the third).
    await answer(t2!.id);
    statuses = await until(statusOf, (s) => s.get(t2!.id) === 'completed' && s.get(t3!.id) === 'awaiting_human_input');
    expect([t1, t2, t3, t4, t5].map((t) => statuses.get(t!.id))).toEqual(['awaiting_human_input', 'completed', 'awaiting_human_input', 'queued', 'queued']);

    // Cancelling a queued task takes it out of the queue; nobody is promoted (both slots are taken).
    expect((await api.post(`/api/tasks/${t5!.id}/cancel`)).body).toEqual({ success: true });
    statuses = await statusOf();
    expect(statuses.get(t5!.id)).toBe('cancelled');
    await sleep(300);
    expect((await statusOf()).get(t4!.id)).toBe('queued');

    // Force-promote starts the fourth past the limit: three active in a group of two.
    expect((await api.post(`/api/tasks/${t4!.id}/force-promote`)).body).toEqual({ success: true });
    statuses = await until(statusOf, (s) => s.get(t4!.id) === 'awaiting_human_input');
    expect([...statuses.values()].filter((s) => ACTIVE.includes(s))).toHaveLength(3);
    const again = await api.post(`/api/tasks/${t4!.id}/force-promote`);
    expect(again.status).toBe(409);
    expect(again.body.error).toEqual({ code: 'TASK_NOT_QUEUED', message: 'Task is not in queued status' });

    for (const t of [t1, t3, t4]) await answer(t!.id);
    statuses = await until(statusOf, (s) => [...s.values()].filter((x) => x === 'completed').length === 4);
    expect([t1, t2, t3, t4, t5].map((t) => statuses.get(t!.id))).toEqual(['completed', 'completed', 'completed', 'completed', 'cancelled']);
    const finished = await api.post(`/api/tasks/${t1!.id}/cancel`);
    expect(finished.status).toBe(409);
    expect(finished.body.error).toEqual({ code: 'TASK_NOT_CANCELLABLE', message: 'Task is already finished' });

    // async: each result is deposited in the Boss's conversation, and no turn answers it.
    const history = await until(() => historyOf(boss.id), (h) => h.filter((m) => m.content.startsWith('[Task completed:')).length === 4);
    const results = history.filter((m) => m.content.startsWith('[Task completed:'));
    expect(results.map((m) => m.content).sort()).toEqual(['[Task completed: Job 1] done 1', '[Task completed: Job 2] done 2', '[Task completed: Job 3] done 3', '[Task completed: Job 4] done 4']);
    expect(results.every((m) => m.role === 'user' && m.sourceType === 'task' && m.resolvedTaskId)).toBe(true);
    expect(history.at(-1)!.content.startsWith('[Task completed:')).toBe(true);
    expect(history.filter((m) => m.role === 'assistant')).toHaveLength(1);

    // The live feed told the story: statuses with the group on spawn, queue updates, done events.
    await sse.waitFor(() => sse.messages().filter((m) => m.type === 'task:done' && m.kinId === boss.id).length === 4);
    await sse.close();
    const mine = sse.messages().filter((m) => m.kinId === boss.id);
    const statusEvents = mine.filter((m) => m.type === 'task:status').map((m) => m.data);
    expect(statusEvents.filter((d) => d.status === 'queued').map((d) => d.taskId).sort()).toEqual([t3!.id, t4!.id, t5!.id].sort());
    expect(statusEvents.filter((d) => d.status === 'queued').every((d) => d.concurrencyGroup === 'batch' && d.title.startsWith('Job') && d.senderName === 'Boss')).toBe(true);
    expect(statusEvents.find((d) => d.taskId === t1!.id && d.status === 'pending')).toMatchObject({ concurrencyGroup: 'batch', kinId: boss.id });
    expect(statusEvents.find((d) => d.taskId === t3!.id && d.status === 'pending')).toBeDefined();
    expect(statusEvents.find((d) => d.taskId === t5!.id && d.status === 'cancelled')).toMatchObject({ title: 'Job 5' });
    const done = mine.filter((m) => m.type === 'task:done').map((m) => m.data);
    expect(done.find((d) => d.taskId === t2!.id)).toMatchObject({ status: 'completed', result: 'done 2', error: null, title: 'Job 2', senderName: 'Boss', kinId: boss.id });
    const queueUpdates = mine.filter((m) => m.type === 'queue:update' && m.data.taskQueue).map((m) => m.data);
    expect(queueUpdates.length).toBeGreaterThanOrEqual(5);
    expect(queueUpdates.every((d) => d.taskQueue.group === 'batch' && d.taskQueue.active <= 3 && typeof d.queueSize === 'number')).toBe(true);
    expect(queueUpdates.some((d) => d.taskQueue.queued === 3 && d.taskQueue.active === 2)).toBe(true);
    // Task turns stream on the parent's scope, tagged with their task.
    expect(mine.some((m) => m.type === 'chat:message' && m.data.taskId === t1!.id && m.data.content === 'Job #1: count to 1')).toBe(true);
  }, 60_000);
});

describe('results of a task', () => {
  it('in await mode come back to the requesting Kin as a new turn; a delegated Kin gets a notice', async () => {
    const boss = await newKin('Chief');
    const helper = await newKin('Helper');
    behaviour = {
      main: (last) =>
        last.includes('delegate')
          ? { toolCalls: [{ name: 'spawn_kin', args: { kin_slug: helper.slug, title: 'Sum', task_description: 'Add 2 and 2', mode: 'await' } }] }
          : last.includes('[Task: Sum] Result:')
            ? { text: 'The helper says 4.' }
            : { text: 'noted' },
      task: () => ({ toolCalls: [{ name: 'update_task_status', args: { status: 'completed', result: '4' } }] }),
    };
    await api.post(`/api/kins/${boss.id}/messages`, { content: 'delegate the sum' });
    const history = await until(() => historyOf(boss.id), (h) => h.length >= 4);
    expect(history.map((m) => [m.role, m.sourceType, m.content])).toEqual([
      ['user', 'user', 'delegate the sum'],
      ['assistant', 'kin', 'ok'],
      ['user', 'task', '[Task: Sum] Result: 4'],
      ['assistant', 'kin', 'The helper says 4.'],
    ]);
    const [task] = await tasksOf(boss.id);
    expect(history[2]!.resolvedTaskId).toBe(task!.id);
    // The task ran as the Helper, in the Chief's task scope.
    const taskRequest = llm.chatRequests().find((r) => isTaskTurn(r) && firstUser(r).includes('Add 2 and 2'))!;
    expect(systemOf(taskRequest)).toContain('You are Helper');
    expect(systemOf(taskRequest)).toContain('who delegated it to you');
    const toolNames = taskRequest.tools!.map((t) => t.function.name);
    expect(toolNames).toEqual(expect.arrayContaining(['update_task_status', 'report_to_parent', 'request_input', 'spawn_self']));
    expect(toolNames).not.toContain('respond_to_task');
    // Main turns do not get the sub-task tools.
    const mainRequest = llm.chatRequests().find((r) => !isTaskTurn(r) && contentText(r.messages.at(-1)!.content).includes('delegate'))!;
    expect(mainRequest.tools!.map((t) => t.function.name)).not.toContain('update_task_status');
    const helperHistory = await until(() => historyOf(helper.id), (h) => h.length === 1);
    expect(helperHistory[0]).toMatchObject({ role: 'user', sourceType: 'task', content: '[Task completed: Sum] 4' });
    const detail = await api.get(`/api/tasks/${task!.id}`);
    expect(detail.body.task).toMatchObject({ status: 'completed', result: '4', mode: 'await', model: 'fake-chat', depth: 1 });
    expect(detail.body.messages.map((m: { role: string; sourceType: string }) => [m.role, m.sourceType])).toEqual([
      ['user', 'system'],
      ['assistant', 'kin'],
    ]);
    expect(detail.body.messages[1].sourceId).toBe(helper.id);
    // The task's messages stay out of the Chief's main conversation.
    expect(history.some((m) => m.content === 'Add 2 and 2')).toBe(false);
  }, 30_000);

  it('a question with request_input goes to the parent, whose respond_to_task resumes the task; report_to_parent informs it', async () => {
    const boss = await newKin('Painter');
    behaviour = {
      main: (last) => {
        const asked = /task_id: ([0-9a-f-]+)/.exec(last);
        if (asked) return { toolCalls: [{ name: 'respond_to_task', args: { task_id: asked[1], answer: 'blue' } }] };
        if (last.includes('paint')) return { toolCalls: [{ name: 'spawn_self', args: { title: 'Fence', task_description: 'Paint the fence', mode: 'async' } }] };
        return { text: 'noted' };
      },
      task: (_description, last) =>
        last.includes('blue')
          ? { toolCalls: [{ name: 'report_to_parent', args: { message: 'half done' } }, { name: 'update_task_status', args: { status: 'completed', result: 'painted blue' } }] }
          : { toolCalls: [{ name: 'request_input', args: { question: 'Which color?' } }] },
    };
    const sse = await openSse(server.url, { cookie });
    await api.post(`/api/kins/${boss.id}/messages`, { content: 'paint the fence' });
    const [task] = await until(() => tasksOf(boss.id), (t) => t[0]?.status === 'completed');
    expect(task!.status).toBe('completed');
    const history = await until(() => historyOf(boss.id), (h) => h.some((m) => m.content === '[Task completed: Fence] painted blue'));
    const contents = history.map((m) => m.content);
    expect(contents).toContain(`[Task "Fence" asks]: Which color?\n(Answer with respond_to_task, task_id: ${task!.id})`);
    expect(contents).toContain('[Task report: Fence] half done');
    expect(contents).toContain('[Task completed: Fence] painted blue');
    const detail = (await api.get(`/api/tasks/${task!.id}`)).body;
    expect(detail.messages.map((m: { content: string }) => m.content)).toContain('blue');
    await sse.close();
    const statuses = sse.messages().filter((m) => m.type === 'task:status' && m.data.taskId === task!.id).map((m) => m.data.status);
    expect(statuses).toEqual(['pending', 'in_progress', 'awaiting_kin_response', 'in_progress']);
  }, 30_000);

  it('a task that does not report its status gets one nudge, then fails', async () => {
    const boss = await newKin('Nudger');
    behaviour = {
      main: (last) => (last.includes('start') ? { toolCalls: [{ name: 'spawn_self', args: { title: 'Lazy', task_description: 'Do nothing much', mode: 'await' } }] } : { text: 'I see it failed.' }),
      task: () => ({ text: 'I am thinking about it.' }),
    };
    await api.post(`/api/kins/${boss.id}/messages`, { content: 'start the lazy one' });
    const [task] = await until(() => tasksOf(boss.id), (t) => t[0]?.status === 'failed');
    const detail = (await api.get(`/api/tasks/${task!.id}`)).body;
    expect(detail.task.error).toBe('The task ended without reporting its result (update_task_status was not called)');
    expect(detail.messages.map((m: { role: string; sourceType: string }) => `${m.role}/${m.sourceType}`)).toEqual(['user/system', 'assistant/kin', 'user/system', 'assistant/kin']);
    expect(detail.messages[2].content).toContain('update_task_status');
    // await + failed: the failure is a new turn for the parent.
    const history = await until(() => historyOf(boss.id), (h) => h.length >= 4);
    expect(history[2]).toMatchObject({ sourceType: 'task', content: `[Task failed: Lazy] Error: ${detail.task.error}` });
    expect(history[3]).toMatchObject({ role: 'assistant', content: 'I see it failed.' });
  }, 30_000);
});

describe('task routes', () => {
  it('list with filters and pages, 404 for unknown tasks, 401 without a session', async () => {
    const boss = await newKin('Lister');
    behaviour = { main: () => ({ text: 'noted' }), task: (description) => ({ toolCalls: [{ name: 'update_task_status', args: { status: 'completed', result: description.toUpperCase() } }] }) };
    const metadata = { actor: { kind: 'system' as const, id: 'test' }, correlationId: 'test', now: new Date() };
    const spawn = (title: string, description: string) =>
      spawnTask(server.services, { parentKinId: boss.id, sourceKinId: null, title, description, mode: 'async', model: null, cronId: null, parentTaskId: null, concurrencyGroup: null, concurrencyMax: null }, metadata);
    for (const [title, description] of [['Alpha', 'first thing'], ['Beta', 'second THING'], ['Gamma', 'other']] as const) await spawn(title, description);
    await until(() => tasksOf(boss.id), (t) => t.length === 3 && t.every((x) => x.status === 'completed'));

    const page = await api.get(`/api/tasks?kinId=${boss.id}&limit=2&offset=0`);
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(3);
    expect(page.body.hasMore).toBe(true);
    expect(page.body.tasks.map((t: { title: string }) => t.title)).toEqual(['Gamma', 'Beta']);
    expect(page.body.tasks[0]).toMatchObject({ parentKinName: 'Lister', parentKinAvatarUrl: null, sourceKinId: null, sourceKinName: null, model: 'fake-chat', queuePosition: null, depth: 1, cronId: null });
    const rest = await api.get(`/api/tasks?kinId=${boss.id}&limit=2&offset=2`);
    expect(rest.body).toMatchObject({ total: 3, hasMore: false });
    expect(rest.body.tasks.map((t: { title: string }) => t.title)).toEqual(['Alpha']);
    const searched = await api.get(`/api/tasks?kinId=${boss.id}&search=thing`);
    expect(searched.body.tasks.map((t: { title: string }) => t.title)).toEqual(['Beta', 'Alpha']);
    expect((await api.get(`/api/tasks?kinId=${boss.id}&search=GAMM`)).body.total).toBe(1);
    expect((await api.get(`/api/tasks?kinId=${boss.id}&status=failed`)).body).toEqual({ tasks: [], total: 0, hasMore: false });
    const clamped = await api.get(`/api/tasks?kinId=${boss.id}&limit=5000&offset=-3`);
    expect(clamped.status).toBe(200);
    expect(clamped.body.tasks).toHaveLength(3);
    expect((await api.get(`/api/tasks?kinId=${boss.id}&limit=abc`)).status).toBe(200);

    const unknown = '01936d3c-0000-7000-8000-000000000999';
    for (const [method, path] of [['GET', `/api/tasks/${unknown}`], ['POST', `/api/tasks/${unknown}/cancel`], ['POST', `/api/tasks/${unknown}/force-promote`]] as const) {
      const response = await api.request(method, path);
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: 'NOT_FOUND', message: 'Task not found' });
    }
    const anonymous = client(server.url);
    expect((await anonymous.get('/api/tasks')).status).toBe(401);
    expect((await anonymous.post(`/api/tasks/${unknown}/cancel`)).status).toBe(401);
  }, 30_000);
});

describe('task limits', () => {
  let limited: TestServer;
  afterAll(async () => {
    await limited?.cleanup();
  });

  it('refuses to spawn past the depth or the global limit, with the spec messages', async () => {
    limited = await startTestServer(undefined, { TASKS_MAX_DEPTH: '1', TASKS_MAX_CONCURRENT: '2' });
    const { api: admin } = await signUp(limited.url);
    await addFakeProvider(admin, llm.baseUrl);
    const kin = (await admin.post('/api/kins', kinInput({ name: 'Limited', model: 'fake-chat' }))).body.kin;
    const metadata = { actor: { kind: 'system' as const, id: 'test' }, correlationId: 'test', now: new Date() };
    const input = { parentKinId: kin.id, sourceKinId: null, title: 'Hold', description: 'hold on', mode: 'async' as const, model: null, cronId: null, parentTaskId: null, concurrencyGroup: null, concurrencyMax: null };
    // Both runs hang in the model, so both stay in_progress.
    llm.hangNext();
    llm.hangNext();
    const first = await spawnTask(limited.services, input, metadata);
    const second = await spawnTask(limited.services, input, metadata);
    expect([first.status, second.status]).toEqual(['pending', 'pending']);
    await expect(spawnTask(limited.services, { ...input, parentTaskId: first.taskId }, metadata)).rejects.toMatchObject({ code: 'MAX_TASK_DEPTH', message: 'Max task depth (1) exceeded' });
    await expect(spawnTask(limited.services, input, metadata)).rejects.toMatchObject({ code: 'MAX_CONCURRENT_TASKS', message: 'Max concurrent tasks (2) reached' });
    // Checked before the group logic: it rejects rather than queues.
    await expect(spawnTask(limited.services, { ...input, concurrencyGroup: 'g', concurrencyMax: 5 }, metadata)).rejects.toMatchObject({ message: 'Max concurrent tasks (2) reached' });
    for (const task of [first, second]) expect((await admin.post(`/api/tasks/${task.taskId}/cancel`)).status).toBe(200);
    const tasks = await until(async () => (await admin.get('/api/tasks')).body.tasks as { status: string }[], (t) => t.every((x) => x.status === 'cancelled'));
    expect(tasks.map((t) => t.status)).toEqual(['cancelled', 'cancelled']);
  }, 30_000);
});
