import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpExpiredFiles } from '../../src/jobs/fileStorageCleanup.js';
import { STORED_FILES } from '../../src/projections/fileStorage.js';
import { kinInput, signUp, startTestServer, until, type Client, type TestServer } from './helpers.js';

let server: TestServer;
let cookie: string;
let api: Client;
let kin: { id: string; slug: string };

beforeAll(async () => {
  server = await startTestServer();
  ({ cookie, api } = await signUp(server.url));
  kin = (await api.post('/api/kins', kinInput({ name: 'Keeper' }))).body.kin;
});
afterAll(() => server.cleanup());

type Fields = Record<string, string>;
type Part = { bytes: Buffer; name?: string; type?: string };

async function upload(fields: Fields, file?: Part, headers: Record<string, string> = { cookie }) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (file) form.append('file', new Blob([new Uint8Array(file.bytes)], file.type === undefined ? {} : { type: file.type }), file.name ?? 'file.bin');
  const response = await fetch(`${server.url}/api/file-storage`, { method: 'POST', body: form, headers });
  return { status: response.status, body: (await response.json()) as any };
}

const text = (content: string, name = 'notes.txt', type = 'text/plain'): Part => ({ bytes: Buffer.from(content), name, type });

/** Uploads a text file to the Kin and returns its FileMeta-like answer. */
async function stored(fields: Fields = {}, file: Part = text(`hello ${Math.random()}`)) {
  const response = await upload({ kinId: kin.id, ...fields }, file);
  expect(response.status).toBe(201);
  return response.body.file as { id: string; url: string; [key: string]: unknown };
}

/** The share link's path (`/s/<token>`), whatever PUBLIC_URL says. */
const sharePath = (url: string) => new URL(url).pathname;
const share = (url: string, init: RequestInit = {}) => fetch(server.url + sharePath(url), init);
const unlock = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  share(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const bytesOf = async (response: Response) => Buffer.from(await response.arrayBuffer()).toString('utf8');

describe('POST /api/file-storage', () => {
  it('stores a file with every field and lists it, gives its metadata and downloads it', async () => {
    const before = Date.now();
    const response = await upload(
      { kinId: kin.slug, name: 'Quarterly report', description: 'Q3 figures', isPublic: 'true', password: 'open sesame', expiresIn: '60', readAndBurn: 'false' },
      text('revenue: 42\n', 'report.txt'),
    );
    expect(response.status).toBe(201);
    const file = response.body.file;
    expect(file).toEqual({
      id: expect.any(String),
      name: 'Quarterly report',
      originalName: 'report.txt',
      mimeType: 'text/plain',
      size: 12,
      url: expect.stringMatching(/\/s\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      isPublic: true,
      hasPassword: true,
      readAndBurn: false,
      expiresAt: expect.any(Number),
    });
    expect(file.expiresAt).toBeGreaterThanOrEqual(before + 60 * 60_000);
    expect(file.expiresAt).toBeLessThanOrEqual(Date.now() + 60 * 60_000);

    const listed = await api.get(`/api/file-storage?kinId=${kin.id}`);
    expect(listed.status).toBe(200);
    const meta = listed.body.files.find((entry: { id: string }) => entry.id === file.id);
    expect(meta).toEqual({
      ...file,
      kinId: kin.id,
      description: 'Q3 figures',
      downloadCount: 0,
      createdByKinId: null,
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
    });
    expect(meta.createdAt).toBeGreaterThanOrEqual(before);

    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).body).toEqual({ file: meta });

    const download = await fetch(`${server.url}/api/file-storage/${file.id}`, { headers: { cookie } });
    expect(download.status).toBe(200);
    expect(await bytesOf(download)).toBe('revenue: 42\n');
    expect(download.headers.get('content-type')).toBe('text/plain');
    expect(download.headers.get('content-length')).toBe('12');
  });

  it('defaults the name to the file name and lists newest first', async () => {
    const first = await stored({}, text('one', 'first.txt'));
    const second = await stored({}, text('two', 'second.txt'));
    expect(second).toMatchObject({ name: 'second.txt', isPublic: true, hasPassword: false, readAndBurn: false, expiresAt: null });
    const { files } = (await api.get('/api/file-storage')).body;
    const order = files.map((file: { id: string }) => file.id);
    expect(order.indexOf(second.id)).toBeLessThan(order.indexOf(first.id));
  });

  it('refuses bad input with 400s and an unknown Kin with 404, storing nothing', async () => {
    const count = async () => (await api.get('/api/file-storage')).body.files.length;
    const before = await count();
    expect((await upload({ kinId: kin.id })).body.error.code).toBe('INVALID_FILE');
    expect(await upload({}, text('x'))).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(await upload({ kinId: kin.id }, text(''))).toMatchObject({ status: 400, body: { error: { code: 'UPLOAD_ERROR' } } });
    expect(await upload({ kinId: kin.id, expiresIn: 'soon' }, text('x'))).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(await upload({ kinId: kin.id, expiresIn: '-5' }, text('x'))).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(await upload({ kinId: 'no-such-kin' }, text('x'))).toMatchObject({ status: 404, body: { error: { code: 'KIN_NOT_FOUND' } } });
    expect(await count()).toBe(before);
  });

  it('refuses a file over 100 MB with FILE_TOO_LARGE', async () => {
    const response = await upload({ kinId: kin.id }, { bytes: Buffer.alloc(100 * 1024 * 1024 + 1), name: 'huge.bin' });
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'FILE_TOO_LARGE' } } });
  });

  it('needs authentication', async () => {
    expect((await upload({ kinId: kin.id }, text('x'), {})).status).toBe(401);
    expect((await fetch(`${server.url}/api/file-storage`)).status).toBe(401);
  });
});

