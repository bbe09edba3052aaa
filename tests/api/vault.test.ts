import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { vaultEntryStream, vaultSecretOwner } from '../../src/events/vault.js';
import { VAULT_ENTRIES } from '../../src/projections/vault.js';
import { openStores } from '../../src/services.js';
import { createSqliteKeyStore } from '../../src/stores/sqlite/keyStore.js';
import { client, signUp, startTestServer, until, type Client, type TestServer } from './helpers.js';

let server: TestServer;
let api: Client;
let cookie: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ api, cookie } = await signUp(server.url));
});
afterAll(() => server.cleanup());

const canary = (label: string) => `${label}-${randomBytes(8).toString('hex')}`;

async function upload(entryId: string, file?: { bytes: Buffer; name?: string; type?: string; field?: string }) {
  const form = new FormData();
  if (file) form.append(file.field ?? 'file', new Blob([new Uint8Array(file.bytes)], file.type ? { type: file.type } : {}), file.name ?? 'file.bin');
  const response = await fetch(`${server.url}/api/vault/entries/${entryId}/attachments`, { method: 'POST', body: form, headers: { cookie } });
  return { status: response.status, body: (await response.json()) as any };
}

const download = (attachmentId: string) => fetch(`${server.url}/api/vault/attachments/${attachmentId}`, { headers: { cookie } });

