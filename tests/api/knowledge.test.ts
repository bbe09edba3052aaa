import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, toolResults, type FakeLlm } from '../fakes/fakeLlm.js';
import { markdownDocument } from '../fakes/documents.js';
import { minimalPdf } from '../fakes/pdf.js';
import { kinInput, signUp, startTestServer, type Client, type TestServer, addFakeProvider } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;
let cookie: string;
const MB = 1024 * 1024;

beforeAll(async () => {
  // "marsupial" means the same as "quokka" to the fake embedding model (and to no full-text index).
  llm = await startFakeLlm({ synonyms: { marsupial: 'quokka' } });
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
  const provider = await addFakeProvider(api, llm.baseUrl);
  expect(provider.status).toBe(201);
  expect((await api.request('PUT', '/api/settings/embedding-model', { model: 'fake-embed' })).status).toBe(200);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

const newKin = async (name: string) => (await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }))).body.kin as { id: string; slug: string };
const base = (kinId: string) => `/api/kins/${kinId}/knowledge`;

async function upload(kinId: string, file: { bytes: Buffer; name: string; type?: string }, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  form.append('file', new Blob([new Uint8Array(file.bytes)], file.type ? { type: file.type } : {}), file.name);
  const response = await fetch(`${server.url}${base(kinId)}`, { method: 'POST', body: form, headers: { cookie } });
  return { status: response.status, body: (await response.json()) as any };
}

/** Polls the source until its status is one of `statuses` (or gives up after ~20 s). */
async function settled(kinId: string, sourceId: string, statuses = ['ready', 'error']) {
  let body: any = null;
  for (let i = 0; i < 400; i++) {
    body = (await api.get(`${base(kinId)}/${sourceId}`)).body;
    if (statuses.includes(body?.source?.status)) return body as { source: any; chunks: any[] };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`source ${sourceId} did not settle: ${JSON.stringify(body?.source)}`);
}

const search = async (kinId: string, q: string, limit?: number) =>
  (await api.get(`${base(kinId)}/search?q=${encodeURIComponent(q)}${limit ? `&limit=${limit}` : ''}`)).body;