describe('PATCH and DELETE /api/file-storage/:id', () => {
  it('renames, sets and removes the password and the expiry', async () => {
    const file = await stored();
    const renamed = await api.patch(`/api/file-storage/${file.id}`, { name: 'Renamed', description: 'now described', password: 'secret', expiresIn: 30 });
    expect(renamed.status).toBe(200);
    expect(renamed.body.file).toMatchObject({ id: file.id, name: 'Renamed', description: 'now described', hasPassword: true });
    expect(renamed.body.file.expiresAt).toBeGreaterThan(Date.now() + 29 * 60_000);
    expect((await share(file.url)).status).toBe(401);

    const cleared = await api.patch(`/api/file-storage/${file.id}`, { password: '', expiresIn: null, description: null });
    expect(cleared.body.file).toMatchObject({ name: 'Renamed', description: null, hasPassword: false, expiresAt: null });
    expect((await share(file.url)).status).toBe(200);
    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).body.file).toMatchObject({ name: 'Renamed', hasPassword: false });
  });

  it('refuses bad input and unknown files', async () => {
    const file = await stored();
    expect(await api.patch(`/api/file-storage/${file.id}`, { name: '' })).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(await api.patch(`/api/file-storage/${file.id}`, { isPublic: 'maybe' })).toMatchObject({ status: 400 });
    expect(await api.patch(`/api/file-storage/${file.id}`, { expiresIn: -1 })).toMatchObject({ status: 400 });
    expect(await api.patch('/api/file-storage/nope', { name: 'x' })).toMatchObject({ status: 404, body: { error: { code: 'FILE_NOT_FOUND' } } });
  });

  it('deletes a file: gone from the list, its link and its download', async () => {
    const file = await stored();
    expect((await api.delete(`/api/file-storage/${file.id}`)).body).toEqual({ success: true });
    expect((await api.get('/api/file-storage')).body.files.some((entry: { id: string }) => entry.id === file.id)).toBe(false);
    expect((await share(file.url)).status).toBe(404);
    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).status).toBe(404);
    expect((await api.delete(`/api/file-storage/${file.id}`)).status).toBe(404);
  });

  it('deletes the bytes only when no other file has the same content', async () => {
    const content = text(`shared content ${Math.random()}`);
    const one = await stored({}, content);
    const two = await stored({}, content);
    const hash = (await server.services.readStore.collection(STORED_FILES).get(one.id))!.hash as string;
    await api.delete(`/api/file-storage/${one.id}`);
    expect(await server.services.blobs.stat(hash)).not.toBeNull();
    expect(await bytesOf(await share(two.url))).toBe(content.bytes.toString());
    await api.delete(`/api/file-storage/${two.id}`);
    expect(await server.services.blobs.stat(hash)).toBeNull();
  });
});

