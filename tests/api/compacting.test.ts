import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentText, lastUserText, startFakeLlm, type ChatRequest, type FakeLlm } from '../fakes/fakeLlm.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

/**
 * Compacting through HTTP with the fake model as an openai-compatible provider. The constants are
 * the spec's (batch 20, keep 15, trigger > 35 messages): the fake answers at once, so the tests
 * simply run enough turns.
 */

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

type Message = { id: string; role: string; content: string; sourceType: string };

const SUMMARY_REQUEST = 'You maintain the running summary';
const EXTRACTION_REQUEST = 'You keep the long-term memory';
const isSummaryRequest = (request: ChatRequest) => contentText(request.messages[0]?.content).startsWith(SUMMARY_REQUEST);
/** Memory extraction after each snapshot (messages.md §7 step 5); the default answer extracts nothing. */
const isExtractionRequest = (request: ChatRequest) => contentText(request.messages[0]?.content).startsWith(EXTRACTION_REQUEST);
const kindOf = (request: ChatRequest) => (isSummaryRequest(request) ? 'summary' : isExtractionRequest(request) ? 'extraction' : 'turn');
const systemOf = (request: ChatRequest) => contentText(request.messages.find((m) => m.role === 'system')?.content);
const summaryRequests = () => llm.chatRequests().filter(isSummaryRequest);
const turnRequests = () => llm.chatRequests().filter((r) => kindOf(r) === 'turn');
const tokens = (text: string) => Math.ceil(text.length / 4);

/** The summaries the fake model writes, in order; then `Summary N`. */
let summaries: string[] = [];
let written = 0;

