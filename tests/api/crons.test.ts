import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fireScheduledCron } from '../../src/commands/crons.js';
import type { CommandMetadata } from '../../src/es/decider.js';
import { nativeTools, type ToolContext } from '../../src/agents/tools.js';
import { serverTimezone } from '../../src/lib/cronSchedule.js';
import { contentText, startFakeLlm, type ChatRequest, type FakeLlm } from '../fakes/fakeLlm.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer, until, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A task's turn (told apart by its system prompt) completes the task at once; anything else says ok.
// A task whose description says HOLD waits for a human instead, and so stays active.
const isTaskTurn = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')?.content).includes('## Your task');
const firstUser = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'user')?.content);
function route(request: ChatRequest) {
  if (!isTaskTurn(request) || request.messages.at(-1)!.role === 'tool') return { text: 'ok' };
  if (firstUser(request).includes('HOLD')) return { toolCalls: [{ name: 'prompt_human', args: { promptType: 'confirm', question: 'Go on?' } }] };
  return { toolCalls: [{ name: 'update_task_status', args: { status: 'completed', result: 'done' } }] };
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
  await server?.cleanup();
  await llm?.close();
});

const newKin = async (name: string) => (await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string; name: string };
const cronInput = (kinId: string, overrides: Record<string, unknown> = {}) => ({
  kinId,
  name: 'Daily digest',
  schedule: '0 9 * * *',
  taskDescription: 'Summarise the news',
  ...overrides,
});
type Task = { id: string; cronId: string | null; concurrencyGroup: string | null; concurrencyMax: number | null; title: string; status: string };
const tasksOf = async (cronId: string) => (await api.get(`/api/tasks?cronId=${cronId}&limit=100`)).body.tasks as Task[];

/** The slots claimed for a cron, from the event log (scheduled runs only), oldest first. */
async function claimedSlots(target: TestServer, cronId: string): Promise<number[]> {
  const events = await target.services.eventStore.readAll({ limit: 1_000_000 });
  return events
    .filter((event) => event.type === 'CronRunClaimed')
    .map((event) => event.data as { cronId: string; slot: string | null })
    .filter((data) => data.cronId === cronId && data.slot !== null)
    .map((data) => Date.parse(data.slot!));
}

/** The same, read from a stopped server's database file. */
function slotsOnDisk(dataDir: string, cronId: string): number[] {
  const db = new Database(join(dataDir, 'kinbot.db'), { readonly: true });
  try {
    const rows = db.prepare(`SELECT data FROM events WHERE type = 'CronRunClaimed'`).all() as { data: string }[];
    return rows
      .map((row) => JSON.parse(row.data) as { cronId: string; slot: string | null })
      .filter((data) => data.cronId === cronId && data.slot !== null)
      .map((data) => Date.parse(data.slot!));
  } finally {
    db.close();
  }
}

/** The agenda jobs of a cron in <dataDir>/jobs.db. */
function agendaJobs(dataDir: string, cronId: string) {
  const db = new Database(join(dataDir, 'jobs.db'), { readonly: true });
  try {
    return db
      .prepare(`SELECT repeat_interval, repeat_timezone, next_run_at, locked_at FROM agenda_jobs WHERE json_extract(data, '$.cronId') = ?`)
      .all(cronId) as { repeat_interval: string | null; repeat_timezone: string | null; next_run_at: number | null; locked_at: number | null }[];
  } finally {
    db.close();
  }
}

/** Runs a native tool as the given Kin, as its turn would. */
async function asKin(kinId: string, toolName: string, input: unknown) {
  const tool = nativeTools.find((candidate) => candidate.name === toolName)!;
  const metadata: CommandMetadata = { actor: { kind: 'kin', id: kinId }, correlationId: `test-${toolName}`, now: new Date() };
  const context: ToolContext = { kinId, readStore: server.services.readStore, services: server.services, metadata };
  return (await tool.execute(tool.input.parse(input) as never, context)) as Record<string, any>;
}