describe('/s/:token', () => {
  it('serves a public file inline for text/plain, with safe headers, and counts the download', async () => {
    const file = await stored({}, text('plain words', 'plain été.txt'));
    const response = await share(file.url);
    expect(response.status).toBe(200);
    expect(await bytesOf(response)).toBe('plain words');
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(response.headers.get('content-length')).toBe('11');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-disposition')).toBe(`inline; filename="plain _t_.txt"; filename*=UTF-8''plain%20%C3%A9t%C3%A9.txt`);
    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).body.file.downloadCount).toBe(1);
  });

  it('sends HTML and SVG as attachments', async () => {
    for (const [name, type] of [['page.html', 'text/html'], ['drawing.svg', 'image/svg+xml']] as const) {
      const file = await stored({}, text('<script>alert(1)</script>', name, type));
      const response = await share(file.url);
      expect(response.headers.get('content-type')).toBe(type);
      expect(response.headers.get('content-disposition')).toMatch(/^attachment; /);
    }
  });

  it('answers 404 to unknown tokens and to files that are not public', async () => {
    const unknown = await fetch(`${server.url}/s/0b6a4c1e-4d1e-4f57-9a51-3f4d8f1d2c3b`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'DOWNLOAD_ERROR', message: 'File not found' } });
    const hidden = await stored({ isPublic: 'false' });
    expect(hidden.isPublic).toBe(false);
    expect((await share(hidden.url)).status).toBe(404);
    expect((await fetch(`${server.url}/api/file-storage/${hidden.id}`, { headers: { cookie } })).status).toBe(200);
  });

  it('asks for the password: GET 401, a wrong one 403, the right one the bytes', async () => {
    const file = await stored({ password: 'hunter2' }, text('top secret'));
    const asked = await share(file.url);
    expect(asked.status).toBe(401);
    expect(await asked.json()).toEqual({ error: { code: 'PASSWORD_REQUIRED', message: 'This file requires a password' } });
    const wrong = await unlock(file.url, { password: 'hunter3' });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toEqual({ error: { code: 'DOWNLOAD_ERROR', message: 'Invalid password' } });
    const right = await unlock(file.url, { password: 'hunter2' });
    expect(right.status).toBe(200);
    expect(await bytesOf(right)).toBe('top secret');
    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).body.file.downloadCount).toBe(1);
  });

  it('never puts the password or the token in an event', async () => {
    const file = await stored({ password: 'a very findable password' });
    const token = sharePath(file.url).slice('/s/'.length);
    const log = JSON.stringify(await server.services.eventStore.readAll());
    expect(log).not.toContain('a very findable password');
    expect(log).not.toContain(token);
  });

  it('answers 400 to a POST with bad JSON or no password', async () => {
    const file = await stored({ password: 'pw' });
    expect(await (await unlock(file.url, '{nope')).json()).toMatchObject({ error: { code: 'INVALID_BODY' } });
    const missing = await unlock(file.url, {});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: 'PASSWORD_REQUIRED' } });
  });

  it('locks a share out after ten wrong passwords with 429 and Retry-After, even for the right one', async () => {
    const file = await stored({ password: 'right one' });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await unlock(file.url, { password: `wrong ${i}` })).status);
    expect(statuses).toEqual([...Array(10).fill(403), 429]);
    const locked = await unlock(file.url, { password: 'right one' });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await locked.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
  });

  it('serves a read-and-burn file once, also to two downloads at the same time (a HEAD burns nothing)', async () => {
    const file = await stored({ readAndBurn: 'true' }, text('burn after reading'));
    const hash = (await server.services.readStore.collection(STORED_FILES).get(file.id))!.hash as string;
    const head = await share(file.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('18');
    const [a, b] = await Promise.all([share(file.url), share(file.url)]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 404]);
    const served = a.status === 200 ? a : b;
    expect(await bytesOf(served)).toBe('burn after reading');
    expect((await share(file.url)).status).toBe(404);
    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).status).toBe(404);
    // The blob is released once the served bytes have left, just after the response ends.
    expect(await until(() => server.services.blobs.stat(hash), (info) => info === null)).toBeNull();
  });

  it('answers 410 once a file has expired, and expires it', async () => {
    const file = await stored({ expiresIn: '0.002' }); // 120 ms
    await new Promise((resolve) => setTimeout(resolve, 200));
    const response = await share(file.url);
    expect(response.status).toBe(410);
    expect(await response.json()).toEqual({ error: { code: 'DOWNLOAD_ERROR', message: 'File has expired' } });
    const events = await server.services.eventStore.readStream(`storedfile-${file.id}`);
    expect(events.map((event) => event.type)).toEqual(['StoredFileUploaded', 'StoredFileExpired']);
    expect((await api.get(`/api/file-storage/${file.id}?meta=1`)).status).toBe(404);
  });
});

describe('the expiry clean-up', () => {
  it('expires the files past their expiry and deletes their bytes, leaving the others', async () => {
    const expiring = await stored({ expiresIn: '1' });
    const lasting = await stored({ expiresIn: '120' });
    const hash = (await server.services.readStore.collection(STORED_FILES).get(expiring.id))!.hash as string;
    const inTwoMinutes = new Date(Date.now() + 2 * 60_000);
    const result = await cleanUpExpiredFiles(server.services, inTwoMinutes);
    expect(result.expired).toBeGreaterThanOrEqual(1);
    const ids = (await api.get('/api/file-storage')).body.files.map((file: { id: string }) => file.id);
    expect(ids).not.toContain(expiring.id);
    expect(ids).toContain(lasting.id);
    expect(await server.services.blobs.stat(hash)).toBeNull();
    expect((await share(expiring.url)).status).toBe(404);
    const events = await server.services.eventStore.readStream(`storedfile-${expiring.id}`);
    expect(events.at(-1)?.type).toBe('StoredFileExpired');
  });
});

/** The clean-up's agenda job in <dataDir>/jobs.db. */
function cleanupJobs(dataDir: string) {
  const db = new Database(join(dataDir, 'jobs.db'), { readonly: true });
  try {
    return db.prepare(`SELECT repeat_interval, last_run_at FROM agenda_jobs WHERE name = 'file-storage-cleanup'`).all() as {
      repeat_interval: string | null;
      last_run_at: number | null;
    }[];
  } finally {
    db.close();
  }
}

describe('the clean-up schedule', () => {
  it('is one hourly agenda job that runs at start-up', async () => {
    const jobs = await until(async () => cleanupJobs(server.dataDir), (rows) => rows.length === 1 && rows[0]!.last_run_at !== null);
    expect(jobs).toHaveLength(1);
    expect(JSON.parse(jobs[0]!.repeat_interval!)).toBe(60 * 60 * 1000);
    expect(jobs[0]!.last_run_at).not.toBeNull();
  });
});
