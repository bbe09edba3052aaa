import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fakes/fakeLlm.js';
import { addFakeProvider, kinInput, signUp, startTestServer, until, type Client, type TestServer } from './helpers.js';

let server: TestServer;
let llm: FakeLlm;
let api: Client;

beforeAll(async () => {
  llm = await startFakeLlm({ apiKey: 'sk-fake' });
  server = await startTestServer();
  ({ api } = await signUp(server.url));
  expect((await addFakeProvider(api, llm.baseUrl, 'sk-fake')).status).toBe(201);
});
afterAll(async () => {
  await server.cleanup();
  await llm.close();
});

/** A second account, invited by the admin. */
async function signUpInvited(name: string) {
  const { token } = (await api.post('/api/invitations', {})).body.invitation;
  const user = { name, email: `${name.toLowerCase()}@example.com`, password: 'correct horse battery', invitationToken: token };
  return signUp(server.url, user);
}

const revalidate = (target: Client, path: string, etag: string) => target.request('GET', path, undefined, { 'if-none-match': etag });

const newKin = async (name: string) => {
  const created = await api.post('/api/kins', kinInput({ name, model: 'fake-chat' }));
  expect(created.status).toBe(201);
  return created.body.kin as { id: string; slug: string };
};

describe('GET /api/kins', () => {
  it('answers a repeated request with 304 and no body when the client sends the strong ETag it was given', async () => {
    await newKin('Cached');
    const first = await api.get('/api/kins');
    const etag = first.headers.get('etag')!;
    expect(first.status).toBe(200);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');

    const again = await revalidate(api, '/api/kins', etag);
    expect(again.status).toBe(304);
    expect(again.body).toBeNull();
    expect(again.headers.get('etag')).toBe(etag);
    // Without If-None-Match the same bytes come back.
    const plain = await api.get('/api/kins');
    expect(plain.headers.get('etag')).toBe(etag);
    expect(plain.body).toEqual(first.body);
  });

  it('shows a created, renamed or deleted Kin in the very next GET, under a new ETag', async () => {
    const before = await api.get('/api/kins');
    const created = await newKin('Fresh');
    const afterCreate = await revalidate(api, '/api/kins', before.headers.get('etag')!);
    expect(afterCreate.status).toBe(200);
    expect(afterCreate.headers.get('etag')).not.toBe(before.headers.get('etag'));
    expect(afterCreate.body.kins.map((kin: { id: string }) => kin.id)).toContain(created.id);

    expect((await api.patch(`/api/kins/${created.id}`, { name: 'Renamed' })).status).toBe(200);
    const afterRename = await revalidate(api, '/api/kins', afterCreate.headers.get('etag')!);
    expect(afterRename.status).toBe(200);
    expect(afterRename.body.kins.find((kin: { id: string }) => kin.id === created.id).name).toBe('Renamed');

    expect((await api.delete(`/api/kins/${created.id}`)).status).toBe(200);
    const afterDelete = await api.get('/api/kins');
    expect(afterDelete.body.kins.map((kin: { id: string }) => kin.id)).not.toContain(created.id);
  });

  it('marks the hub as soon as it is chosen', async () => {
    const hub = await newKin('Hub');
    await api.get('/api/kins'); // an answer is cached before the setting changes
    expect((await api.request('PUT', '/api/settings/hub', { kinId: hub.id })).status).toBe(200);
    const listed = (await api.get('/api/kins')).body.kins.find((kin: { id: string }) => kin.id === hub.id);
    expect(listed.isHub).toBe(true);
  });
});

