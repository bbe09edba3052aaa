import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notify } from '../../src/commands/notifications.js';
import { apiKeyClient, client, signUp, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  server = await startTestServer();
  admin = await signUp(server.url);
});
afterAll(() => server.cleanup());

const invite = async (body?: object) => {
  const created = await admin.api.post('/api/invitations', body);
  expect(created.status).toBe(201);
  return created.body.invitation as { id: string; token: string; url: string; expiresAt: number; createdAt: number; label: string | null };
};

let accounts = 0;
/** Signs up through HTTP, with an invitation token in the sign-up body when given. */
const signUpWith = (invitationToken?: string) => {
  accounts += 1;
  const user = { name: `Grace Hopper${accounts}`, email: `grace${accounts}@example.com`, password: 'correct horse battery' };
  const withToken = { ...user, invitationToken };
  return signUp(server.url, invitationToken ? withToken : user);
};

describe('creating and listing invitations', () => {
  it('creates an invitation with a 64-hex token, a URL and a default expiry of 7 days', async () => {
    const invitation = await invite({ label: 'For Grace' });
    expect(invitation.token).toMatch(/^[0-9a-f]{64}$/);
    expect(invitation.url).toBe(`${server.services.config.publicUrl.replace(/\/+$/, '')}/invite/${invitation.token}`);
    expect(invitation.expiresAt - invitation.createdAt).toBe(7 * 24 * 60 * 60 * 1000);
    expect(invitation).toMatchObject({ label: 'For Grace', role: 'member' });
  });

  it('lists invitations newest first with the token cut to 8 characters and the URL while active', async () => {
    const invitation = await invite({ label: 'Listed' });
    const { status, body } = await admin.api.get('/api/invitations');
    expect(status).toBe(200);
    const listed = body.invitations[0];
    expect(listed).toMatchObject({
      id: invitation.id,
      token: `${invitation.token.slice(0, 8)}...`,
      label: 'Listed',
      createdBy: admin.userId,
      creatorName: 'Ada Lovelace',
      usedAt: null,
      usedBy: null,
      url: invitation.url,
    });
    expect(typeof listed.createdAt).toBe('string');
  });

  it('keeps the token out of the event log in plaintext', async () => {
    const invitation = await invite();
    const events = await server.services.eventStore.readStream(`invitation-${invitation.id}`);
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain(invitation.token);
  });

  it('refuses an expiry that is not a positive number of days up to 365', async () => {
    for (const expiresInDays of [0, -1, 366, 'soon']) {
      const response = await admin.api.post('/api/invitations', { expiresInDays });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_ERROR');
    }
  });

  it('revokes an unused invitation, after which it validates as NOT_FOUND', async () => {
    const invitation = await invite();
    expect((await admin.api.delete(`/api/invitations/${invitation.id}`)).body).toEqual({ success: true });
    expect((await client(server.url).get(`/api/invitations/${invitation.token}/validate`)).body).toEqual({ valid: false, reason: 'NOT_FOUND' });
    expect((await admin.api.get('/api/invitations')).body.invitations.map((i: { id: string }) => i.id)).not.toContain(invitation.id);
    const again = await admin.api.delete(`/api/invitations/${invitation.id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('NOT_FOUND');
  });
});

describe('validating a token (public)', () => {
  it('answers valid with the label, or the reason: NOT_FOUND, ALREADY_USED, EXPIRED', async () => {
    const anonymous = client(server.url);
    const labelled = await invite({ label: 'Welcome' });
    expect((await anonymous.get(`/api/invitations/${labelled.token}/validate`)).body).toEqual({ valid: true, label: 'Welcome' });
    const unlabelled = await invite();
    expect((await anonymous.get(`/api/invitations/${unlabelled.token}/validate`)).body).toEqual({ valid: true });
    expect((await anonymous.get(`/api/invitations/${'0'.repeat(64)}/validate`)).body).toEqual({ valid: false, reason: 'NOT_FOUND' });

    await signUpWith(unlabelled.token);
    expect((await anonymous.get(`/api/invitations/${unlabelled.token}/validate`)).body).toEqual({ valid: false, reason: 'ALREADY_USED' });

    const shortLived = await invite({ expiresInDays: 0.5 / (24 * 60 * 60) });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await anonymous.get(`/api/invitations/${shortLived.token}/validate`)).body).toEqual({ valid: false, reason: 'EXPIRED' });
  });
});

describe('an invited member', () => {
  let member: Awaited<ReturnType<typeof signUp>>;
  let invitation: Awaited<ReturnType<typeof invite>>;

  beforeAll(async () => {
    invitation = await invite({ label: 'Member' });
    member = await signUpWith(invitation.token);
  });

  it('signs up with the token and gets the member role and a profile at once', async () => {
    const me = await member.api.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: member.userId, role: 'member', firstName: 'Grace' });
    const listed = (await admin.api.get('/api/invitations')).body.invitations.find((i: { id: string }) => i.id === invitation.id);
    expect(listed).toMatchObject({ usedBy: member.userId, usedByName: expect.stringContaining('Grace'), url: null });
    expect(listed.usedAt).not.toBeNull();
  });

  it('gets 403 FORBIDDEN on admin routes', async () => {
    for (const [method, path, body] of [
      ['POST', '/api/invitations', {}],
      ['GET', '/api/invitations', undefined],
      ['PUT', '/api/settings/global-prompt', { content: 'x' }],
      ['POST', '/api/providers', { name: 'x', type: 'openai', config: { apiKey: 'k' } }],
      ['DELETE', `/api/users/${admin.userId}`, undefined],
    ] as const) {
      const response = await member.api.request(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body).toEqual({ error: { code: 'FORBIDDEN', message: 'Admin access required' } });
    }
  });

  it('cannot revoke a used invitation (409 ALREADY_USED), and nobody can use it twice', async () => {
    const revoke = await admin.api.delete(`/api/invitations/${invitation.id}`);
    expect(revoke.status).toBe(409);
    expect(revoke.body.error.code).toBe('ALREADY_USED');
    const second = await fetch(`${server.url}/api/auth/sign-up/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Eve', email: 'eve@example.com', password: 'password123', invitationToken: invitation.token }),
    });
    expect(second.status).toBe(400);
    expect(await second.json()).toMatchObject({ code: 'INVALID_INVITATION', message: 'Invalid invitation: ALREADY_USED' });
    const signIn = await client(server.url).post('/api/auth/sign-in/email', { email: 'eve@example.com', password: 'password123' });
    expect(signIn.status).toBe(401);
  });

  it('is consumed once when two sign-ups race for it: one gets a profile, the other is refused or gets none', async () => {
    const raced = await invite();
    const attempt = (n: number) =>
      fetch(`${server.url}/api/auth/sign-up/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Racer ${n}`, email: `racer${n}@example.com`, password: 'password123', invitationToken: raced.token }),
      });
    const responses = await Promise.all([attempt(1), attempt(2)]);
    const outcomes = await Promise.all(
      responses.map(async (response) => {
        if (response.status !== 200) return response.status;
        const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
        return (await client(server.url, { cookie }).get('/api/kins')).status;
      }),
    );
    expect(outcomes.filter((status) => status === 200)).toHaveLength(1);
    expect(outcomes.filter((status) => status !== 200).every((status) => status === 400 || status === 403)).toBe(true);
    const events = await server.services.eventStore.readStream(`invitation-${raced.id}`);
    expect(events.filter((event) => event.type === 'InvitationConsumed')).toHaveLength(1);
  });

  it('sees only their own notifications', async () => {
    const metadata = { actor: { kind: 'system' as const, id: 'tests' }, correlationId: 'tests', now: new Date() };
    const sent = await notify(server.services, { type: 'kin:alert', title: 'For the admin only', userIds: [admin.userId] }, metadata);
    await server.services.settle(sent.position);
    const mine = await member.api.get('/api/notifications');
    expect(mine.status).toBe(200);
    expect(mine.body.notifications).toEqual([]);
    const admins = await admin.api.get('/api/notifications');
    expect(admins.body.notifications.map((n: { title: string }) => n.title)).toContain('For the admin only');
    const id = admins.body.notifications[0].id;
    expect((await member.api.request('PATCH', `/api/notifications/${id}/read`)).status).toBe(404);
  });

  it('sees only their own API keys', async () => {
    const adminKey = await apiKeyClient(server.url, admin.cookie);
    const memberKey = await apiKeyClient(server.url, member.cookie);
    const listed = await member.api.get('/api/auth/api-key/list');
    const keys = (Array.isArray(listed.body) ? listed.body : listed.body.apiKeys) as { id: string }[];
    expect(keys.map((k) => k.id)).toEqual([memberKey.id]);
    expect((await memberKey.api.get('/api/me')).body).toMatchObject({ id: member.userId, role: 'member' });
    expect((await memberKey.api.get('/api/invitations')).status).toBe(403);
    expect((await admin.api.get('/api/auth/api-key/list')).body).not.toContainEqual(expect.objectContaining({ id: memberKey.id }));
    expect(adminKey.id).not.toBe(memberKey.id);
  });

  it('gets the admin role from an admin invitation', async () => {
    const adminInvitation = await invite({ role: 'admin' });
    const second = await signUpWith(adminInvitation.token);
    expect((await second.api.get('/api/me')).body.role).toBe('admin');
    expect((await second.api.get('/api/invitations')).status).toBe(200);
  });
});

describe('the limit of active invitations', () => {
  it('refuses the 51st active invitation with INVITATION_LIMIT', async () => {
    const active = (await admin.api.get('/api/invitations')).body.invitations.filter((i: { url: string | null }) => i.url !== null).length;
    for (let i = active; i < 50; i++) await invite();
    const refused = await admin.api.post('/api/invitations', {});
    expect(refused.status).toBe(400);
    expect(refused.body.error).toEqual({ code: 'INVITATION_LIMIT', message: 'Max active invitations (50) reached' });
  });
});
