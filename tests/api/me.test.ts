import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinInput, signUp, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let ada: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  server = await startTestServer();
  ada = await signUp(server.url);
});
afterAll(() => server.cleanup());

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082',
  'hex',
);

function uploadAvatar(bytes: Buffer, name = 'me.png', type = 'image/png', cookie = ada.cookie) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
  return fetch(`${server.url}/api/me/avatar`, { method: 'POST', headers: { cookie }, body: form });
}

describe('GET /api/me', () => {
  it('answers the profile with createdAt in epoch ms and no avatar or orderings yet', async () => {
    const { status, body } = await ada.api.get('/api/me');
    expect(status).toBe(200);
    expect(body).toEqual({
      id: ada.userId,
      email: 'ada@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      pseudonym: 'Ada Lovelace',
      language: 'en',
      role: 'admin',
      avatarUrl: null,
      kinOrder: null,
      cronOrder: null,
      createdAt: expect.any(Number),
    });
  });
});

describe('PATCH /api/me', () => {
  it('updates names, pseudonym, language and orderings, and a following GET sees them', async () => {
    const patched = await ada.api.patch('/api/me', {
      firstName: '  Augusta ',
      lastName: 'King',
      pseudonym: 'ada_k',
      language: 'de',
      kinOrder: ['k2', 'k1'],
      cronOrder: [],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ firstName: 'Augusta', lastName: 'King', pseudonym: 'ada_k', language: 'de', kinOrder: ['k2', 'k1'], cronOrder: [] });
    expect((await ada.api.get('/api/me')).body).toMatchObject({ firstName: 'Augusta', kinOrder: ['k2', 'k1'] });
    const listed = (await ada.api.get('/api/users')).body.users[0];
    expect(listed).toMatchObject({ name: 'Augusta King', pseudonym: 'ada_k', language: 'de' });
  });

  it('reports every invalid field at once and changes nothing', async () => {
    const before = (await ada.api.get('/api/me')).body;
    const response = await ada.api.patch('/api/me', {
      firstName: 'x'.repeat(101),
      pseudonym: 'no spaces',
      language: 'es',
      kinOrder: Array.from({ length: 201 }, (_, i) => `k${i}`),
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_ERROR');
    expect(response.body.error.message.split('; ')).toEqual([
      'First name must be at most 100 characters',
      'Pseudonym may only contain letters, digits, _ and -',
      'Language must be one of: en, fr, de',
      'kinOrder must have at most 200 items',
    ]);
    expect((await ada.api.get('/api/me')).body).toEqual(before);
  });

  it('refuses fields of the wrong type with 400, never 500', async () => {
    expect((await ada.api.patch('/api/me', { kinOrder: 'k1' })).status).toBe(400);
    expect((await ada.api.patch('/api/me', { firstName: 3 })).status).toBe(400);
    expect((await ada.api.request('PATCH', '/api/me', '{"firstName":', { 'content-type': 'application/json' })).status).toBe(400);
  });
});

describe('POST /api/me/avatar', () => {
  it('stores an image recognised by its bytes and serves it at the returned URL', async () => {
    const response = await uploadAvatar(PNG, 'whatever.bin', 'application/octet-stream');
    expect(response.status).toBe(200);
    const { avatarUrl } = (await response.json()) as { avatarUrl: string };
    expect(avatarUrl).toMatch(new RegExp(`^/api/uploads/avatars/${ada.userId}\\.png\\?v=\\d+$`));
    expect((await ada.api.get('/api/me')).body.avatarUrl).toBe(avatarUrl);
    const served = await fetch(server.url + avatarUrl, { headers: { cookie: ada.cookie } });
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await served.arrayBuffer())).toEqual(PNG);
    expect((await fetch(server.url + avatarUrl)).status).toBe(401);
    const mentionables = (await ada.api.get('/api/users/mentionables')).body;
    expect(mentionables.users).toEqual([{ id: ada.userId, pseudonym: 'ada_k', firstName: 'Augusta', avatarUrl }]);
  });

  it('refuses a file that is not an image, and a request without a file', async () => {
    const text = await uploadAvatar(Buffer.from('not an image'), 'fake.png');
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe('INVALID_FILE_TYPE');
    const none = await fetch(`${server.url}/api/me/avatar`, { method: 'POST', headers: { cookie: ada.cookie }, body: new FormData() });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('INVALID_FILE');
  });
});

describe('GET /api/users/mentionables', () => {
  it('lists Kins with id, slug, name and avatarUrl', async () => {
    const kin = (await ada.api.post('/api/kins', kinInput({ name: 'Scout' }))).body.kin;
    const { body } = await ada.api.get('/api/users/mentionables');
    expect(body.kins).toContainEqual({ id: kin.id, slug: kin.slug, name: 'Scout', avatarUrl: null });
  });
});