beforeAll(async () => {
  llm = await startFakeLlm({ apiKey: 'sk-fake' });
  llm.setDefault((request) => (isSummaryRequest(request) ? { text: summaries.shift() ?? `Summary ${++written}` } : { text: `Reply to ${lastUserText(request)}` }));
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl, 'sk-fake');
  expect(provider.status).toBe(201);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function historyOf(kinId: string): Promise<Message[]> {
  return (await api.get(`/api/kins/${kinId}/messages?limit=100`)).body.messages;
}

/** Sends the messages at once and waits until they are all answered. */
async function converse(kinId: string, texts: string[]): Promise<Message[]> {
  const before = (await historyOf(kinId)).length;
  for (const content of texts) expect((await api.post(`/api/kins/${kinId}/messages`, { content })).status).toBe(202);
  for (let i = 0; i < 1000; i++) {
    const history = await historyOf(kinId);
    const queue = (await api.get(`/api/kins/${kinId}/messages/queue`)).body.items;
    if (history.length >= before + 2 * texts.length && queue.length === 0) return history;
    await sleep(20);
  }
  throw new Error('the Kin did not answer in time');
}

const turns = (from: number, count: number) => Array.from({ length: count }, (_, i) => `turn ${String(from + i).padStart(2, '0')}`);

/** What the model should receive for these stored messages. */
const asModelSees = (messages: Message[]) => messages.map((m) => (m.role === 'user' ? `[Ada Lovelace] ${m.content}` : m.content));
const historySent = (request: ChatRequest) => request.messages.filter((m) => m.role !== 'system').map((m) => contentText(m.content));

async function until(predicate: () => boolean | Promise<boolean>, ms = 15_000) {
  for (const started = Date.now(); Date.now() - started < ms; await sleep(20)) if (await predicate()) return;
  throw new Error('condition not met in time');
}

describe('compacting a conversation', () => {
  it('summarizes, rolls back to the first snapshot and purges, and the model sees each state', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Chatty', model: 'fake-chat' }))).body.kin;
    const sse = await openSse(server.url, { cookie });

    // Five turns: ten messages, not more than the fifteen that are always kept.
    await converse(kin.id, turns(1, 5));
    const tooFew = await api.post(`/api/kins/${kin.id}/compacting/run`);
    expect(tooFew.status).toBe(422);
    expect(tooFew.body.error).toEqual({ code: 'NOTHING_TO_COMPACT', message: 'Not enough messages to compact' });
    expect((await api.get(`/api/kins/${kin.id}/context-usage`)).body).toMatchObject({ compactingMessages: 10, compactingMessageThreshold: 35 });

    // Eighteen messages: the three oldest are summarized, fifteen stay raw.
    let history = await converse(kin.id, turns(6, 4));
    expect(history).toHaveLength(18);
    summaries = ['FIRST SUMMARY of turns 01 and 02'];
    const first = await api.post(`/api/kins/${kin.id}/compacting/run`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ success: true, summary: 'FIRST SUMMARY of turns 01 and 02', memoriesExtracted: 0 });
    const firstPrompt = contentText(summaryRequests().at(-1)!.messages.at(-1)!.content);
    expect(firstPrompt).toContain('## Previous summary\n(none)');
    expect(firstPrompt).toMatch(/\] Ada Lovelace: turn 01\n.*\] Chatty: Reply to \[Ada Lovelace\] turn 01\n.*\] Ada Lovelace: turn 02$/);
    const s1 = (await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots;
    expect(s1).toEqual([{ id: expect.any(String), messagesUpToId: history[2]!.id, isActive: true, createdAt: expect.any(String) }]);
    expect(new Date(s1[0].createdAt).toISOString()).toBe(s1[0].createdAt);
    expect((await api.get(`/api/kins/${kin.id}/context-usage`)).body).toMatchObject({ compactingMessages: 15 });

    // The next turns get the summary and the messages after its boundary (the kept ones included).
    history = await converse(kin.id, turns(10, 4));
    const afterFirst = turnRequests().at(-4)!;
    expect(systemOf(afterFirst)).toContain('## Summary of the earlier conversation\nFIRST SUMMARY of turns 01 and 02');
    expect(historySent(afterFirst)).toEqual([...asModelSees(history.slice(3, 18)), '[Ada Lovelace] turn 10']);

    // 26 messages, 23 after the boundary: the eight oldest of those are summarized next.
    summaries = ['SECOND SUMMARY up to turn 06'];
    const second = await api.post(`/api/kins/${kin.id}/compacting/run`);
    expect(second.body.summary).toBe('SECOND SUMMARY up to turn 06');
    expect(contentText(summaryRequests().at(-1)!.messages.at(-1)!.content)).toContain('## Previous summary\nFIRST SUMMARY of turns 01 and 02');
    const both = (await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots;
    expect(both.map((s: { messagesUpToId: string; isActive: boolean }) => [s.messagesUpToId, s.isActive])).toEqual([
      [history[10]!.id, true],
      [history[2]!.id, false],
    ]);
    expect((await api.get(`/api/kins/${kin.id}/context-usage`)).body.compactingMessages).toBe(15);
    history = await converse(kin.id, turns(14, 1));
    const afterSecond = turnRequests().at(-1)!;
    expect(systemOf(afterSecond)).toContain('SECOND SUMMARY up to turn 06');
    expect(historySent(afterSecond)).toEqual([...asModelSees(history.slice(11, 26)), '[Ada Lovelace] turn 14']);
    // Cached from that turn: the second summary.
    expect((await api.get(`/api/kins/${kin.id}/context-usage`)).body.contextBreakdown.summary).toBe(tokens('SECOND SUMMARY up to turn 06'));

    // Roll back to the first snapshot: its summary and boundary apply again.
    const rolledBack = await api.post(`/api/kins/${kin.id}/compacting/rollback`, { snapshotId: s1[0].id });
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body).toEqual({ success: true });
    const afterRollback = (await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots;
    expect(afterRollback.map((s: { id: string; isActive: boolean }) => [s.id, s.isActive])).toEqual([
      [both[0].id, false],
      [s1[0].id, true],
    ]);
    const usage = (await api.get(`/api/kins/${kin.id}/context-usage`)).body;
    const rawAfterFirst = history.slice(3);
    const summaryTokens = tokens('FIRST SUMMARY of turns 01 and 02');
    expect(usage.compactingMessages).toBe(25);
    expect(usage.contextBreakdown.summary).toBe(summaryTokens);
    expect(usage.contextBreakdown.messages).toBe(rawAfterFirst.reduce((sum, m) => sum + tokens(m.content), 0));
    const identity = tokens(['Chatty', 'Finds things', '', ''].join(' '));
    expect(usage.contextBreakdown.systemPrompt).toBe(identity + 1500 + summaryTokens);
    expect(usage.contextTokens).toBe(usage.contextBreakdown.systemPrompt + usage.contextBreakdown.messages);

    history = await converse(kin.id, turns(15, 1));
    const afterRollbackTurn = turnRequests().at(-1)!;
    expect(systemOf(afterRollbackTurn)).toContain('FIRST SUMMARY of turns 01 and 02');
    expect(systemOf(afterRollbackTurn)).not.toContain('SECOND SUMMARY');
    expect(historySent(afterRollbackTurn)).toEqual([...asModelSees(rawAfterFirst), '[Ada Lovelace] turn 15']);
    // The numbers of that turn are now the cached ones, and they count the first summary.
    const cached = (await api.get(`/api/kins/${kin.id}/context-usage`)).body;
    expect(cached.contextBreakdown.summary).toBe(summaryTokens);
    expect(cached.contextBreakdown.tools).toBeGreaterThan(0);
    expect(cached.compactingMessages).toBe(27);

    // Rolling back to the active snapshot, or to one that does not exist, is refused.
    const again = await api.post(`/api/kins/${kin.id}/compacting/rollback`, { snapshotId: s1[0].id });
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('ALREADY_ACTIVE');
    const unknown = await api.post(`/api/kins/${kin.id}/compacting/rollback`, { snapshotId: '01936d3c-0000-7000-8000-000000000000' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('SNAPSHOT_NOT_FOUND');

    // Purge: no summary, every message is raw context again.
    expect((await api.post(`/api/kins/${kin.id}/compacting/purge`)).body).toEqual({ success: true });
    const purgedUsage = (await api.get(`/api/kins/${kin.id}/context-usage`)).body;
    expect(purgedUsage.contextBreakdown.summary).toBe(0);
    expect(purgedUsage.compactingMessages).toBe(history.length);
    const afterPurge = (await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots;
    expect(afterPurge).toHaveLength(2);
    expect(afterPurge.every((s: { isActive: boolean }) => !s.isActive)).toBe(true);
    expect((await api.post(`/api/kins/${kin.id}/compacting/purge`)).body).toEqual({ success: true });
    const all = await converse(kin.id, turns(16, 1));
    const afterPurgeTurn = turnRequests().at(-1)!;
    expect(systemOf(afterPurgeTurn)).not.toContain('Summary of the earlier conversation');
    expect(historySent(afterPurgeTurn)).toEqual(asModelSees(all.slice(0, -1)));

    // The messages themselves were never touched.
    expect(all.slice(0, history.length).map((m) => m.id)).toEqual(history.map((m) => m.id));

    await sse.close();
    const events = sse.messages().filter((m) => m.kinId === kin.id && m.type.startsWith('compacting:'));
    expect(events).toEqual([
      { type: 'compacting:start', kinId: kin.id, data: { kinId: kin.id } },
      { type: 'compacting:done', kinId: kin.id, data: { kinId: kin.id, summary: 'FIRST SUMMARY of turns 01 and 02', memoriesExtracted: 0 } },
      { type: 'compacting:start', kinId: kin.id, data: { kinId: kin.id } },
      { type: 'compacting:done', kinId: kin.id, data: { kinId: kin.id, summary: 'SECOND SUMMARY up to turn 06', memoriesExtracted: 0 } },
    ]);
  });

  it('answers 502 COMPACTING_FAILED with compacting:error when the model fails, and runs once it is back', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Shaky', model: 'fake-chat' }))).body.kin;
    await converse(kin.id, turns(1, 8));
    const sse = await openSse(server.url, { cookie });
    llm.failNext(500, { error: { message: 'upstream exploded' } });
    llm.failNext(500, { error: { message: 'upstream exploded' } });
    const failed = await api.post(`/api/kins/${kin.id}/compacting/run`);
    expect(failed.status).toBe(502);
    expect(failed.body.error.code).toBe('COMPACTING_FAILED');
    expect(failed.body.error.message).toContain('500');
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'compacting:error' && m.kinId === kin.id));
    await sse.close();
    const error = sse.messages().find((m) => m.type === 'compacting:error' && m.kinId === kin.id)!;
    expect(error.data).toMatchObject({ kinId: kin.id, error: expect.stringContaining('upstream exploded') });
    expect((await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots).toEqual([]);
    expect((await api.get(`/api/kins/${kin.id}`)).body.isCompacting).toBe(false);

    const ok = await api.post(`/api/kins/${kin.id}/compacting/run`);
    expect(ok.status).toBe(200);
    // The queue was paused only while compacting: the Kin still answers.
    await converse(kin.id, ['still there?']);
  });

  it('answers 404 for unknown Kins and snapshots of another Kin, 400 for a bad body, 401 without credentials', async () => {
    for (const [method, path] of [
      ['GET', 'snapshots'],
      ['POST', 'run'],
      ['POST', 'purge'],
      ['POST', 'rollback'],
    ] as const) {
      const unknown = await api.request(method, `/api/kins/nobody/compacting/${path}`, method === 'POST' ? { snapshotId: 'x' } : undefined);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('KIN_NOT_FOUND');
      const anonymous = await client(server.url).request(method, `/api/kins/nobody/compacting/${path}`, method === 'POST' ? {} : undefined);
      expect(anonymous.status).toBe(401);
    }
    const owner = (await api.post('/api/kins', kinInput({ name: 'Owner', model: 'fake-chat' }))).body.kin;
    await converse(owner.id, turns(1, 8));
    expect((await api.post(`/api/kins/${owner.id}/compacting/run`)).status).toBe(200);
    const snapshot = (await api.get(`/api/kins/${owner.id}/compacting/snapshots`)).body.snapshots[0];
    const other = (await api.post('/api/kins', kinInput({ name: 'Other', model: 'fake-chat' }))).body.kin;
    const foreign = await api.post(`/api/kins/${other.slug}/compacting/rollback`, { snapshotId: snapshot.id });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('SNAPSHOT_NOT_FOUND');
    const bad = await api.post(`/api/kins/${other.id}/compacting/rollback`, {});
    expect(bad.status).toBe(400);
    expect((await api.post(`/api/kins/${other.id}/compacting/purge`)).body).toEqual({ success: true });
    expect((await api.get(`/api/kins/${other.id}/compacting/snapshots`)).body).toEqual({ snapshots: [] });
  });
});