describe('knowledge sources', () => {
  it('makes a 2 MB Markdown upload searchable, with the lifecycle on SSE', async () => {
    const kin = await newKin('Librarian');
    const needle = 'Zephyrine the quokka guards the old lighthouse at Bathurst Point.';
    const markdown = markdownDocument(2 * MB, needle);
    expect(markdown.length).toBeGreaterThanOrEqual(2 * MB);
    const sse = await openSse(server.url, { cookie });

    const created = await upload(kin.id, { bytes: Buffer.from(markdown), name: 'atlas.md', type: 'text/markdown' });
    expect(created.status).toBe(201);
    expect(created.body.source).toMatchObject({
      kinId: kin.id,
      name: 'atlas.md',
      type: 'file',
      status: 'pending',
      originalFilename: 'atlas.md',
      mimeType: 'text/markdown',
      storedPath: null,
      rawContent: null,
      chunkCount: 0,
      metadata: { chunkSize: 512, chunkOverlap: 50, size: Buffer.byteLength(markdown) },
    });
    const sourceId = created.body.source.id;

    const { source, chunks } = await settled(kin.id, sourceId);
    expect(source.status).toBe('ready');
    expect(source.errorMessage).toBeNull();
    expect(source.chunkCount).toBeGreaterThan(500);
    expect(chunks).toHaveLength(source.chunkCount);
    expect(chunks.map((chunk) => chunk.position)).toEqual(chunks.map((_, i) => i));
    expect(source.tokenCount).toBe(chunks.reduce((sum, chunk) => sum + chunk.tokenCount, 0));
    expect(source.metadata).toMatchObject({ embeddingModel: 'fake-embed', embeddedCount: source.chunkCount });
    expect(Object.keys(chunks[0]).sort()).toEqual(['content', 'createdAt', 'id', 'kinId', 'metadata', 'position', 'sourceId', 'tokenCount']);

    const found = await search(kin.id, 'Zephyrine lighthouse');
    expect(found.metadata).toEqual({ mode: 'hybrid' });
    expect(found.results[0]).toEqual({ id: expect.any(String), content: expect.stringContaining(needle), sourceId, position: expect.any(Number), score: expect.any(Number) });

    await sse.waitFor(() => sse.messages().some((m) => m.type === 'knowledge:source-updated' && m.data.status === 'ready'));
    await sse.close();
    const lifecycle = sse.messages().filter((m) => m.type.startsWith('knowledge:') && m.data.sourceId === sourceId);
    expect(lifecycle).toEqual([
      { type: 'knowledge:source-created', kinId: kin.id, data: { sourceId, name: 'atlas.md', type: 'file' } },
      { type: 'knowledge:source-updated', kinId: kin.id, data: { sourceId, status: 'processing' } },
      { type: 'knowledge:source-updated', kinId: kin.id, data: { sourceId, status: 'ready', chunkCount: source.chunkCount, tokenCount: source.tokenCount } },
    ]);
  });

  it('makes a PDF searchable through the real parser', async () => {
    const kin = await newKin('Reader');
    const pdf = minimalPdf([
      [['Field notes on the quokka (Setonix brachyurus).'], ['Quokkas shelter under the Acanthocarpus shrubs by day.']],
      [['They browse on grasses and succulents at night.']],
    ]);
    const created = await upload(kin.id, { bytes: pdf, name: 'notes.pdf', type: 'application/pdf' }, { name: 'Field notes' });
    expect(created.status).toBe(201);
    expect(created.body.source).toMatchObject({ name: 'Field notes', type: 'file', mimeType: 'application/pdf' });
    const { source, chunks } = await settled(kin.id, created.body.source.id);
    expect(source.status).toBe('ready');
    expect(chunks).toHaveLength(1);
    expect(chunks[0].content).toBe(
      'Field notes on the quokka (Setonix brachyurus).\n\nQuokkas shelter under the Acanthocarpus shrubs by day.\n\nThey browse on grasses and succulents at night.',
    );
    const found = await search(kin.id, 'Acanthocarpus shrubs');
    expect(found.results.map((hit: { sourceId: string }) => hit.sourceId)).toEqual([source.id]);
  });

  it('finds a passage by meaning (vectors) when no word matches, and by words alone without an embedding provider', async () => {
    const kin = await newKin('Naturalist');
    const created = await api.post(base(kin.id), { name: 'Animal', type: 'text', content: 'Quokka' });
    expect(created.status).toBe(201);
    await settled(kin.id, created.body.source.id);
    const byMeaning = await search(kin.id, 'marsupial');
    expect(byMeaning.results.map((hit: { content: string }) => hit.content)).toEqual(['Quokka']);
    expect(byMeaning.metadata.mode).toBe('hybrid');

    const plain = await startTestServer();
    try {
      const other = await signUp(plain.url);
      const lone = (await other.api.post('/api/kins', kinInput({ name: 'Offline' }))).body.kin;
      const added = await other.api.post(`/api/kins/${lone.id}/knowledge`, { name: 'Notes', type: 'text', content: 'The harbour lantern is copper.' });
      for (let i = 0; i < 200 && (await other.api.get(`/api/kins/${lone.id}/knowledge/${added.body.source.id}`)).body.source.status !== 'ready'; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      const { source } = (await other.api.get(`/api/kins/${lone.id}/knowledge/${added.body.source.id}`)).body;
      expect(source).toMatchObject({ status: 'ready', chunkCount: 1, metadata: { embeddingModel: null, embeddedCount: 0 } });
      const words = (await other.api.get(`/api/kins/${lone.id}/knowledge/search?q=copper%20lantern`)).body;
      expect(words).toEqual({ results: [expect.objectContaining({ content: 'The harbour lantern is copper.' })], metadata: { mode: 'full-text' } });
      // Every term, else any term.
      const any = (await other.api.get(`/api/kins/${lone.id}/knowledge/search?q=copper%20zeppelin`)).body;
      expect(any.results).toHaveLength(1);
    } finally {
      await plain.cleanup();
    }
  });

  it('changes the chunk count when reprocessed with another chunk size, which the source keeps', async () => {
    const kin = await newKin('Chunker');
    const content = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} ${'about quokkas and their island '.repeat(6)}`).join('\n\n');
    const created = await api.post(base(kin.id), { name: 'Essay', type: 'text', content });
    const sourceId = created.body.source.id;
    const before = await settled(kin.id, sourceId);
    expect(before.source.rawContent).toBe(content);

    const sse = await openSse(server.url, { cookie });
    const reprocessed = await api.post(`${base(kin.id)}/${sourceId}/reprocess`, { chunkSize: 64 });
    expect(reprocessed).toMatchObject({ status: 200, body: { success: true, message: 'Reprocessing started' } });
    await sse.waitFor(() => sse.messages().some((m) => m.data.sourceId === sourceId && m.data.status === 'ready'));
    await sse.close();
    const after = await settled(kin.id, sourceId);
    expect(after.source.metadata).toMatchObject({ chunkSize: 64, chunkOverlap: 50 });
    expect(after.source.chunkCount).toBeGreaterThan(before.source.chunkCount);
    expect(after.chunks).toHaveLength(after.source.chunkCount);
    // The old chunks are gone from the source and from search.
    const oldIds = new Set(before.chunks.map((chunk) => chunk.id));
    expect(after.chunks.some((chunk) => oldIds.has(chunk.id))).toBe(false);
    const hits = (await search(kin.id, 'quokkas island', 50)).results;
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((hit: { id: string }) => !oldIds.has(hit.id))).toBe(true);
    expect(sse.messages().filter((m) => m.data.sourceId === sourceId).map((m) => m.data.status)).toEqual(['pending', 'processing', 'ready']);

    // A reprocess without a body keeps the size the source has now.
    await api.post(`${base(kin.id)}/${sourceId}/reprocess`);
    await settled(kin.id, sourceId, ['pending', 'processing', 'ready']);
    const again = await settled(kin.id, sourceId);
    expect(again.source.chunkCount).toBe(after.source.chunkCount);
  });

  it('removes a deleted source and its chunks from search', async () => {
    const kin = await newKin('Forgetter');
    const keep = await api.post(base(kin.id), { name: 'Keep', type: 'text', content: 'The granite beacon stands on the northern cape.' });
    const drop = await api.post(base(kin.id), { name: 'Drop', type: 'text', content: 'The granite falcon nests on the southern cape.' });
    await settled(kin.id, keep.body.source.id);
    await settled(kin.id, drop.body.source.id);
    expect((await search(kin.id, 'granite cape')).results).toHaveLength(2);

    const sse = await openSse(server.url, { cookie });
    const deleted = await api.delete(`${base(kin.id)}/${drop.body.source.id}`);
    expect(deleted).toMatchObject({ status: 200, body: { success: true } });
    const results = (await search(kin.id, 'granite cape')).results;
    expect(results.map((hit: { sourceId: string }) => hit.sourceId)).toEqual([keep.body.source.id]);
    expect((await search(kin.id, 'falcon')).results).toEqual([]);
    expect((await api.get(`${base(kin.id)}/${drop.body.source.id}`)).status).toBe(404);
    expect((await api.get(base(kin.id))).body.sources.map((s: { id: string }) => s.id)).toEqual([keep.body.source.id]);
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'knowledge:source-deleted'));
    await sse.close();
    expect(sse.messages().find((m) => m.type === 'knowledge:source-deleted')).toEqual({
      type: 'knowledge:source-deleted',
      kinId: kin.id,
      data: { sourceId: drop.body.source.id },
    });
    expect((await api.delete(`${base(kin.id)}/${drop.body.source.id}`)).body).toEqual({ error: { code: 'NOT_FOUND', message: 'Knowledge source not found' } });
  });

  it('lists sources newest first with their full rows, by Kin id or slug', async () => {
    const kin = await newKin('Lister');
    const first = await api.post(base(kin.slug), { name: 'First', type: 'text', content: 'one' });
    const second = await api.post(base(kin.id), { name: 'Second', type: 'text', content: 'two' });
    const { body } = await api.get(base(kin.slug));
    expect(body.sources.map((source: { name: string }) => source.name)).toEqual(['Second', 'First']);
    expect(body.sources[1]).toMatchObject({ id: first.body.source.id, kinId: kin.id, rawContent: 'one', type: 'text' });
    expect(second.body.source.kinId).toBe(kin.id);
  });
});

describe('URL sources', () => {
  let site: Server;
  let siteUrl: string;
  beforeAll(async () => {
    site = createServer((req, res) => {
      if (req.url === '/quokka.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end('<html><head><title>Quokka facts</title><script>var hidden = "ignored";</script></head><body><h1>Quokka</h1><p>The quokka smiles at tourists on Rottnest&nbsp;Island.</p></body></html>');
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('nope');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await api.request('PUT', '/api/settings/network', { allowPrivateNetworks: false });
    await new Promise((resolve) => site.close(resolve));
  });

  it('refuses a URL to 127.0.0.1 (SSRF guard) with 400 and creates nothing', async () => {
    const kin = await newKin('Guarded');
    const refused = await api.post(base(kin.id), { name: 'Local', type: 'url', sourceUrl: `${siteUrl}/quokka.html` });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('URL_NOT_ALLOWED');
    expect(refused.body.error.message).toContain('127.0.0.1');
    expect((await api.get(base(kin.id))).body.sources).toEqual([]);
    const scheme = await api.post(base(kin.id), { name: 'File', type: 'url', sourceUrl: 'file:///etc/passwd' });
    expect([scheme.status, scheme.body.error.code]).toEqual([400, 'INVALID_URL']);
    const missing = await api.post(base(kin.id), { name: 'None', type: 'url' });
    expect([missing.status, missing.body.error.code]).toEqual([400, 'INVALID_INPUT']);
  });

  it('fetches an HTML page as text when private networks are allowed', async () => {
    expect((await api.request('PUT', '/api/settings/network', { allowPrivateNetworks: true })).status).toBe(200);
    const kin = await newKin('Browser');
    const created = await api.post(base(kin.id), { name: 'Quokka page', type: 'url', sourceUrl: `${siteUrl}/quokka.html` });
    expect(created.status).toBe(201);
    expect(created.body.source).toMatchObject({ type: 'url', sourceUrl: `${siteUrl}/quokka.html`, mimeType: 'text/html', rawContent: null });
    const { source, chunks } = await settled(kin.id, created.body.source.id);
    expect(source.status).toBe('ready');
    expect(chunks.map((chunk) => chunk.content)).toEqual(['Quokka facts\n\nQuokka\n\nThe quokka smiles at tourists on Rottnest Island.']);
    expect((await search(kin.id, 'tourists Rottnest')).results).toHaveLength(1);

    const notFound = await api.post(base(kin.id), { name: 'Gone', type: 'url', sourceUrl: `${siteUrl}/missing` });
    expect([notFound.status, notFound.body.error.code]).toEqual([422, 'URL_FETCH_FAILED']);
    expect((await api.get(base(kin.id))).body.sources).toHaveLength(1);
  });
});

describe('bad input', () => {
  let kinId: string;
  beforeAll(async () => {
    kinId = (await newKin('Strict')).id;
  });
  const sources = async () => (await api.get(base(kinId))).body.sources;

  it('answers 400 to empty content and creates nothing', async () => {
    for (const content of [undefined, '', '   \n\n ']) {
      const response = await api.post(base(kinId), { name: 'Empty', type: 'text', ...(content === undefined ? {} : { content }) });
      expect([response.status, response.body.error.code]).toEqual([400, 'EMPTY_CONTENT']);
    }
    const blankFile = await upload(kinId, { bytes: Buffer.from('  \n\t\n'), name: 'blank.md', type: 'text/markdown' });
    expect([blankFile.status, blankFile.body.error.code]).toEqual([400, 'EMPTY_CONTENT']);
    const emptyFile = await upload(kinId, { bytes: Buffer.alloc(0), name: 'empty.txt', type: 'text/plain' });
    expect([emptyFile.status, emptyFile.body.error.code]).toEqual([400, 'EMPTY_CONTENT']);
    expect(await sources()).toEqual([]);
  });

  it('answers 400 FILE_TOO_LARGE to a 50 MB upload and creates nothing', async () => {
    const over = await upload(kinId, { bytes: Buffer.alloc(50 * MB + 1, 0x61), name: 'huge.md', type: 'text/markdown' });
    expect(over).toEqual({ status: 400, body: { error: { code: 'FILE_TOO_LARGE', message: 'File too large: max 50 MB' } } });
    expect(await sources()).toEqual([]);
  });

  it('answers 400 to missing fields, unknown types, unsupported files and bad chunk sizes', async () => {
    const noName = await api.post(base(kinId), { type: 'text', content: 'x' });
    expect(noName).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: 'name and type are required' } } });
    const noType = await api.post(base(kinId), { name: 'x', content: 'x' });
    expect(noType).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: 'name and type are required' } } });
    const badType = await api.post(base(kinId), { name: 'x', type: 'video', content: 'x' });
    expect([badType.status, badType.body.error.code]).toEqual([400, 'INVALID_INPUT']);
    const image = await upload(kinId, { bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), name: 'a.png', type: 'image/png' });
    expect([image.status, image.body.error.code]).toEqual([400, 'UNSUPPORTED_FILE_TYPE']);
    const noFile = await fetch(`${server.url}${base(kinId)}`, { method: 'POST', body: new FormData(), headers: { cookie } });
    expect(noFile.status).toBe(400);
    const tiny = await api.post(base(kinId), { name: 'x', type: 'text', content: 'x', chunkSize: 4 });
    expect([tiny.status, tiny.body.error.code]).toEqual([400, 'INVALID_INPUT']);
    const overlap = await api.post(base(kinId), { name: 'x', type: 'text', content: 'x', chunkSize: 64, chunkOverlap: 64 });
    expect([overlap.status, overlap.body.error.message]).toEqual([400, 'chunkOverlap must be smaller than chunkSize']);
    expect(await sources()).toEqual([]);
  });

  it('answers 404 for an unknown Kin or a source of another Kin, and 400 to a search without q', async () => {
    const unknownKin = await api.post(base('no-such-kin'), { name: 'x', type: 'text', content: 'x' });
    expect(unknownKin).toMatchObject({ status: 404, body: { error: { code: 'KIN_NOT_FOUND' } } });
    expect((await api.get(base('no-such-kin'))).status).toBe(404);
    expect((await api.get(`${base('no-such-kin')}/search?q=x`)).status).toBe(404);

    const other = await newKin('Other');
    const theirs = await api.post(base(other.id), { name: 'Theirs', type: 'text', content: 'private words' });
    for (const response of [
      await api.get(`${base(kinId)}/${theirs.body.source.id}`),
      await api.delete(`${base(kinId)}/${theirs.body.source.id}`),
      await api.post(`${base(kinId)}/${theirs.body.source.id}/reprocess`),
      await api.get(`${base(kinId)}/01936d3c-0000-7000-8000-000000000000`),
    ]) {
      expect(response).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'Knowledge source not found' } } });
    }
    const noQuery = await api.get(`${base(kinId)}/search`);
    expect(noQuery).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: 'q query parameter is required' } } });
    const badReprocess = await api.post(`${base(other.id)}/${theirs.body.source.id}/reprocess`, { chunkSize: 'big' });
    expect([badReprocess.status, badReprocess.body.error.code]).toEqual([400, 'INVALID_INPUT']);
  });

  it('ends a source whose document cannot be read in status error, with the reason', async () => {
    const corrupt = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(300, 0x41)]);
    const created = await upload(kinId, { bytes: corrupt, name: 'broken.pdf', type: 'application/pdf' });
    expect(created.status).toBe(201);
    const { source, chunks } = await settled(kinId, created.body.source.id);
    expect(source).toMatchObject({ status: 'error', chunkCount: 0, errorMessage: expect.stringContaining('PDF') });
    expect(chunks).toEqual([]);
  });
});

describe('knowledge in conversations', () => {
  it('offers the top chunks for the incoming message in the system prompt, and has tools to search and list', async () => {
    const kin = await newKin('Keeper');
    const created = await api.post(base(kin.id), { name: 'Secrets', type: 'text', content: 'The password of the lighthouse is periwinkle.' });
    await settled(kin.id, created.body.source.id);

    const tools = (await api.get(`/api/kins/${kin.id}/tools`)).body.nativeTools;
    // The knowledge tools search documents: the web app's `search` domain (webapp.md §4).
    expect(tools.find((group: { domain: string }) => group.domain === 'search')).toEqual({
      domain: 'search',
      tools: [
        { name: 'search_knowledge', enabled: true, defaultDisabled: false },
        { name: 'list_knowledge_sources', enabled: true, defaultDisabled: false },
      ],
    });

    llm.script(
      { toolCalls: [{ name: 'search_knowledge', args: { query: 'lighthouse password' } }, { name: 'list_knowledge_sources', args: {} }] },
      { text: 'It is periwinkle.' },
    );
    const sent = await api.post(`/api/kins/${kin.id}/messages`, { content: 'What is the password of the lighthouse?' });
    expect(sent.status).toBe(202);
    let messages: { role: string; content: string }[] = [];
    for (let i = 0; i < 300 && messages.length < 2; i++) {
      messages = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(messages[1]).toMatchObject({ role: 'assistant', content: 'It is periwinkle.' });

    const [first, second] = llm.chatRequests().slice(-2);
    const system = String(first!.messages.find((m) => m.role === 'system')!.content);
    expect(system).toContain('## From your knowledge base');
    expect(system).toContain('### Secrets\nThe password of the lighthouse is periwinkle.');
    const results = toolResults(second!);
    expect(JSON.parse(results.find((r) => r.toolName === 'search_knowledge')!.content)).toMatchObject({
      results: [{ content: 'The password of the lighthouse is periwinkle.', source: 'Secrets', sourceId: created.body.source.id }],
    });
    expect(JSON.parse(results.find((r) => r.toolName === 'list_knowledge_sources')!.content)).toEqual({
      sources: [expect.objectContaining({ id: created.body.source.id, name: 'Secrets', type: 'text', status: 'ready', chunkCount: 1 })],
    });
  });

  it('gives a Kin without knowledge no knowledge section', async () => {
    const kin = await newKin('Blank');
    llm.script({ text: 'Hello.' });
    await api.post(`/api/kins/${kin.id}/messages`, { content: 'Hello there, lighthouse keeper' });
    for (let i = 0; i < 300 && (await api.get(`/api/kins/${kin.id}/messages`)).body.messages.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const system = String(llm.chatRequests().at(-1)!.messages.find((m) => m.role === 'system')!.content);
    expect(system).not.toContain('knowledge base');
  });
});
