import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemory } from '../../src/commands/memories.js';
import { mergedMemoryId } from '../../src/agents/memoryUpkeep.js';
import { extractMemories, type SnapshotMemoriesRef } from '../../src/agents/snapshotMemories.js';
import { KINS, type KinDoc } from '../../src/projections/kins.js';
import { MEMORIES, type MemoryDoc } from '../../src/projections/memories.js';
import { contentText, lastUserText, startFakeLlm, type ChatRequest, type FakeLlm } from '../fakes/fakeLlm.js';
import { kinInput, signUp, startTestServer, type Client, type TestServer, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

/**
 * The memory maintenance jobs (memory-knowledge.md §3) and memory extraction after a compaction
 * (messages.md §7), through HTTP with the fake model as an openai-compatible provider serving
 * both chat and embeddings. Each kind of model request gets the answers queued for it.
 */

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;

type Kind = 'scoring' | 'merge' | 'extraction' | 'summary' | 'turn';
const PREFIXES: [string, Kind][] = [
  ['You rate how useful', 'scoring'],
  ['You consolidate the long-term memories', 'merge'],
  ['You keep the long-term memory', 'extraction'],
  ['You maintain the running summary', 'summary'],
];
const kindOf = (request: ChatRequest): Kind => {
  const system = contentText(request.messages.find((m) => m.role === 'system')?.content);
  return PREFIXES.find(([prefix]) => system.startsWith(prefix))?.[1] ?? 'turn';
};
const answers: Record<Kind, string[]> = { scoring: [], merge: [], extraction: [], summary: [], turn: [] };
const requestsOf = (kind: Kind) => llm.chatRequests().filter((request) => kindOf(request) === kind);
const promptOf = (request: ChatRequest) => contentText(request.messages.at(-1)!.content);

beforeAll(async () => {
  // "pet" and "kitty" embed as "cat": only the vector side relates them.
  llm = await startFakeLlm({ apiKey: 'sk-fake', dimensions: 256, synonyms: { pet: 'cat', kitty: 'cat' } });
  llm.setDefault((request) => {
    const kind = kindOf(request);
    return { text: answers[kind].shift() ?? (kind === 'turn' ? `Reply to ${lastUserText(request)}` : kind === 'summary' ? 'A summary.' : 'No idea.') };
  });
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl, 'sk-fake');
  expect(provider.status).toBe(201);
  expect((await api.request('PUT', '/api/settings/embedding-model', { model: 'fake-embed' })).status).toBe(200);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const newKin = async (name: string) => (await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };
const remember = async (kinId: string, body: Record<string, unknown>) => {
  const response = await api.post(`/api/kins/${kinId}/memories`, body);
  expect(response.status).toBe(201);
  return response.body.memory as { id: string; updatedAt: string };
};
type Listed = { id: string; content: string; importance: number | null; consolidationGeneration: number; sourceChannel: string; updatedAt: string; subject: string | null; category: string; sourceContext: string | null };
const memoriesOf = async (kinId: string) => (await api.get(`/api/memories?kinId=${kinId}`)).body.memories as Listed[];
const jobMessages = (sse: Awaited<ReturnType<typeof openSse>>, job: string) => sse.messages().filter((m) => m.type.startsWith('memory:job-') && m.data.job === job);

async function until(predicate: () => boolean | Promise<boolean>, ms = 10_000) {
  for (const started = Date.now(); Date.now() - started < ms; await sleep(20)) if (await predicate()) return;
  throw new Error('condition not met in time');
}

describe('importance backfill', () => {
  it('scores unscored memories from the model’s JSON, leaves updatedAt alone, reports progress, and a re-run changes nothing', async () => {
    const kin = await newKin('Scorer');
    const first = await remember(kin.id, { content: 'Ada is a mathematician', category: 'fact', subject: 'Ada' });
    await remember(kin.id, { content: 'The coffee machine is broken today', category: 'fact' });
    await remember(kin.id, { content: 'Ada must never be woken before 8', category: 'preference', subject: 'Ada' });
    const before = await memoriesOf(kin.id);
    const sse = await openSse(server.url, { cookie });

    answers.scoring.push('Here you go:\n```json\n[{"index": 1, "score": 8}, {"index": 2, "score": 1.4}, {"index": 3, "score": 42}, {"index": 9, "score": 5}]\n```');
    const scored = await api.post('/api/memories/backfill-importance', { kinId: kin.slug });
    expect(scored.status).toBe(200);
    expect(scored.body).toEqual({ updated: 3, skipped: 0 });
    expect(promptOf(requestsOf('scoring').at(-1)!)).toBe(
      ['1. [fact] Ada is a mathematician (subject: Ada)', '2. [fact] The coffee machine is broken today', '3. [preference] Ada must never be woken before 8 (subject: Ada)'].join('\n'),
    );
    const after = await memoriesOf(kin.id);
    const importance = Object.fromEntries(after.map((m) => [m.content, m.importance]));
    expect(importance).toEqual({ 'Ada is a mathematician': 8, 'The coffee machine is broken today': 1, 'Ada must never be woken before 8': 10 });
    expect(after.find((m) => m.id === first.id)!.updatedAt).toBe(before.find((m) => m.id === first.id)!.updatedAt);

    const asked = requestsOf('scoring').length;
    expect((await api.post('/api/memories/backfill-importance', { kinId: kin.id })).body).toEqual({ updated: 0, skipped: 0 });
    expect(requestsOf('scoring')).toHaveLength(asked);

    await sse.waitFor(() => jobMessages(sse, 'backfill-importance').filter((m) => m.type === 'memory:job-done').length === 2);
    await sse.close();
    const [start, progress, done] = jobMessages(sse, 'backfill-importance');
    expect(start).toEqual({ type: 'memory:job-progress', kinId: kin.id, data: { job: 'backfill-importance', jobId: expect.any(String), kinId: kin.id, done: 0, total: 3 } });
    expect(progress).toEqual({ ...start, data: { ...start.data, done: 3 } });
    expect(done).toEqual({ type: 'memory:job-done', kinId: kin.id, data: { job: 'backfill-importance', jobId: start.data.jobId, kinId: kin.id, result: { updated: 3, skipped: 0 } } });
    // The silent change is not announced as memory:updated.
    expect(sse.messages().filter((m) => m.type === 'memory:updated' && m.kinId === kin.id)).toEqual([]);
  });

  it('counts a batch the model answers without a JSON array as skipped, and answers 404 for an unknown Kin', async () => {
    const kin = await newKin('Unscored');
    await remember(kin.id, { content: 'Bob plays the oboe', category: 'fact' });
    await remember(kin.id, { content: 'Bob prefers trains', category: 'preference' });
    answers.scoring.push('I would rather not.');
    expect((await api.post('/api/memories/backfill-importance', { kinId: kin.id })).body).toEqual({ updated: 0, skipped: 2 });
    expect((await memoriesOf(kin.id)).map((m) => m.importance)).toEqual([null, null]);
    const unknown = await api.post('/api/memories/backfill-importance', { kinId: 'nobody' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('KIN_NOT_FOUND');
  });
});

describe('consolidation', () => {
  it('merges near-duplicates into one memory of generation 1, deletes the sources, and a re-run removes nothing', async () => {
    const kin = await newKin('Merger');
    const a = await remember(kin.id, { content: 'Ada drinks green tea every morning', category: 'preference', subject: 'Ada' });
    const b = await remember(kin.id, { content: 'Ada drinks green tea every morning at home', category: 'preference', subject: 'Ada' });
    const other = await remember(kin.id, { content: 'The office opens at nine', category: 'fact', subject: 'office' });
    const sse = await openSse(server.url, { cookie });

    answers.merge.push('{"content": "Ada drinks green tea at home every morning", "category": "preference", "subject": "Ada", "importance": 6}');
    const response = await api.post('/api/memories/consolidate', { kinId: kin.slug });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ removed: 1 });
    const mergePrompt = promptOf(requestsOf('merge').at(-1)!);
    expect(mergePrompt).toContain('1. [preference] Ada drinks green tea every morning (subject: Ada;');
    expect(mergePrompt).toContain('2. [preference] Ada drinks green tea every morning at home (subject: Ada;');

    const after = await memoriesOf(kin.id);
    expect(after.map((m) => m.id).sort()).toEqual([mergedMemoryId([a.id, b.id]), other.id].sort());
    const merged = after.find((m) => m.id !== other.id)!;
    expect(merged).toMatchObject({ content: 'Ada drinks green tea at home every morning', category: 'preference', subject: 'Ada', importance: 6, consolidationGeneration: 1, sourceChannel: 'automatic' });
    expect((await server.services.readStore.collection<MemoryDoc>(MEMORIES).get(merged.id))!.consolidatedFromIds).toEqual([a.id, b.id]);

    const asked = requestsOf('merge').length;
    expect((await api.post('/api/memories/consolidate', { kinId: kin.id })).body).toEqual({ removed: 0 });
    expect(requestsOf('merge')).toHaveLength(asked);

    await sse.waitFor(() => jobMessages(sse, 'consolidate').filter((m) => m.type === 'memory:job-done').length === 2);
    await sse.close();
    const memoryEvents = sse.messages().filter((m) => m.kinId === kin.id && ['memory:created', 'memory:deleted'].includes(m.type));
    expect(memoryEvents).toEqual([
      { type: 'memory:created', kinId: kin.id, data: { memoryId: merged.id, kinId: kin.id, category: 'preference', content: merged.content, subject: 'Ada', scope: 'private' } },
      { type: 'memory:deleted', kinId: kin.id, data: { memoryId: a.id, kinId: kin.id } },
      { type: 'memory:deleted', kinId: kin.id, data: { memoryId: b.id, kinId: kin.id } },
    ]);
    const runs = jobMessages(sse, 'consolidate');
    expect(runs.slice(0, 3).map((m) => [m.type, m.data.done, m.data.total ?? m.data.result])).toEqual([
      ['memory:job-progress', 0, 1],
      ['memory:job-progress', 1, 1],
      ['memory:job-done', undefined, { removed: 1 }],
    ]);
    expect(runs.at(-1)).toEqual({ type: 'memory:job-done', kinId: kin.id, data: { job: 'consolidate', jobId: expect.any(String), kinId: kin.id, result: { removed: 0 } } });
  });

  it('finishes a merge a crash cut short (the merged memory made, its sources still there) without asking the model again', async () => {
    const kin = await newKin('Interrupted');
    const a = await remember(kin.id, { content: 'Bob collects vintage maps of Lisbon', category: 'fact', subject: 'Bob' });
    const b = await remember(kin.id, { content: 'Bob collects vintage maps of Lisbon and Porto', category: 'fact', subject: 'Bob' });
    const metadata = { actor: { kind: 'system' as const, id: 'test' }, correlationId: 'crash', now: new Date() };
    const made = await createMemory(
      server.services,
      { memoryId: mergedMemoryId([a.id, b.id]), kinId: kin.id, content: 'Bob collects vintage maps of Lisbon and Porto', category: 'fact', subject: 'Bob', sourceChannel: 'automatic', consolidationGeneration: 1, consolidatedFromIds: [a.id, b.id] },
      metadata,
    );
    await server.services.settle(made.position);
    const asked = requestsOf('merge').length;
    expect((await api.post('/api/memories/consolidate', { kinId: kin.id })).body).toEqual({ removed: 2 });
    expect(requestsOf('merge')).toHaveLength(asked);
    expect((await memoriesOf(kin.id)).map((m) => m.id)).toEqual([made.memoryId]);
  });

  it('requires a kinId (400 VALIDATION_ERROR) and answers 404 for an unknown Kin', async () => {
    for (const body of [undefined, {}, { kinId: '' }]) {
      const response = await api.post('/api/memories/consolidate', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'kinId is required' });
    }
    const unknown = await api.post('/api/memories/consolidate', { kinId: 'nobody' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('KIN_NOT_FOUND');
  });
});

type Message = { id: string; role: string; content: string };

/** Sends the messages and waits until they are all answered. */
async function converse(kinId: string, texts: string[]): Promise<Message[]> {
  const history = async () => (await api.get(`/api/kins/${kinId}/messages?limit=100`)).body.messages as Message[];
  const before = (await history()).length;
  for (const content of texts) expect((await api.post(`/api/kins/${kinId}/messages`, { content })).status).toBe(202);
  for (let i = 0; i < 1000; i++) {
    const messages = await history();
    const queue = (await api.get(`/api/kins/${kinId}/messages/queue`)).body.items;
    if (messages.length >= before + 2 * texts.length && queue.length === 0) return messages;
    await sleep(20);
  }
  throw new Error('the Kin did not answer in time');
}

describe('memory extraction after a compaction', () => {
  it('adds and updates memories from the summarized messages, skips near-duplicates and bad items, and reports the count', async () => {
    expect((await api.request('PUT', '/api/settings/extraction-model', { model: 'fake-extract' })).status).toBe(200);
    try {
      const kin = await newKin('Remembers');
      const paris = await remember(kin.id, { content: 'Ada lives in Paris', category: 'fact', subject: 'Ada' });
      await converse(kin.id, ['I am allergic to peanuts', ...Array.from({ length: 7 }, (_, i) => `small talk ${i}`)]);
      const sse = await openSse(server.url, { cookie });

      answers.summary.push('Ada talked about food.');
      answers.extraction.push(
        JSON.stringify([
          { action: 'add', content: 'Ada is allergic to peanuts', category: 'fact', subject: 'Ada', importance: 8.4, sourceContext: 'Ada said so while chatting.' },
          { action: 'update', updateIndex: 1, content: 'Ada moved from Paris to Lyon', category: 'fact', subject: 'Ada', importance: 7 },
          // The same fact again: a near-duplicate of the first item.
          { action: 'add', content: 'Ada is allergic to peanuts', category: 'fact', subject: 'Ada', importance: 8 },
          { action: 'add', content: '', category: 'fact' },
          { action: 'add', content: 'Gossip about Bob', category: 'gossip' },
        ]),
      );
      const run = await api.post(`/api/kins/${kin.id}/compacting/run`);
      expect(run.status).toBe(200);
      expect(run.body).toEqual({ success: true, summary: 'Ada talked about food.', memoriesExtracted: 2 });

      const request = requestsOf('extraction').at(-1)!;
      expect(request.model).toBe('fake-extract');
      expect(promptOf(request)).toContain('## Existing memories\n1. [fact] Ada lives in Paris (subject: Ada)');
      // The one message summarized (16 messages, 15 kept), as the summary request shows it.
      expect(promptOf(request)).toMatch(/## Messages\n\[[^\]]+\] Ada Lovelace: I am allergic to peanuts$/);

      const snapshot = (await api.get(`/api/kins/${kin.id}/compacting/snapshots`)).body.snapshots[0];
      const memories = await memoriesOf(kin.id);
      expect(memories).toHaveLength(2);
      const peanuts = memories.find((m) => m.content === 'Ada is allergic to peanuts')!;
      expect(peanuts).toMatchObject({ category: 'fact', subject: 'Ada', importance: 8, sourceChannel: 'automatic', sourceContext: 'Ada said so while chatting.' });
      expect((await server.services.readStore.collection<MemoryDoc>(MEMORIES).get(peanuts.id))!.sourceMessageId).toBe(snapshot.messagesUpToId);
      expect(memories.find((m) => m.id === paris.id)).toMatchObject({ content: 'Ada moved from Paris to Lyon', importance: 7, sourceChannel: 'explicit' });

      await sse.waitFor(() => sse.messages().some((m) => m.type === 'compacting:done' && m.kinId === kin.id));
      await sse.close();
      expect(sse.messages().filter((m) => m.kinId === kin.id && m.type.startsWith('compacting:'))).toEqual([
        { type: 'compacting:start', kinId: kin.id, data: { kinId: kin.id } },
        { type: 'compacting:done', kinId: kin.id, data: { kinId: kin.id, summary: 'Ada talked about food.', memoriesExtracted: 2 } },
      ]);

      // A second delivery of the snapshot (the reactor, a restart) finds it recorded and asks nothing.
      const asked = requestsOf('extraction').length;
      const ref: SnapshotMemoriesRef = {
        snapshotId: snapshot.id,
        kinId: kin.id,
        upTo: { id: snapshot.messagesUpToId, createdAt: (await api.get(`/api/kins/${kin.id}/messages?limit=100`)).body.messages.find((m: Message) => m.id === snapshot.messagesUpToId).createdAt },
        messageCount: 16 - 15,
        takenAt: snapshot.createdAt,
      };
      const metadata = { actor: { kind: 'system' as const, id: 'test' }, correlationId: 'again', now: new Date() };
      expect(await server.services.memoryJobs.processSnapshot(ref, metadata)).toEqual({ memoriesExtracted: 2, memoriesConsolidated: 0, memoriesPruned: 0 });
      expect(requestsOf('extraction')).toHaveLength(asked);

      // Even the extraction itself, run again for the same snapshot with the same answer (a crash
      // before the record), makes no second memory: the new one's id derives from (snapshot, item).
      answers.extraction.push(JSON.stringify([{ action: 'add', content: 'Ada is allergic to peanuts', category: 'fact', subject: 'Ada', importance: 8 }]));
      const kinDoc = (await server.services.readStore.collection<KinDoc>(KINS).get(kin.id))!;
      expect(await extractMemories(server.services, ref, kinDoc, metadata)).toBe(1);
      expect((await memoriesOf(kin.id)).map((m) => m.id).sort()).toEqual(memories.map((m) => m.id).sort());
    } finally {
      await api.request('PUT', '/api/settings/extraction-model', { model: null });
    }
  });
});

describe('quick session memories', () => {
  it('turns a quick session closed with saveMemory into a memory of its Kin', async () => {
    const kin = await newKin('Quick');
    const session = (await api.post(`/api/kins/${kin.id}/quick-sessions`, { title: 'Tea talk' })).body;
    expect((await api.post(`/api/quick-sessions/${session.id}/close`, { saveMemory: true, memorySummary: 'The user likes oolong tea.' })).status).toBe(200);
    await until(async () => (await memoriesOf(kin.id)).length === 1);
    expect((await memoriesOf(kin.id))[0]).toMatchObject({ content: 'The user likes oolong tea.', category: 'knowledge', subject: 'Tea talk', sourceChannel: 'explicit' });
  });
});

describe('re-embedding', () => {
  it('re-embeds every memory after an embedding-model change, so that vector search finds them again; a re-run has nothing to do', async () => {
    const kin = await newKin('Embedder');
    const kitty = await remember(kin.id, { content: 'Kitty', category: 'fact' });
    await remember(kin.id, { content: 'The garden has three apple trees', category: 'fact' });
    const found = async () => (await api.get(`/api/kins/${kin.id}/memories/search?q=pet`)).body;
    // "pet" is not in the text: only its vector finds "Kitty".
    expect((await found()).memories.map((m: { id: string }) => m.id)).toEqual([kitty.id]);

    expect((await api.request('PUT', '/api/settings/embedding-model', { model: 'fake-embed-2' })).status).toBe(200);
    try {
      const stale = await found();
      expect(stale.metadata).toMatchObject({ mode: 'hybrid', embeddingModel: 'fake-embed-2' });
      expect(stale.memories).toEqual([]);

      const sse = await openSse(server.url, { cookie });
      const response = await api.post('/api/memories/reembed', { kinId: kin.id });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ total: 2, success: 2, failed: 0 });
      expect((await found()).memories.map((m: { id: string }) => m.id)).toEqual([kitty.id]);

      expect((await api.post('/api/memories/reembed', { kinId: kin.id })).body).toEqual({ total: 0, success: 0, failed: 0 });
      expect((await api.post('/api/memories/reembed', { kinId: kin.id, all: true })).body).toEqual({ total: 2, success: 2, failed: 0 });
      // Without a Kin: every other memory, all of them still of the previous model.
      const everyone = await api.post('/api/memories/reembed');
      expect(everyone.body.total).toBeGreaterThan(0);
      expect(everyone.body).toEqual({ total: everyone.body.success, success: everyone.body.success, failed: 0 });

      await sse.waitFor(() => jobMessages(sse, 'reembed').filter((m) => m.type === 'memory:job-done').length === 4);
      await sse.close();
      const first = jobMessages(sse, 'reembed').slice(0, 3);
      expect(first.map((m) => [m.type, m.kinId, m.data.done, m.data.total])).toEqual([
        ['memory:job-progress', kin.id, 0, 2],
        ['memory:job-progress', kin.id, 2, 2],
        ['memory:job-done', kin.id, undefined, undefined],
      ]);
      expect(jobMessages(sse, 'reembed').at(-1)).toEqual({ type: 'memory:job-done', data: { job: 'reembed', jobId: expect.any(String), result: everyone.body } });
    } finally {
      await api.request('PUT', '/api/settings/embedding-model', { model: 'fake-embed' });
    }
  });
});