describe('automatic compaction', () => {
  it('compacts after the turn that brings the conversation beyond 35 messages', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Talkative', model: 'fake-chat' }))).body.kin;
    await converse(kin.id, turns(1, 17));
    expect(await snapshotsOf(kin.id)).toHaveLength(0);
    await converse(kin.id, turns(18, 1));
    await until(async () => (await snapshotsOf(kin.id)).length === 1);
    const usage = (await api.get(`/api/kins/${kin.id}/context-usage`)).body;
    expect(usage.compactingMessages).toBe(36 - 20);
  });

  it('compacts when the last turn filled more than the threshold setting, with the queue paused meanwhile', async () => {
    expect((await api.request('PUT', '/api/settings/compacting-threshold', { thresholdPercent: 50 })).status).toBe(200);
    try {
      // gpt-4 has an 8 192-token window: fifteen messages of ~350 tokens fill more than half of it.
      const kin = (await api.post('/api/kins', kinInput({ name: 'Verbose', model: 'gpt-4' }))).body.kin;
      const sse = await openSse(server.url, { cookie });
      const from = llm.chatRequests().length;
      await converse(kin.id, Array.from({ length: 9 }, (_, i) => `${i} ${'x'.repeat(1400)}`));
      await until(async () => (await snapshotsOf(kin.id)).length === 2);
      await until(() => sse.messages().filter((m) => m.type === 'compacting:done' && m.kinId === kin.id).length === 2);
      await sse.close();

      // Turns 1-8, a compaction (16 messages > 15 kept and a full context) with its memory
      // extraction, turn 9, a compaction: the queue waits for the whole compaction.
      const requests = llm.chatRequests().slice(from);
      expect(requests.map(kindOf)).toEqual([...Array(8).fill('turn'), 'summary', 'extraction', 'turn', 'summary', 'extraction']);
      // The ninth message was queued all along, yet it was answered only after the compaction.
      const summary = (await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots;
      const firstDone = sse.messages().find((m) => m.type === 'compacting:done' && m.kinId === kin.id)!;
      expect(systemOf(requests[10]!)).toContain(firstDone.data.summary);
      expect(summary).toHaveLength(2);
    } finally {
      await api.request('PUT', '/api/settings/compacting-threshold', { thresholdPercent: 75 });
    }
  });
});

async function snapshotsOf(kinId: string) {
  return (await api.get(`/api/kins/${kinId}/compacting/snapshots`)).body.snapshots as { id: string; isActive: boolean }[];
}