describe('queue state of a Kin', () => {
  const stateIn = async (kinId: string) => {
    const [list, detail] = await Promise.all([api.get('/api/kins'), api.get(`/api/kins/${kinId}`)]);
    const listed = list.body.kins.find((kin: { id: string }) => kin.id === kinId);
    const fromDetail = { queueSize: detail.body.queueSize, isProcessing: detail.body.isProcessing };
    // The list and the detail read the same model: they never disagree once both have settled.
    expect({ queueSize: listed.queueSize, isProcessing: listed.isProcessing }).toEqual(fromDetail);
    return fromDetail;
  };

  it('counts waiting messages and shows the turn in progress, in the list and in the detail', async () => {
    const kin = await newKin('Busy');
    expect(await stateIn(kin.id)).toEqual({ queueSize: 0, isProcessing: false });

    llm.hangNext();
    expect((await api.post(`/api/kins/${kin.id}/messages`, { content: 'first' })).status).toBe(202);
    const running = await until(() => stateIn(kin.id), (state) => state.isProcessing);
    expect(running).toEqual({ queueSize: 0, isProcessing: true });

    expect((await api.post(`/api/kins/${kin.id}/messages`, { content: 'second' })).status).toBe(202);
    expect(await stateIn(kin.id)).toEqual({ queueSize: 1, isProcessing: true });

    llm.setDefault({ text: 'Done.' });
    expect((await api.post(`/api/kins/${kin.id}/messages/stop`)).status).toBe(200);
    const idle = await until(() => stateIn(kin.id), (state) => !state.isProcessing && state.queueSize === 0);
    expect(idle).toEqual({ queueSize: 0, isProcessing: false });
    const history = (await api.get(`/api/kins/${kin.id}/messages`)).body.messages;
    expect(history.at(-1)).toMatchObject({ role: 'assistant', content: 'Done.' });
  });
});

describe('the other lists', () => {
  const lists: { path: string; key: string; create: () => Promise<string> }[] = [
    {
      path: '/api/providers',
      key: 'providers',
      create: async () => (await addFakeProvider(api, llm.baseUrl, 'sk-fake')).body.provider.id,
    },
    {
      path: '/api/webhooks',
      key: 'webhooks',
      create: async () => (await api.post('/api/webhooks', { kinId: (await newKin('Hooked')).id, name: 'Hook' })).body.webhook.id,
    },
    {
      path: '/api/crons',
      key: 'crons',
      create: async () => {
        const kin = await newKin('Scheduled');
        return (await api.post('/api/crons', { kinId: kin.id, name: 'Digest', schedule: '0 9 * * *', taskDescription: 'Summarise' })).body.cron.id;
      },
    },
    {
      path: '/api/users/mentionables',
      key: 'kins',
      create: async () => (await newKin('Mentioned')).id,
    },
  ];

  for (const list of lists) {
    it(`answers ${list.path} with 304 while nothing changed, and with the new item right after a POST`, async () => {
      const first = await api.get(list.path);
      const etag = first.headers.get('etag')!;
      expect((await revalidate(api, list.path, etag)).status).toBe(304);
      const id = await list.create();
      const next = await revalidate(api, list.path, etag);
      expect(next.status).toBe(200);
      expect(next.body[list.key].map((item: { id: string }) => item.id)).toContain(id);
    });
  }

  it('answers /api/users with a new user as soon as they signed up', async () => {
    const before = await api.get('/api/users');
    const grace = await signUpInvited('Grace');
    const after = await revalidate(api, '/api/users', before.headers.get('etag')!);
    expect(after.status).toBe(200);
    expect(after.body.users.map((user: { id: string }) => user.id)).toContain(grace.userId);
  });
});

describe('a list that depends on the caller', () => {
  it("never serves one user's cached quick sessions to another", async () => {
    const kin = await newKin('Shared');
    const bob = await signUpInvited('Bob');
    const path = `/api/kins/${kin.id}/quick-sessions`;

    const mine = await api.post(path, { title: 'Ada alone' });
    expect(mine.status).toBe(201);
    const adaList = await api.get(path);
    expect(adaList.body.sessions.map((session: { id: string }) => session.id)).toEqual([mine.body.id]);

    // Nothing has moved since Ada's answer was cached: Bob still gets his own, empty, list.
    const bobList = await bob.api.get(path);
    expect(bobList.status).toBe(200);
    expect(bobList.body.sessions).toEqual([]);
    expect(bobList.headers.get('etag')).not.toBe(adaList.headers.get('etag'));
    // Ada's ETag does not make Ada's answer Bob's.
    expect((await revalidate(bob.api, path, adaList.headers.get('etag')!)).status).toBe(200);

    const his = await bob.api.post(path, { title: 'Bob alone' });
    expect((await bob.api.get(path)).body.sessions.map((session: { id: string }) => session.id)).toEqual([his.body.id]);
    expect((await api.get(path)).body.sessions.map((session: { id: string }) => session.id)).toEqual([mine.body.id]);
  });
});