describe('vault secrets (/api/vault)', () => {
  it('creates, lists without values, renames, re-values and deletes a secret', async () => {
    const value = canary('sk-secret');
    const created = await api.post('/api/vault', { key: 'OPENAI_KEY', value, description: 'for scripts' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ secret: { id: expect.any(String), key: 'OPENAI_KEY', createdAt: expect.any(String) } });
    expect(new Date(created.body.secret.createdAt).toISOString()).toBe(created.body.secret.createdAt);
    const id = created.body.secret.id;

    const listed = await api.get('/api/vault');
    expect(listed.status).toBe(200);
    expect(listed.body.secrets).toContainEqual({
      id,
      key: 'OPENAI_KEY',
      description: 'for scripts',
      entryType: 'text',
      isFavorite: false,
      createdByKinId: null,
      createdAt: created.body.secret.createdAt,
      updatedAt: created.body.secret.createdAt,
    });
    expect(JSON.stringify(listed.body)).not.toContain(value);
    expect((await api.get(`/api/vault/entries/${id}`)).body).toEqual({ entryType: 'text', value });

    const newValue = canary('sk-rotated');
    const patched = await api.patch(`/api/vault/${id}`, { key: 'OPENAI_API_KEY', value: newValue });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ secret: { id, key: 'OPENAI_API_KEY', updatedAt: expect.any(String) } });
    expect((await api.get(`/api/vault/entries/${id}`)).body.value).toBe(newValue);
    // The old key is free again.
    expect((await api.post('/api/vault', { key: 'OPENAI_KEY', value: 'x' })).status).toBe(201);

    expect(await api.delete(`/api/vault/${id}`)).toMatchObject({ status: 200, body: { success: true } });
    expect((await api.get('/api/vault')).body.secrets.map((s: { id: string }) => s.id)).not.toContain(id);
    expect(await api.delete(`/api/vault/${id}`)).toMatchObject({ status: 404, body: { error: { code: 'SECRET_NOT_FOUND' } } });
    expect(await api.patch(`/api/vault/${id}`, { value: 'y' })).toMatchObject({ status: 404, body: { error: { code: 'SECRET_NOT_FOUND' } } });
  });

  it('requires both key and value', async () => {
    for (const body of [{ key: 'K' }, { value: 'v' }, { key: '', value: 'v' }, { key: 'K', value: '' }, { key: 'K', value: 42 }]) {
      const response = await api.post('/api/vault', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('INVALID_INPUT');
    }
    expect((await api.post('/api/vault', {})).body.error.message).toBe('Both key and value are required');
  });

  it('refuses a key that a secret or an entry already uses, also when renaming', async () => {
    expect((await api.post('/api/vault', { key: 'SHARED', value: 'a' })).status).toBe(201);
    expect(await api.post('/api/vault', { key: 'SHARED', value: 'b' })).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_KEY' } } });
    expect(await api.post('/api/vault/entries', { key: 'SHARED', entryType: 'text', value: 'c' })).toMatchObject({
      status: 409,
      body: { error: { code: 'DUPLICATE_KEY' } },
    });
    const other = await api.post('/api/vault', { key: 'OTHER', value: 'd' });
    expect(await api.patch(`/api/vault/${other.body.secret.id}`, { key: 'SHARED' })).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_KEY' } } });
  });

  it('gives one of two concurrent creations with the same key a 409', async () => {
    const key = canary('RACE');
    const results = await Promise.all([api.post('/api/vault', { key, value: '1' }), api.post('/api/vault', { key, value: '2' })]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it('needs a signed-in user', async () => {
    const response = await fetch(`${server.url}/api/vault`);
    expect(response.status).toBe(401);
  });
});

describe('vault entries (/api/vault/entries)', () => {
  it('round-trips an object value and filters by type and favourite', async () => {
    const login = { url: 'https://example.com', username: 'ada', password: canary('pw') };
    const created = await api.post('/api/vault/entries', { key: 'example-login', entryType: 'credential', value: login, isFavorite: true });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ entry: { id: expect.any(String), key: 'example-login', entryType: 'credential', createdAt: expect.any(String) } });
    const id = created.body.entry.id;
    expect((await api.get(`/api/vault/entries/${id}`)).body).toEqual({ entryType: 'credential', value: login });

    const note = await api.post('/api/vault/entries', { key: 'plain-note', entryType: 'note', value: 'not JSON at all', description: 'd' });
    expect((await api.get(`/api/vault/entries/${note.body.entry.id}`)).body).toEqual({ entryType: 'note', value: 'not JSON at all' });

    const credentials = await api.get('/api/vault/entries?type=credential');
    expect(credentials.body.entries.map((e: { id: string }) => e.id)).toEqual([id]);
    expect(credentials.body.entries[0]).toMatchObject({ key: 'example-login', isFavorite: true, attachmentCount: 0, description: null });
    expect(JSON.stringify(credentials.body)).not.toContain(login.password);
    const favourites = (await api.get('/api/vault/entries?favorite=true')).body.entries.map((e: { id: string }) => e.id);
    expect(favourites).toEqual([id]);
    const others = (await api.get('/api/vault/entries?favorite=false')).body.entries.map((e: { id: string }) => e.id);
    expect(others).toContain(note.body.entry.id);
    expect(others).not.toContain(id);

    const patched = await api.patch(`/api/vault/entries/${id}`, { isFavorite: false, value: { ...login, password: 'changed' } });
    expect(patched.body).toEqual({ entry: { id, key: 'example-login', entryType: 'credential', updatedAt: expect.any(String) } });
    expect((await api.get(`/api/vault/entries/${id}`)).body.value.password).toBe('changed');
    expect((await api.get('/api/vault/entries?favorite=true')).body.entries).toEqual([]);
  });

  it('answers 400 INVALID_INPUT without key, type or value, and 404 ENTRY_NOT_FOUND for an unknown id', async () => {
    const missing = await api.post('/api/vault/entries', { key: 'k', value: 'v' });
    expect(missing).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: 'key, entryType, and value are required' } } });
    expect((await api.post('/api/vault/entries', { key: 'k', entryType: 'text', value: ['a'] })).status).toBe(400);
    const unknown = '01936d3c-0000-7000-8000-000000000000';
    for (const response of [await api.get(`/api/vault/entries/${unknown}`), await api.patch(`/api/vault/entries/${unknown}`, { isFavorite: true }), await api.delete(`/api/vault/entries/${unknown}`)]) {
      expect(response).toMatchObject({ status: 404, body: { error: { code: 'ENTRY_NOT_FOUND' } } });
    }
  });
});

