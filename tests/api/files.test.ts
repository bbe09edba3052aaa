import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesByIds, loadFileBytes } from '../../src/projections/files.js';
import { client, signUp, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let cookie: string;
const kinId = '01936d3c-0000-7000-8000-0000000000aa';
const MB = 1024 * 1024;

beforeAll(async () => {
  server = await startTestServer();
  ({ cookie } = await signUp(server.url));
});
afterAll(() => server.cleanup());

type Part = { bytes: Buffer; name?: string; type?: string; field?: string };

async function upload(parts: { file?: Part; kinId?: string }, headers: Record<string, string> = { cookie }) {
  const form = new FormData();
  if (parts.kinId !== undefined) form.append('kinId', parts.kinId);
  if (parts.file) {
    const { bytes, name = 'file.bin', type, field = 'file' } = parts.file;
    form.append(field, new Blob([new Uint8Array(bytes)], type === undefined ? {} : { type }), name);
  }
  const response = await fetch(`${server.url}/api/files/upload`, { method: 'POST', body: form, headers });
  return { status: response.status, body: (await response.json()) as any };
}

const download = (url: string, headers: Record<string, string> = { cookie }) => fetch(server.url + url, { headers });

describe('POST /api/files/upload', () => {
  it('stores a file and serves the same bytes back at its url', async () => {
    const bytes = Buffer.from('Hello, Kin!\nSecond line.\n');
    const { status, body } = await upload({ kinId, file: { bytes, name: 'notes.txt', type: 'text/plain' } });
    expect(status).toBe(201);
    expect(body).toEqual({
      file: { id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'notes.txt', mimeType: 'text/plain', size: bytes.length, url: expect.any(String) },
    });
    expect(body.file.url).toBe(`/api/uploads/messages/${kinId}/${body.file.id}.txt`);

    const served = await download(body.file.url);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
    expect(served.headers.get('content-type')).toBe('text/plain');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(served.headers.get('content-disposition')).toBe(`inline; filename="notes.txt"; filename*=UTF-8''notes.txt`);
  });

  it('accepts any type: binary bytes come back equal, as an attachment', async () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    const { status, body } = await upload({ kinId, file: { bytes, name: 'blob.dat' } });
    expect(status).toBe(201);
    expect(body.file).toMatchObject({ name: 'blob.dat', mimeType: 'application/octet-stream', size: 4096 });
    const served = await download(body.file.url);
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
    expect(served.headers.get('content-type')).toBe('application/octet-stream');
    expect(served.headers.get('content-disposition')).toMatch(/^attachment; /);
  });

  it.each([
    ['page.html', 'text/html', 'attachment'],
    ['drawing.svg', 'image/svg+xml', 'attachment'],
    ['photo.png', 'image/png', 'inline'],
    ['paper.pdf', 'application/pdf', 'inline'],
  ])('serves %s (%s) %s', async (name, type, disposition) => {
    const { body } = await upload({ kinId, file: { bytes: Buffer.from('<svg/>'), name, type } });
    const served = await download(body.file.url);
    expect(served.headers.get('content-type')).toBe(type);
    expect(served.headers.get('content-disposition')?.split(';')[0]).toBe(disposition);
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('keeps a UTF-8 file name and encodes it for the download', async () => {
    const { body } = await upload({ kinId, file: { bytes: Buffer.from('%PDF-1.4'), name: 'résumé été.pdf', type: 'application/pdf' } });
    expect(body.file.name).toBe('résumé été.pdf');
    expect(body.file.url).toMatch(/\.pdf$/);
    const served = await download(body.file.url);
    expect(served.headers.get('content-disposition')).toBe(`inline; filename="r_sum_ _t_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf`);
  });

  it('answers 400 INVALID_FILE without a file', async () => {
    const { status, body } = await upload({ kinId });
    expect(status).toBe(400);
    expect(body).toEqual({ error: { code: 'INVALID_FILE', message: 'A file is required' } });
    const json = await client(server.url, { cookie }).post('/api/files/upload', { kinId });
    expect([json.status, json.body.error.code]).toEqual([400, 'INVALID_FILE']);
  });

  it('answers 400 VALIDATION_ERROR without a kinId', async () => {
    const { status, body } = await upload({ file: { bytes: Buffer.from('x'), name: 'x.txt' } });
    expect(status).toBe(400);
    expect(body).toEqual({ error: { code: 'VALIDATION_ERROR', message: 'kinId is required' } });
    expect((await upload({ kinId: '  ', file: { bytes: Buffer.from('x') } })).body.error.message).toBe('kinId is required');
  });

  it('answers 400 UPLOAD_ERROR for an empty file', async () => {
    const { status, body } = await upload({ kinId, file: { bytes: Buffer.alloc(0), name: 'empty.txt' } });
    expect(status).toBe(400);
    expect(body).toEqual({ error: { code: 'UPLOAD_ERROR', message: 'File is empty' } });
  });

  it('answers 400 INVALID_FILE for a file in another field', async () => {
    const { status, body } = await upload({ kinId, file: { bytes: Buffer.from('x'), field: 'attachment' } });
    expect([status, body.error.code]).toEqual([400, 'INVALID_FILE']);
  });

  it('accepts 50 MB and answers 400 FILE_TOO_LARGE above', async () => {
    const exact = await upload({ kinId, file: { bytes: Buffer.alloc(50 * MB, 1), name: 'exact.bin' } });
    expect(exact.status).toBe(201);
    expect(exact.body.file.size).toBe(50 * MB);
    const over = await upload({ kinId, file: { bytes: Buffer.alloc(50 * MB + 1, 1), name: 'over.bin' } });
    expect(over.status).toBe(400);
    expect(over.body).toEqual({ error: { code: 'FILE_TOO_LARGE', message: 'File too large: max 50 MB' } });
  });

  it('answers 401 without credentials, for the upload and the download', async () => {
    const refused = await upload({ kinId, file: { bytes: Buffer.from('x') } }, {});
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
    const { body } = await upload({ kinId, file: { bytes: Buffer.from('private'), name: 'p.txt', type: 'text/plain' } });
    const anonymous = await download(body.file.url, {});
    expect(anonymous.status).toBe(401);
  });
});

describe('GET /api/uploads/messages/:kinId/:file', () => {
  it('answers 404 for an unknown file, another Kin or another extension', async () => {
    const { body } = await upload({ kinId, file: { bytes: Buffer.from('data'), name: 'a.txt', type: 'text/plain' } });
    const { id } = body.file;
    for (const url of [
      `/api/uploads/messages/${kinId}/01936d3c-0000-7000-8000-00000000ffff.txt`,
      `/api/uploads/messages/another-kin/${id}.txt`,
      `/api/uploads/messages/${kinId}/${id}.html`,
      `/api/uploads/messages/${kinId}/${id}`,
    ]) {
      const response = await download(url);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: { code: 'FILE_NOT_FOUND', message: 'File not found' } });
    }
  });
});

describe('helpers for the conversation engine', () => {
  it('filesByIds keeps the order asked and skips unknown ids; loadFileBytes returns the bytes', async () => {
    const first = (await upload({ kinId, file: { bytes: Buffer.from('one'), name: '1.txt', type: 'text/plain' } })).body.file;
    const second = (await upload({ kinId, file: { bytes: Buffer.from('two'), name: '2.md', type: 'text/markdown' } })).body.file;
    const found = await filesByIds(server.services.readStore, [second.id, 'missing', first.id]);
    expect(found.map((file) => [file.id, file.name, file.kinId])).toEqual([
      [second.id, '2.md', kinId],
      [first.id, '1.txt', kinId],
    ]);
    const loaded = await loadFileBytes(server.services, second.id);
    expect(loaded?.bytes.toString()).toBe('two');
    expect(loaded?.file.mimeType).toBe('text/markdown');
    expect(await loadFileBytes(server.services, 'missing')).toBeNull();
  });
});