describe('the cron routes', () => {
  it('need a session or an API key', async () => {
    const anonymous = client(server.url);
    expect((await anonymous.get('/api/crons')).status).toBe(401);
    expect((await anonymous.post('/api/crons', {})).status).toBe(401);
    expect((await anonymous.post('/api/crons/x/approve')).status).toBe(401);
  });

  it('create, list, update and delete a cron (epoch-ms timestamps, owner and target resolved)', async () => {
    const owner = await newKin('Owner');
    const helper = await newKin('Helper');
    const created = await api.post('/api/crons', cronInput(owner.slug, { targetKinId: helper.id, model: 'fake-chat' }));
    expect(created.status).toBe(201);
    const cron = created.body.cron;
    expect(cron).toMatchObject({
      kinId: owner.id,
      kinName: 'Owner',
      kinAvatarUrl: null,
      name: 'Daily digest',
      schedule: '0 9 * * *',
      timezone: serverTimezone(),
      taskDescription: 'Summarise the news',
      targetKinId: helper.id,
      targetKinName: 'Helper',
      model: 'fake-chat',
      runOnce: false,
      isActive: true,
      requiresApproval: false,
      lastTriggeredAt: null,
      createdBy: 'user',
    });
    expect(typeof cron.createdAt).toBe('number');
    // Scheduled at once: one job, next 09:00 in the server's zone.
    const [job] = await until(async () => agendaJobs(server.dataDir, cron.id), (jobs) => jobs.length === 1);
    expect(job).toMatchObject({ repeat_interval: JSON.stringify('0 9 * * *'), repeat_timezone: serverTimezone() });

    const listed = await api.get(`/api/crons?kinId=${owner.id}`);
    expect(listed.body.crons.map((c: { id: string }) => c.id)).toEqual([cron.id]);
    expect((await api.get(`/api/crons?kinId=${helper.id}`)).body.crons).toEqual([]);
    expect((await api.get('/api/crons')).body.crons.some((c: { id: string }) => c.id === cron.id)).toBe(true);

    const patched = await api.patch(`/api/crons/${cron.id}`, { name: 'Weekly digest', schedule: '30 8 * * 1', timezone: 'asia/tokyo', targetKinId: null, createdBy: 'kin', kinId: helper.id });
    expect(patched.status).toBe(200);
    expect(patched.body.cron).toMatchObject({ name: 'Weekly digest', schedule: '30 8 * * 1', timezone: 'Asia/Tokyo', targetKinId: null, targetKinName: null, createdBy: 'user', kinId: owner.id });
    // Re-scheduled with the new expression and zone.
    await until(async () => agendaJobs(server.dataDir, cron.id), (jobs) => jobs[0]?.repeat_interval === JSON.stringify('30 8 * * 1'));
    expect(agendaJobs(server.dataDir, cron.id)).toMatchObject([{ repeat_interval: JSON.stringify('30 8 * * 1'), repeat_timezone: 'Asia/Tokyo' }]);

    // Switched off: no job; back on: scheduled again.
    expect((await api.patch(`/api/crons/${cron.id}`, { isActive: false })).body.cron.isActive).toBe(false);
    expect(await until(async () => agendaJobs(server.dataDir, cron.id), (jobs) => jobs.length === 0)).toEqual([]);
    expect((await api.patch(`/api/crons/${cron.id}`, { isActive: true })).body.cron.isActive).toBe(true);
    expect(await until(async () => agendaJobs(server.dataDir, cron.id), (jobs) => jobs.length === 1)).toHaveLength(1);

    expect((await api.delete(`/api/crons/${cron.id}`)).body).toEqual({ success: true });
    expect(await until(async () => agendaJobs(server.dataDir, cron.id), (jobs) => jobs.length === 0)).toEqual([]);
    expect((await api.get(`/api/crons?kinId=${owner.id}`)).body.crons).toEqual([]);
  });

  it('answer 404 NOT_FOUND for a cron that does not exist (or no longer does)', async () => {
    const owner = await newKin('Gone');
    const { id } = (await api.post('/api/crons', cronInput(owner.id))).body.cron;
    await api.delete(`/api/crons/${id}`);
    for (const response of [
      await api.patch(`/api/crons/${id}`, { name: 'x' }),
      await api.delete(`/api/crons/${id}`),
      await api.post(`/api/crons/${id}/trigger`),
      await api.post(`/api/crons/${id}/approve`),
      await api.patch('/api/crons/unknown', { name: 'x' }),
    ]) {
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: 'NOT_FOUND', message: 'Cron not found' });
    }
  });

  it('refuse bad input with the spec codes and messages', async () => {
    const owner = await newKin('Strict');
    const required = { code: 'VALIDATION_ERROR', message: 'kinId, name, schedule, and taskDescription are required' };
    for (const body of [{}, { ...cronInput(owner.id), name: '' }, { ...cronInput(owner.id), schedule: undefined }, { ...cronInput(owner.id), taskDescription: '  ' }]) {
      const response = await api.post('/api/crons', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject(required);
    }
    const bad = async (body: Record<string, unknown>) => (await api.post('/api/crons', cronInput(owner.id, body))).body.error;
    expect(await bad({ schedule: 'every day' })).toMatchObject({ code: 'CRON_CREATE_ERROR', message: expect.stringMatching(/^Invalid schedule: "every day" — Expected 5 fields/) });
    expect(await bad({ schedule: '61 * * * *' })).toMatchObject({ code: 'CRON_CREATE_ERROR', message: expect.stringMatching(/^Invalid schedule: "61 \* \* \* \*" — /) });
    expect(await bad({ schedule: '2020-01-01T00:00:00Z' })).toEqual({ code: 'CRON_CREATE_ERROR', message: 'Invalid schedule: "2020-01-01T00:00:00Z" — Datetime must be in the future' });
    expect(await bad({ timezone: 'Mars/Olympus_Mons' })).toMatchObject({ code: 'CRON_CREATE_ERROR', message: expect.stringMatching(/^Invalid timezone: "Mars\/Olympus_Mons"/) });
    expect(await bad({ kinId: 'no-such-kin' })).toEqual({ code: 'CRON_CREATE_ERROR', message: 'Kin not found' });
    expect(await bad({ targetKinId: 'no-such-kin' })).toEqual({ code: 'CRON_CREATE_ERROR', message: 'Target Kin not found' });
    expect(await bad({ runOnce: 'yes' })).toMatchObject({ code: 'VALIDATION_ERROR' });

    // Nicknames, six fields, a future datetime in a zone: accepted.
    for (const schedule of ['@hourly', '*/10 * * * * *', '2099-12-31T23:59']) {
      const response = await api.post('/api/crons', cronInput(owner.id, { schedule, timezone: 'Europe/Paris' }));
      expect(response.status).toBe(201);
    }

    const { id } = (await api.post('/api/crons', cronInput(owner.id))).body.cron;
    const patch = async (body: Record<string, unknown>) => (await api.patch(`/api/crons/${id}`, body)).body.error;
    expect(await patch({ schedule: '* * *' })).toMatchObject({ code: 'CRON_UPDATE_ERROR', message: expect.stringMatching(/^Invalid schedule: "\* \* \*" — /) });
    expect(await patch({ timezone: 'Nowhere/Land' })).toMatchObject({ code: 'CRON_UPDATE_ERROR', message: expect.stringMatching(/^Invalid timezone/) });
    expect(await patch({ schedule: '2001-01-01' })).toMatchObject({ code: 'CRON_UPDATE_ERROR', message: 'Invalid schedule: "2001-01-01" — Datetime must be in the future' });
    expect(await patch({ targetKinId: 'nobody' })).toEqual({ code: 'CRON_UPDATE_ERROR', message: 'Target Kin not found' });
    expect(await patch({ isActive: 'no' })).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect((await api.request('POST', '/api/crons', '{not json')).status).toBe(400);
  });
});