describe('vault types (/api/vault/types)', () => {
  it('lists the five built-in types first', async () => {
    const { body } = await api.get('/api/vault/types');
    expect(body.types.slice(0, 5).map((t: { slug: string; isBuiltIn: boolean }) => [t.slug, t.isBuiltIn])).toEqual([
      ['text', true],
      ['credential', true],
      ['card', true],
      ['note', true],
      ['identity', true],
    ]);
    const card = body.types.find((t: { slug: string }) => t.slug === 'card');
    expect(card.fields.filter((f: { required?: boolean }) => f.required).map((f: { name: string }) => f.name)).toEqual(['number', 'expiry', 'cvv']);
  });

  it('creates, updates and deletes a custom type, refusing reserved and duplicate slugs and a type in use', async () => {
    const fields = [{ name: 'host', label: 'Host', type: 'url', required: true }, { name: 'token', label: 'Token', type: 'password' }];
    const created = await api.post('/api/vault/types', { name: 'Server', slug: 'server', icon: 'server', fields });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ type: { id: expect.any(String), slug: 'server', name: 'Server', fields, createdAt: expect.any(String) } });
    const id = created.body.type.id;

    expect(await api.post('/api/vault/types', { name: 'Text again', slug: 'text', fields })).toMatchObject({ status: 409, body: { error: { code: 'RESERVED_SLUG' } } });
    expect(await api.post('/api/vault/types', { name: 'Dup', slug: 'server', fields })).toMatchObject({ status: 400, body: { error: { code: 'CREATE_FAILED' } } });
    expect(await api.post('/api/vault/types', { name: 'No fields', slug: 'empty', fields: [] })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });

    const updated = await api.patch(`/api/vault/types/${id}`, { name: 'Servers', icon: null });
    expect(updated.status).toBe(200);
    expect(updated.body.type).toMatchObject({ id, slug: 'server', name: 'Servers', icon: null, isBuiltIn: false, fields });
    expect(await api.patch(`/api/vault/types/${id}`, { fields: [] })).toMatchObject({ status: 400, body: { error: { code: 'UPDATE_FAILED' } } });
    expect(await api.patch('/api/vault/types/text', { name: 'x' })).toMatchObject({ status: 404, body: { error: { code: 'TYPE_NOT_FOUND' } } });

    const entry = await api.post('/api/vault/entries', { key: 'prod-server', entryType: 'server', value: { host: 'https://prod' } });
    expect(await api.delete(`/api/vault/types/${id}`)).toMatchObject({ status: 400, body: { error: { code: 'DELETE_FAILED' } } });
    await api.delete(`/api/vault/entries/${entry.body.entry.id}`);
    expect(await api.delete(`/api/vault/types/${id}`)).toMatchObject({ status: 200, body: { success: true } });
    expect((await api.get('/api/vault/types')).body.types.map((t: { slug: string }) => t.slug)).not.toContain('server');
    expect(await api.delete(`/api/vault/types/${id}`)).toMatchObject({ status: 404, body: { error: { code: 'TYPE_NOT_FOUND' } } });
    // Its slug is free again.
    expect((await api.post('/api/vault/types', { name: 'Server', slug: 'server', fields })).status).toBe(201);
  });
});

