import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyClient, client, kinInput, signUp, startTestServer, type TestServer } from './helpers.js';

/** The seed's route list (tests/fixtures/seed-routes.json, extracted from seed-api.md). */
const seedRoutes = JSON.parse(readFileSync(new URL('../fixtures/seed-routes.json', import.meta.url), 'utf8')) as [string, string][];

/** Public by DECISIONS.md §5; everything else under /api needs a session or a key. */
const isPublic = (path: string) =>
  path.startsWith('/api/auth/') ||
  path.startsWith('/s/') ||
  path.startsWith('/api/webhooks/incoming/') ||
  /^\/api\/channels\/(telegram|slack|whatsapp|signal)\//.test(path) ||
  /^\/api\/invitations\/[^/]+\/validate$/.test(path);

let server: TestServer;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  server = await startTestServer();
  admin = await signUp(server.url);
});
afterAll(() => server.cleanup());

describe('sign-up', () => {
  it('makes the first user an admin who can use the API at once', async () => {
    const me = await admin.api.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: admin.userId, email: 'ada@example.com', role: 'admin', firstName: 'Ada', lastName: 'Lovelace' });
    expect((await admin.api.post('/api/kins', kinInput())).status).toBe(201);
  });

  it('accepts a later sign-up without an invitation as an account that must complete onboarding', async () => {
    const mallory = await signUp(server.url, { name: 'Mallory', email: 'mallory@example.com', password: 'password123' });
    const kins = await mallory.api.get('/api/kins');
    expect(kins.status).toBe(403);
    expect(kins.body).toEqual({ error: { code: 'PROFILE_REQUIRED', message: 'Account setup incomplete. Please complete onboarding.' } });
    const users = await admin.api.get('/api/users');
    expect(users.body.users.map((u: { email: string }) => u.email)).toEqual(['ada@example.com']);
  });

  it('records the sign-up as an event with the user as actor', async () => {
    const events = await server.services.eventStore.readStream('users-directory');
    expect(events[0]).toMatchObject({
      type: 'UserSignedUp',
      data: { userId: admin.userId, email: 'ada@example.com', role: 'admin' },
      metadata: { actor: { kind: 'user', id: admin.userId } },
    });
  });
});

describe('API keys', () => {
  it('authenticates X-API-Key as its owner on /api routes', async () => {
    const { api } = await apiKeyClient(server.url, admin.cookie);
    const created = await api.post('/api/kins', kinInput({ name: 'Keyed' }));
    expect(created.status).toBe(201);
    const me = await api.get('/api/me');
    expect(me.body.id).toBe(admin.userId);
    const events = await server.services.eventStore.readStream(`kin-${created.body.kin.id}`);
    expect(events[0]!.metadata.actor).toEqual({ kind: 'apiKey', id: admin.userId });
  });

  it('answers 401 (never 500) to a wrong key, even alongside a valid cookie', async () => {
    const wrong = client(server.url, { 'x-api-key': 'kb_not-a-real-key' });
    const { status, body } = await wrong.get('/api/kins');
    expect(status).toBe(401);
    expect(body.error.code).toBe('INVALID_API_KEY');
    const both = client(server.url, { 'x-api-key': 'kb_wrong', cookie: admin.cookie });
    expect((await both.get('/api/kins')).status).toBe(401);
  });

  it('lists keys and refuses a revoked key with 401', async () => {
    const { api, id } = await apiKeyClient(server.url, admin.cookie);
    expect((await api.get('/api/kins')).status).toBe(200);
    const listed = await admin.api.get('/api/auth/api-key/list');
    expect(listed.status).toBe(200);
    const keys = Array.isArray(listed.body) ? listed.body : listed.body.apiKeys;
    expect(keys.map((k: { id: string }) => k.id)).toContain(id);
    const revoked = await admin.api.post('/api/auth/api-key/delete', { keyId: id });
    expect(revoked.status).toBe(200);
    expect((await api.get('/api/kins')).status).toBe(401);
  });
});

describe('users', () => {
  it('lists users and refuses to delete yourself or an unknown user', async () => {
    const self = await admin.api.delete(`/api/users/${admin.userId}`);
    expect(self.status).toBe(400);
    expect(self.body.error.code).toBe('CANNOT_DELETE_SELF');
    const unknown = await admin.api.delete('/api/users/01936d3c-0000-7000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
  });
});

describe('every non-public seed route', () => {
  const guarded = seedRoutes.filter(([, path]) => !isPublic(path));
  it('has the seed list to check', () => expect(guarded.length).toBeGreaterThan(150));

  it.each(guarded)('%s %s answers 401 with the envelope without credentials', async (method, path) => {
    const concrete = path.replace(/:[A-Za-z]+/g, 'x').replace('*.d.ts', 'kinbot.d.ts').replace('/*', '/file.txt');
    const { status, body } = await client(server.url).request(method, concrete, method === 'GET' ? undefined : {});
    expect(status).toBe(401);
    expect(body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
  });
});
