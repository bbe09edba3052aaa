import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { addFakeProvider, client, kinInput, signUp, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let llm: FakeLlm;

beforeAll(async () => {
  server = await startTestServer();
  llm = await startFakeLlm();
});
afterAll(async () => {
  await llm.close();
  await server.cleanup();
});

const status = async () => (await client(server.url).get('/api/onboarding/status')).body;
const profile = { firstName: 'Grace', lastName: 'Hopper', pseudonym: 'grace_h', language: 'fr' };

describe('onboarding', () => {
  let admin: Awaited<ReturnType<typeof signUp>>;

  it('reports nothing set up on a fresh server, publicly', async () => {
    const response = await client(server.url).get('/api/onboarding/status');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ completed: false, hasAdmin: false, hasLlm: false, hasEmbedding: false });
  });

  it('has an admin once the first user signs up, whose profile already exists', async () => {
    admin = await signUp(server.url);
    expect(await status()).toEqual({ completed: false, hasAdmin: true, hasLlm: false, hasEmbedding: false });
    const again = await admin.api.post('/api/onboarding/profile', profile);
    expect(again.status).toBe(409);
    expect(again.body.error).toEqual({ code: 'PROFILE_EXISTS', message: 'Profile already exists' });
  });

  it('is completed once a provider gives llm and embedding', async () => {
    expect((await addFakeProvider(admin.api, llm.baseUrl)).status).toBe(201);
    expect(await status()).toEqual({ completed: true, hasAdmin: true, hasLlm: true, hasEmbedding: true });
  });

  it('needs a session to create a profile', async () => {
    const response = await client(server.url).post('/api/onboarding/profile', profile);
    expect(response.status).toBe(401);
  });
});

describe("the web app's invite flow", () => {
  let admin: ReturnType<typeof client>;
  let invited: Awaited<ReturnType<typeof signUp>>;

  beforeAll(async () => {
    admin = client(server.url, { cookie: (await signInAdmin()).cookie });
    invited = await signUp(server.url, { name: 'Grace', email: 'grace@example.com', password: 'correct horse battery' });
  });

  async function signInAdmin() {
    const response = await fetch(`${server.url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery' }),
    });
    return { cookie: response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
  }

  it('lets an account signed up without a token read /api/me but nothing else', async () => {
    const kins = await invited.api.get('/api/kins');
    expect(kins.status).toBe(403);
    expect(kins.body).toEqual({ error: { code: 'PROFILE_REQUIRED', message: 'Account setup incomplete. Please complete onboarding.' } });
    expect((await invited.api.patch('/api/me', { firstName: 'Sneaky' })).status).toBe(403);
    const me = await invited.api.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: invited.userId, email: 'grace@example.com', firstName: null, pseudonym: null, role: null });
    const users = await admin.get('/api/users');
    expect(users.body.users.map((u: { email: string }) => u.email)).not.toContain('grace@example.com');
  });

  it('asks for an invitation once an admin exists, and refuses an unknown one', async () => {
    const missing = await invited.api.post('/api/onboarding/profile', profile);
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('INVITATION_REQUIRED');
    const unknown = await invited.api.post('/api/onboarding/profile', { ...profile, invitationToken: '0'.repeat(64) });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('INVALID_INVITATION');
    expect(unknown.body.error.message).toContain('NOT_FOUND');
  });

  it('reports every invalid field at once, joined with "; "', async () => {
    const response = await invited.api.post('/api/onboarding/profile', { firstName: '  ', lastName: 'x'.repeat(101), pseudonym: 'a b', language: 'es' });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_ERROR');
    expect(response.body.error.message.split('; ')).toEqual([
      'First name is required',
      'Last name must be at most 100 characters',
      'Pseudonym may only contain letters, digits, _ and -',
      'Language must be one of: en, fr, de',
    ]);
  });

  it('creates the profile with the invitation and its role, then opens the API', async () => {
    const invitation = (await admin.post('/api/invitations', { label: 'Grace' })).body.invitation;
    const created = await invited.api.post('/api/onboarding/profile', { ...profile, invitationToken: invitation.token });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ userId: invited.userId, ...profile, role: 'member' });
    expect((await invited.api.get('/api/kins')).status).toBe(200);
    expect((await invited.api.post('/api/kins', kinInput())).status).toBe(201);
    expect((await invited.api.get('/api/me')).body).toMatchObject({ firstName: 'Grace', lastName: 'Hopper', pseudonym: 'grace_h', language: 'fr', role: 'member' });
    const listed = (await admin.get('/api/users')).body.users.find((u: { id: string }) => u.id === invited.userId);
    expect(listed).toMatchObject({ name: 'Grace Hopper', pseudonym: 'grace_h', role: 'member' });
    const again = await invited.api.post('/api/onboarding/profile', { ...profile, invitationToken: invitation.token });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('PROFILE_EXISTS');
    expect((await client(server.url).get(`/api/invitations/${invitation.token}/validate`)).body).toEqual({ valid: false, reason: 'ALREADY_USED' });
  });

  it('refuses an invitation that another account already used', async () => {
    const latecomer = await signUp(server.url, { name: 'Late', email: 'late@example.com', password: 'correct horse battery' });
    const invitation = (await admin.post('/api/invitations', {})).body.invitation;
    const early = { name: 'Early', email: 'early@example.com', password: 'correct horse battery', invitationToken: invitation.token };
    await signUp(server.url, early);
    const response = await latecomer.api.post('/api/onboarding/profile', { ...profile, invitationToken: invitation.token });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'INVALID_INVITATION', message: 'Invalid invitation: ALREADY_USED' });
    expect((await latecomer.api.get('/api/kins')).status).toBe(403);
  });
});