describe('vault attachments', () => {
  it('uploads, lists, downloads with Content-Disposition and deletes an attachment', async () => {
    const entry = await api.post('/api/vault/entries', { key: canary('with-file'), entryType: 'note', value: { content: 'see file' } });
    const entryId = entry.body.entry.id;
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    const uploaded = await upload(entryId, { bytes, name: 'scan résumé.pdf', type: 'application/pdf' });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toEqual({ attachment: { id: expect.any(String), name: 'scan résumé.pdf', mimeType: 'application/pdf', size: 300 } });
    const attachmentId = uploaded.body.attachment.id;

    const listed = await api.get(`/api/vault/entries/${entryId}/attachments`);
    expect(listed.body).toEqual({ attachments: [{ id: attachmentId, name: 'scan résumé.pdf', mimeType: 'application/pdf', size: 300, createdAt: expect.any(String) }] });
    const entries = (await api.get('/api/vault/entries?type=note')).body.entries;
    expect(entries.find((e: { id: string }) => e.id === entryId).attachmentCount).toBe(1);

    const response = await download(attachmentId);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${encodeURIComponent('scan résumé.pdf')}"`);
    expect(response.headers.get('content-length')).toBe('300');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);

    expect(await api.delete(`/api/vault/attachments/${attachmentId}`)).toMatchObject({ status: 200, body: { success: true } });
    expect((await download(attachmentId)).status).toBe(404);
    expect(await api.delete(`/api/vault/attachments/${attachmentId}`)).toMatchObject({ status: 404, body: { error: { code: 'ATTACHMENT_NOT_FOUND' } } });
    expect((await api.get(`/api/vault/entries/${entryId}/attachments`)).body.attachments).toEqual([]);
  });

  it('stores only ciphertext in the blob store', async () => {
    const entry = await api.post('/api/vault/entries', { key: canary('blob'), entryType: 'text', value: 'x' });
    const plaintext = Buffer.from(canary('attachment-plaintext'));
    const uploaded = await upload(entry.body.entry.id, { bytes: plaintext, name: 'a.txt', type: 'text/plain' });
    const [added] = (await server.services.eventStore.readStream(vaultEntryStream(entry.body.entry.id))).filter((e) => e.type === 'VaultAttachmentAdded');
    const blob = await server.services.blobs.get(String((added!.data as { blobHash: string }).blobHash));
    expect(blob!.bytes.length).toBe(12 + plaintext.length + 16);
    expect(blob!.bytes.includes(plaintext)).toBe(false);
    expect(Buffer.from(await (await download(uploaded.body.attachment.id)).arrayBuffer())).toEqual(plaintext);
  });

  it('refuses a missing file, an empty file, an unknown entry and an 11th attachment', async () => {
    const entry = await api.post('/api/vault/entries', { key: canary('limits'), entryType: 'text', value: 'x' });
    const entryId = entry.body.entry.id;
    expect(await upload(entryId)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: 'File is required' } } });
    expect(await upload(entryId, { bytes: Buffer.from('x'), field: 'other' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
    expect(await upload(entryId, { bytes: Buffer.alloc(0) })).toMatchObject({ status: 400, body: { error: { code: 'UPLOAD_FAILED', message: 'File is empty' } } });
    expect(await upload('01936d3c-0000-7000-8000-000000000000', { bytes: Buffer.from('x') })).toMatchObject({
      status: 400,
      body: { error: { code: 'UPLOAD_FAILED', message: 'Entry not found' } },
    });
    for (let n = 1; n <= 10; n++) expect((await upload(entryId, { bytes: Buffer.from(`file ${n}`), name: `${n}.txt` })).status).toBe(201);
    expect(await upload(entryId, { bytes: Buffer.from('one too many') })).toMatchObject({
      status: 400,
      body: { error: { code: 'UPLOAD_FAILED', message: 'Max 10 attachments per entry' } },
    });
    expect((await api.get(`/api/vault/entries/${entryId}/attachments`)).body.attachments).toHaveLength(10);
  });
});

