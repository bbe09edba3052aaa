import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contentText, startFakeLlm, type ChatRequest, type FakeLlm } from '../fakes/fakeLlm.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../../src/stores/sqlite/eventStore.js';
import { apiKeyClient, client, kinInput, signUp, type Client, addFakeProvider } from './helpers.js';
import { freePort, launchServer } from './process.js';

const dataDir = mkdtempSync(join(tmpdir(), 'kinbot-task-crash-'));
const children: ChildProcess[] = [];
let llm: FakeLlm | null = null;
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await llm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Task = { id: string; title: string; status: string };
const ACTIVE = ['pending', 'in_progress', 'awaiting_human_input', 'awaiting_kin_response'];
const JOBS = [1, 2, 3, 4, 5, 6, 7, 8];
const MAX = 3;

const isTaskTurn = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')?.content).includes('## Your task');
const jobOf = (request: ChatRequest) => Number(/Job #(\d+)/.exec(contentText(request.messages.find((m) => m.role === 'user')?.content))?.[1]);
/** The first request of a task's turn (not the follow-up after its tool ran). */
const isFirstTaskRequest = (request: ChatRequest) => isTaskTurn(request) && request.messages.at(-1)!.role === 'user';

describe('kill -9 with tasks running and queued', () => {
  it('keeps the group limit after a restart, resumes the cut tasks, and runs every task exactly once', async () => {
    llm = await startFakeLlm({ tokenDelayMs: 25 });
    llm.setDefault((request) => {
      const last = request.messages.at(-1)!;
      if (last.role === 'tool') return { text: 'ok' };
      if (isTaskTurn(request)) {
        const n = jobOf(request);
        // A slow answer (about a second of streaming) that ends the task.
        const text = `Working on job ${n}: ${'step '.repeat(40)}done.`;
        return { text, toolCalls: [{ name: 'update_task_status', args: { status: 'completed', result: `result of job ${n}` } }] };
      }
      if (contentText(last.content).includes('eight')) {
        return {
          toolCalls: JOBS.map((n) => ({
            name: 'spawn_self',
            args: { title: `Job ${n}`, task_description: `Job #${n}: the work`, mode: 'async', concurrency_group: 'crash', concurrency_max: MAX },
          })),
        };
      }
      return { text: 'noted' };
    });

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await launchServer(dataDir, port);
    children.push(first);
    const { cookie } = await signUp(url);
    const { key } = await apiKeyClient(url, cookie);
    const api: Client = client(url, { 'x-api-key': key });
    expect((await addFakeProvider(api, llm.baseUrl)).status).toBe(201);
    const boss = (await api.post('/api/kins', kinInput({ name: 'Boss', model: 'fake-chat' }))).body.kin;
    const tasksNow = async (on: Client) => (await on.get(`/api/tasks?kinId=${boss.id}&limit=100`)).body.tasks as Task[];

    await api.post(`/api/kins/${boss.id}/messages`, { content: 'run eight jobs' });
    // The Boss's own turn is over (its spawns are recorded) and three task turns are streaming.
    for (let i = 0; i < 400; i++) {
      const history = (await api.get(`/api/kins/${boss.id}/messages`)).body.messages;
      if (history.length >= 2 && llm.chatRequests().filter(isFirstTaskRequest).length >= MAX) break;
      await sleep(10);
    }
    await sleep(150);
    const before = await tasksNow(api);
    expect(before.filter((t) => t.status === 'in_progress')).toHaveLength(MAX);
    expect(before.filter((t) => t.status === 'queued')).toHaveLength(JOBS.length - MAX);
    const cut = before.filter((t) => t.status === 'in_progress').map((t) => t.title);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    expect(await fetch(`${url}/healthz`).catch(() => null)).toBeNull();

    const second = await launchServer(dataDir, port);
    children.push(second);
    const after = client(url, { 'x-api-key': key });
    // Queued tasks stayed queued; the group never has more than MAX active while the work goes on.
    const firstLook = await tasksNow(after);
    expect(firstLook.filter((t) => t.status === 'queued').length).toBeGreaterThanOrEqual(JOBS.length - MAX - 1);
    let maxActive = 0;
    let tasks = firstLook;
    for (let i = 0; i < 1000 && !tasks.every((t) => t.status === 'completed'); i++) {
      maxActive = Math.max(maxActive, tasks.filter((t) => ACTIVE.includes(t.status)).length);
      await sleep(20);
      tasks = await tasksNow(after);
    }
    expect(tasks).toHaveLength(JOBS.length);
    expect(tasks.every((t) => t.status === 'completed')).toBe(true);
    expect(maxActive).toBeLessThanOrEqual(MAX);

    // Every task ran once: one recorded turn each, one result each.
    for (const task of tasks) {
      // A task is completed by its tool call, a moment before its turn's answer is recorded.
      let detail = (await after.get(`/api/tasks/${task.id}`)).body;
      for (let i = 0; i < 200 && detail.messages.length < 2; i++) {
        await sleep(20);
        detail = (await after.get(`/api/tasks/${task.id}`)).body;
      }
      const n = Number(task.title.replace('Job ', ''));
      expect(detail.task.result).toBe(`result of job ${n}`);
      expect(detail.messages.map((m: { role: string; sourceType: string }) => `${m.role}/${m.sourceType}`)).toEqual(['user/system', 'assistant/kin']);
    }
    let history: { content: string }[] = [];
    for (let i = 0; i < 200; i++) {
      history = (await after.get(`/api/kins/${boss.id}/messages?limit=100`)).body.messages;
      if (history.filter((m) => m.content.startsWith('[Task completed:')).length >= JOBS.length) break;
      await sleep(20);
    }
    await sleep(300);
    history = (await after.get(`/api/kins/${boss.id}/messages?limit=100`)).body.messages;
    const results = history.filter((m) => m.content.startsWith('[Task completed:')).map((m) => m.content).sort();
    expect(results).toEqual(JOBS.map((n) => `[Task completed: Job ${n}] result of job ${n}`).sort());
    // The model was asked again only for the three turns the kill cut.
    const asked = (n: number) => llm!.chatRequests().filter((r) => isFirstTaskRequest(r) && jobOf(r) === n).length;
    for (const n of JOBS) expect(asked(n)).toBe(cut.includes(`Job ${n}`) ? 2 : 1);

    second.kill('SIGTERM');
    await new Promise((resolve) => second.once('exit', resolve));

    // The log agrees: replaying the group's stream, it never held more than MAX tasks at once.
    const handle = openSqlite(join(dataDir, 'kinbot.db'));
    const events = await createSqliteEventStore(handle).readStream('taskgroup-crash');
    handle.db.close();
    const active = new Set<string>();
    let peak = 0;
    for (const event of events) {
      const data = event.data as { taskId: string };
      if (event.type === 'GroupTaskAdmitted') active.add(data.taskId);
      if (event.type === 'GroupTaskReleased') active.delete(data.taskId);
      peak = Math.max(peak, active.size);
    }
    expect(peak).toBe(MAX);
    expect(events.filter((e) => e.type === 'GroupTaskAdmitted')).toHaveLength(JOBS.length);
    expect(events.filter((e) => e.type === 'GroupTaskReleased')).toHaveLength(JOBS.length);
  }, 90_000);
});

describe('kill -9 after a task had acted in its turn', () => {
  const riskyDir = mkdtempSync(join(tmpdir(), 'kinbot-task-crash-acted-'));
  let fake: FakeLlm | null = null;
  afterAll(async () => {
    await fake?.close();
    rmSync(riskyDir, { recursive: true, force: true });
  });

  it('does not run the cut turn again: the task fails with the reason, and its report was delivered once', async () => {
    fake = await startFakeLlm({ tokenDelayMs: 25 });
    fake.setDefault((request) => {
      const last = request.messages.at(-1)!;
      if (isTaskTurn(request)) {
        // First the task acts (a report to its parent), then it streams a long answer: the kill lands there.
        if (last.role === 'tool') return { text: `Reported. ${'more '.repeat(80)}` };
        return { toolCalls: [{ name: 'report_to_parent', args: { message: 'first half done' } }] };
      }
      if (last.role === 'tool') return { text: 'ok' };
      if (contentText(last.content).includes('risky')) {
        return { toolCalls: [{ name: 'spawn_self', args: { title: 'Risky', task_description: 'Job #1: act, then talk', mode: 'async' } }] };
      }
      return { text: 'noted' };
    });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await launchServer(riskyDir, port);
    children.push(first);
    const { cookie } = await signUp(url);
    const { key } = await apiKeyClient(url, cookie);
    const api = client(url, { 'x-api-key': key });
    await api.post('/api/providers', { name: 'Fake', type: 'openai-compatible', config: { baseUrl: fake.baseUrl } });
    const boss = (await api.post('/api/kins', kinInput({ name: 'Boss', model: 'fake-chat' }))).body.kin;
    await api.post(`/api/kins/${boss.id}/messages`, { content: 'do the risky thing' });
    const talking = () => fake!.chatRequests().some((r) => isTaskTurn(r) && r.messages.at(-1)!.role === 'tool');
    for (let i = 0; i < 400 && !talking(); i++) await sleep(10);
    await sleep(150);
    const [running] = (await api.get(`/api/tasks?kinId=${boss.id}`)).body.tasks as Task[];
    expect(running!.status).toBe('in_progress');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const asked = fake.chatRequests().filter(isTaskTurn).length;

    const second = await launchServer(riskyDir, port);
    children.push(second);
    const after = client(url, { 'x-api-key': key });
    let detail = (await after.get(`/api/tasks/${running!.id}`)).body;
    for (let i = 0; i < 300 && detail.task.status !== 'failed'; i++) {
      await sleep(20);
      detail = (await after.get(`/api/tasks/${running!.id}`)).body;
    }
    expect(detail.task.status).toBe('failed');
    expect(detail.task.error).toMatch(/^Interrupted by a server restart after it had already acted/);
    // The cut turn is closed with that notice, and the model was not asked again.
    expect(detail.messages.map((m: { role: string; sourceType: string }) => `${m.role}/${m.sourceType}`)).toEqual(['user/system', 'assistant/system']);
    expect(fake.chatRequests().filter(isTaskTurn)).toHaveLength(asked);
    let history: { content: string }[] = [];
    for (let i = 0; i < 200 && !history.some((m) => m.content.startsWith('[Task failed:')); i++) {
      await sleep(20);
      history = (await after.get(`/api/kins/${boss.id}/messages`)).body.messages;
    }
    expect(history.filter((m) => m.content === '[Task report: Risky] first half done')).toHaveLength(1);
    expect(history.filter((m) => m.content.startsWith('[Task failed: Risky] Error: Interrupted by a server restart'))).toHaveLength(1);
    second.kill('SIGTERM');
    await new Promise((resolve) => second.once('exit', resolve));
  }, 60_000);
});