describe('a cron created by a Kin', () => {
  it('waits for approval: notification, no firing, no trigger; once approved it is active and fires', async () => {
    const kin = await newKin('Planner');
    const sse = await openSse(server.url, { cookie });
    const made = await asKin(kin.id, 'create_cron', { name: 'Heartbeat', schedule: '* * * * * *', task_description: 'Check in' });
    expect(made.cron).toMatchObject({ name: 'Heartbeat', status: 'pending_approval', requiresApproval: true, isActive: false, createdBy: 'kin' });
    const cronId = made.cron.id as string;

    const [summary] = (await api.get(`/api/crons?kinId=${kin.id}`)).body.crons;
    expect(summary).toMatchObject({ id: cronId, isActive: false, requiresApproval: true, createdBy: 'kin' });
    const notifications = (await api.get('/api/notifications')).body.notifications as Record<string, unknown>[];
    expect(notifications.find((n) => n.relatedId === cronId)).toMatchObject({
      type: 'cron:pending-approval',
      title: 'Cron needs approval',
      body: 'Heartbeat',
      kinId: kin.id,
      relatedType: 'cron',
    });

    const refused = await api.post(`/api/crons/${cronId}/trigger`);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toEqual({ code: 'CRON_TRIGGER_ERROR', message: 'Cron is pending approval and cannot be triggered' });
    await sleep(2200);
    expect(await tasksOf(cronId)).toEqual([]);
    expect(agendaJobs(server.dataDir, cronId)).toEqual([]);

    const approved = await api.post(`/api/crons/${cronId}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body.cron).toMatchObject({ id: cronId, isActive: true, requiresApproval: false });
    const again = await api.post(`/api/crons/${cronId}/approve`);
    expect(again.status).toBe(409);
    expect(again.body.error).toEqual({ code: 'ALREADY_APPROVED', message: 'This cron does not require approval' });

    const tasks = await until(() => tasksOf(cronId), (t) => t.length >= 1);
    expect(tasks[0]).toMatchObject({ cronId, title: 'Heartbeat', concurrencyGroup: `cron:${cronId}`, concurrencyMax: 5 });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'cron:triggered' && m.data.cronId === cronId));
    const mine = sse.messages().filter((m) => m.data?.cronId === cronId);
    expect(mine[0]).toEqual({ type: 'cron:created', kinId: kin.id, data: { cronId, kinId: kin.id } });
    expect(mine.find((m) => m.type === 'cron:triggered')!.data).toEqual({ cronId, kinId: kin.id, taskId: expect.any(String) });
    const types = mine.map((m) => m.type);
    expect(types.slice(0, 2)).toEqual(['cron:created', 'cron:updated']);
    expect(types).toContain('cron:triggered');

    // A Kin's change to what runs sends it back for approval; renaming does not.
    const renamed = await asKin(kin.id, 'update_cron', { cron_id: cronId, name: 'Pulse' });
    expect(renamed.cron).toMatchObject({ name: 'Pulse', status: 'active' });
    const edited = await asKin(kin.id, 'update_cron', { cron_id: cronId, task_description: 'Do something else' });
    expect(edited.cron).toMatchObject({ status: 'pending_approval', isActive: false, requiresApproval: true });
    expect(await until(async () => agendaJobs(server.dataDir, cronId), (jobs) => jobs.length === 0)).toEqual([]);
    // Another Kin cannot touch it; its owner can list and delete it.
    const stranger = await newKin('Stranger');
    expect(await asKin(stranger.id, 'delete_cron', { cron_id: cronId })).toEqual({ error: 'Cron not found' });
    expect((await asKin(kin.id, 'list_crons', {})).crons.map((c: { id: string }) => c.id)).toEqual([cronId]);
    expect(await asKin(kin.id, 'delete_cron', { cron_id: cronId })).toEqual({ success: true });
    await sse.close();
  });
});

describe('firing', () => {
  it('a manual trigger spawns a task outside the group, even for an inactive cron, and sets lastTriggeredAt', async () => {
    const kin = await newKin('Trigger');
    const { id } = (await api.post('/api/crons', cronInput(kin.id, { model: 'fake-chat' }))).body.cron;
    await api.patch(`/api/crons/${id}`, { isActive: false });
    const triggered = await api.post(`/api/crons/${id}/trigger`);
    expect(triggered.status).toBe(200);
    const { taskId } = triggered.body;
    const task = (await api.get(`/api/tasks/${taskId}`)).body.task;
    expect(task).toMatchObject({ title: 'Daily digest', description: 'Summarise the news', concurrencyGroup: null, concurrencyMax: null, mode: 'async' });
    expect((await tasksOf(id)).map((t) => t.id)).toEqual([taskId]);
    const [cron] = (await api.get(`/api/crons?kinId=${kin.id}`)).body.crons;
    expect(cron.lastTriggeredAt).toBeGreaterThan(Date.now() - 60_000);
    // Deleting the cron keeps its runs, no longer tied to it.
    await api.delete(`/api/crons/${id}`);
    expect((await tasksOf(id))).toEqual([]);
    expect((await api.get(`/api/tasks/${taskId}`)).body.task.title).toBe('Daily digest');
  });

  it('scheduled firings share the cron group: at most 5 tasks run, later ones are queued', async () => {
    const kin = await newKin('Busy');
    const { id } = (await api.post('/api/crons', cronInput(kin.id, { name: 'Busy tick', schedule: '* * * * * *', taskDescription: 'HOLD until told' }))).body.cron;
    const tasks = await until(() => tasksOf(id), (t) => t.length >= 7 && t.filter((x) => x.status === 'awaiting_human_input').length === 5, 20_000);
    await api.delete(`/api/crons/${id}`);
    const statuses = tasks.map((t) => t.status);
    expect(statuses.filter((status) => status === 'awaiting_human_input')).toHaveLength(5);
    expect(statuses.filter((status) => status === 'queued').length).toBe(tasks.length - 5);
    expect(tasks.every((t) => t.concurrencyGroup === `cron:${id}` && t.concurrencyMax === 5)).toBe(true);
  });

  it('a run-once cron fires once and switches itself off', async () => {
    const kin = await newKin('Once');
    const { id } = (await api.post('/api/crons', cronInput(kin.id, { name: 'One shot', schedule: '* * * * * *', runOnce: true }))).body.cron;
    const [cron] = await until(async () => (await api.get(`/api/crons?kinId=${kin.id}`)).body.crons, (crons) => crons[0]?.isActive === false);
    expect(cron).toMatchObject({ id, isActive: false, runOnce: true });
    await sleep(1500);
    expect(await tasksOf(id)).toHaveLength(1);
    expect(await claimedSlots(server, id)).toHaveLength(1);
  });

  it('refuses to run one slot twice (the claim is an event; a second claim is refused)', async () => {
    const kin = await newKin('Twice');
    const { id } = (await api.post('/api/crons', cronInput(kin.id, { schedule: '0 3 * * *' }))).body.cron;
    const deps = { ...server.services, spawn: server.services.crons.spawn };
    const metadata = (): CommandMetadata => ({ actor: { kind: 'system', id: 'test' }, correlationId: 'test-twice', now: new Date() });
    // Two workers (or a restart) starting the 03:00 run at slightly different moments.
    const first = await fireScheduledCron(deps, id, new Date(), metadata());
    const second = await fireScheduledCron(deps, id, new Date(Date.now() + 5000), metadata());
    expect(first.outcome).toBe('fired');
    expect(second).toMatchObject({ outcome: 'duplicate' });
    expect(await tasksOf(id)).toHaveLength(1);
    expect(await claimedSlots(server, id)).toHaveLength(1);
  });

  it('a Kin deletion deletes its crons and clears it as a target', async () => {
    const owner = await newKin('Leaving');
    const other = await newKin('Staying');
    const owned = (await api.post('/api/crons', cronInput(owner.id))).body.cron;
    const targeting = (await api.post('/api/crons', cronInput(other.id, { targetKinId: owner.id }))).body.cron;
    expect((await api.delete(`/api/kins/${owner.id}`)).status).toBe(200);
    const crons = await until(async () => (await api.get('/api/crons')).body.crons as { id: string; targetKinId: string | null }[], (list) => !list.some((c) => c.id === owned.id) && list.find((c) => c.id === targeting.id)?.targetKinId === null);
    expect(crons.some((c) => c.id === owned.id)).toBe(false);
    expect(crons.find((c) => c.id === targeting.id)?.targetKinId).toBeNull();
    expect(await until(async () => agendaJobs(server.dataDir, owned.id), (jobs) => jobs.length === 0)).toEqual([]);
  });
});

describe('a cron every second on the embedded backend', () => {
  it('fires and creates tasks in its group, and keeps its schedule across a restart without running a slot twice', async () => {
    const kin = await newKin('Ticker');
    const { id } = (await api.post('/api/crons', cronInput(kin.id, { name: 'Tick', schedule: '* * * * * *' }))).body.cron;
    const before = await until(() => claimedSlots(server, id), (slots) => slots.length >= 3);
    expect(before.length).toBeGreaterThanOrEqual(3);
    const tasks = await until(() => tasksOf(id), (t) => t.length >= 3);
    expect(tasks.every((t) => t.cronId === id && t.concurrencyGroup === `cron:${id}` && t.concurrencyMax === 5)).toBe(true);

    await server.stop();
    const lastBefore = Math.max(...slotsOnDisk(server.dataDir, id));
    // Down for a few slots.
    await sleep(2500);
    const restartedAt = Date.now();
    server = await startTestServer(server.dataDir);
    // Sessions live in the database: the same cookie works on the new server.
    api = client(server.url, { cookie });
    const after = await until(
      async () => (await claimedSlots(server, id)).filter((slot) => slot > lastBefore),
      (slots) => slots.length >= 3,
    );
    const all = await claimedSlots(server, id);
    // No slot ran twice, the missed ones were not run one by one, and the schedule goes on.
    expect(new Set(all).size).toBe(all.length);
    expect(after.filter((slot) => slot < restartedAt - 1000)).toEqual([]);
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(agendaJobs(server.dataDir, id)).toHaveLength(1);
    const tasksAfter = await until(() => tasksOf(id), (t) => t.length >= all.length);
    expect(tasksAfter.length).toBeGreaterThanOrEqual(before.length + 3);
  });

  it('runs once at start-up for slots missed while the server was down, not once per slot', async () => {
    const kin = await newKin('Sleeper');
    const { id } = (await api.post('/api/crons', cronInput(kin.id, { name: 'Minutely', schedule: '* * * * *' }))).body.cron;
    await until(async () => agendaJobs(server.dataDir, id), (jobs) => jobs.length === 1);
    await server.stop();
    // As if the server had been down for an hour: its job was due 60 slots ago.
    const db = new Database(join(server.dataDir, 'jobs.db'));
    db.prepare(`UPDATE agenda_jobs SET next_run_at = ? WHERE json_extract(data, '$.cronId') = ?`).run(Date.now() - 3600_000, id);
    db.close();
    const restartedAt = Date.now();
    server = await startTestServer(server.dataDir);
    api = client(server.url, { cookie });
    // Only slots up to the restart were missed; a later minute may legitimately fire meanwhile.
    const missed = async () => (await claimedSlots(server, id)).filter((slot) => slot <= restartedAt);
    const slots = await until(missed, (s) => s.length >= 1);
    await sleep(1500);
    expect(await missed()).toEqual(slots);
    expect(slots).toHaveLength(1);
    // The run belongs to the latest missed minute; the next one is in the future.
    expect(slots[0]! % 60_000).toBe(0);
    expect(slots[0]!).toBeGreaterThan(Date.now() - 61_000);
    const [job] = agendaJobs(server.dataDir, id);
    expect(job!.next_run_at!).toBeGreaterThan(Date.now());
  });
});

describe('the active cron limit', () => {
  it('refuses a cron past CRONS_MAX_ACTIVE with CRON_CREATE_ERROR, and switching one back on past it', async () => {
    const limited = await startTestServer(undefined, { CRONS_MAX_ACTIVE: '2' });
    try {
      const { api: admin } = await signUp(limited.url);
      const kin = (await admin.post('/api/kins', kinInput({ name: 'Limited' }))).body.kin as { id: string };
      const first = (await admin.post('/api/crons', cronInput(kin.id))).body.cron;
      expect((await admin.post('/api/crons', cronInput(kin.id))).status).toBe(201);
      const third = await admin.post('/api/crons', cronInput(kin.id));
      expect(third.status).toBe(400);
      expect(third.body.error).toEqual({ code: 'CRON_CREATE_ERROR', message: 'Max active crons (2) reached' });
      await admin.patch(`/api/crons/${first.id}`, { isActive: false });
      expect((await admin.post('/api/crons', cronInput(kin.id))).status).toBe(201);
      const back = await admin.patch(`/api/crons/${first.id}`, { isActive: true });
      expect(back.status).toBe(400);
      expect(back.body.error).toEqual({ code: 'CRON_UPDATE_ERROR', message: 'Max active crons (2) reached' });
    } finally {
      await limited.cleanup();
    }
  });
});