describe('crypto-shredding', () => {
  it('leaves a deleted entry’s events in the log, without plaintext, and impossible to decrypt', async () => {
    const value = canary('shredded-value');
    const fileText = canary('shredded-file');
    const entry = await api.post('/api/vault/entries', { key: canary('doomed'), entryType: 'credential', value: { username: 'ada', password: value } });
    const entryId = entry.body.entry.id;
    await api.patch(`/api/vault/entries/${entryId}`, { value: { username: 'ada', password: `${value}-v2` } });
    const uploaded = await upload(entryId, { bytes: Buffer.from(fileText), name: 'secret.txt', type: 'text/plain' });
    expect(uploaded.status).toBe(201);
    const readModel = await server.services.readStore.collection(VAULT_ENTRIES).get(entryId);
    expect(JSON.stringify(readModel)).not.toContain(value);

    expect((await api.delete(`/api/vault/entries/${entryId}`)).status).toBe(200);

    const events = await server.services.eventStore.readStream(vaultEntryStream(entryId));
    expect(events.map((e) => e.type)).toEqual(['VaultEntryCreated', 'VaultEntryUpdated', 'VaultAttachmentAdded', 'VaultEntryDeleted']);
    const log = JSON.stringify(await server.services.eventStore.readAll());
    expect(log).not.toContain(value);
    expect(log).not.toContain(fileText);
    expect(log).not.toContain(Buffer.from(fileText).toString('base64'));

    const owner = vaultSecretOwner(entryId);
    for (const event of events.slice(0, 2)) {
      const sealed = (event.data as { valueEncrypted: string }).valueEncrypted;
      expect(sealed).toEqual(expect.any(String));
      expect(await server.services.secrets.decrypt(owner, sealed)).toBeNull();
    }
    const keyStore = createSqliteKeyStore(join(server.dataDir, 'keys.db'));
    try {
      expect(await keyStore.get(owner)).toBeNull();
    } finally {
      await keyStore.close();
    }
    const blobHash = (events[2]!.data as { blobHash: string }).blobHash;
    expect(await server.services.blobs.get(blobHash)).toBeNull();
    expect(await api.get(`/api/vault/entries/${entryId}`)).toMatchObject({ status: 404 });
    // Its key can be used again.
    expect((await api.post('/api/vault', { key: (entry.body.entry as { key: string }).key, value: 'reborn' })).status).toBe(201);
  });

  it('keeps the keys when the read models are wiped and rebuilt', async () => {
    const own = await startTestServer();
    try {
      const { api: ownApi, cookie: ownCookie } = await signUp(own.url);
      const value = canary('survivor');
      const bytes = Buffer.from(canary('survivor-file'));
      const entryId = (await ownApi.post('/api/vault', { key: 'SURVIVOR', value })).body.secret.id;
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(bytes)]), 'keep.bin');
      const uploaded = await fetch(`${own.url}/api/vault/entries/${entryId}/attachments`, { method: 'POST', body: form, headers: { cookie: ownCookie } });
      const attachmentId = ((await uploaded.json()) as { attachment: { id: string } }).attachment.id;
      await own.stop();

      // Every read model, checkpoints included, is gone; the event log and keys.db stay.
      const config = loadConfig({ ...process.env, KINBOT_DATA_DIR: own.dataDir, PORT: '0', LOG_LEVEL: 'silent' });
      const stores = await openStores(config);
      try {
        for (const name of await stores.readStore.listCollections()) await stores.readStore.dropCollection(name);
        expect(await stores.readStore.collection(VAULT_ENTRIES).count()).toBe(0);
      } finally {
        await stores.close();
      }

      const restarted = await startTestServer(own.dataDir);
      try {
        const again = await signIn(restarted.url);
        const read = await until(() => again.get(`/api/vault/entries/${entryId}`), (r) => r.status === 200);
        expect(read.body).toEqual({ entryType: 'text', value });
        const file = await fetch(`${restarted.url}/api/vault/attachments/${attachmentId}`, { headers: again.credentials });
        expect(Buffer.from(await file.arrayBuffer())).toEqual(bytes);
      } finally {
        await restarted.stop();
      }
    } finally {
      await own.cleanup();
    }
  });
});

/** Signs the first test user in again, on a server restarted over its data dir. */
async function signIn(baseUrl: string) {
  const response = await fetch(`${baseUrl}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery' }),
  });
  expect(response.status).toBe(200);
  const credentials = { cookie: response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
  return { ...client(baseUrl, credentials), credentials };
}
