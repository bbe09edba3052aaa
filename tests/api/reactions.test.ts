import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reactionsOf } from '../../src/projections/reactions.js';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';
import { openSse } from './sse.js';

let server: TestServer;
let api: Client;
let cookie: string;
let userId: string;
let kin: { id: string; slug: string };
let otherKin: { id: string; slug: string };

beforeAll(async () => {
  server = await startTestServer();
  ({ api, cookie, userId } = await signUp(server.url));
  kin = (await api.post('/api/kins', kinInput({ name: 'Reactor' }))).body.kin;
  otherKin = (await api.post('/api/kins', kinInput({ name: 'Elsewhere' }))).body.kin;
});
afterAll(() => server.cleanup());

/**
 * A user message in the conversation, recorded as the conversation engine records one: the turn's
 * stream gets MessageQueued then TurnStarted (which puts the message in the history).
 */
async function seedMessage(kinId: string, content = 'hello'): Promise<string> {
  const queueItemId = uuidv7();
  const userMessageId = uuidv7();
  const at = new Date().toISOString();
  const metadata = { actor: { kind: 'user' as const, id: userId }, correlationId: queueItemId, causationId: queueItemId, occurredAt: at, schemaVersion: 1 };
  const { position } = await server.services.eventStore.append(
    `turn-${queueItemId}`,
    [
      {
        type: 'MessageQueued',
        data: { queueItemId, kinId, sessionId: null, content, fileIds: [], sourceType: 'user', sourceId: userId, priority: 100, queuedAt: at },
        metadata,
      },
      { type: 'TurnStarted', data: { queueItemId, kinId, userMessageId, startedAt: at }, metadata },
    ],
    'no_stream',
  );
  await server.services.settle(position);
  return userMessageId;
}

const reactionsPath = (kinRef: string, messageId: string) => `/api/kins/${kinRef}/messages/${messageId}/reactions`;

describe('POST /api/kins/:kinId/messages/:messageId/reactions', () => {
  it('adds a reaction, lists it, and removes it when the same emoji comes again', async () => {
    const messageId = await seedMessage(kin.id);
    const added = await api.post(reactionsPath(kin.id, messageId), { emoji: '👍' });
    expect(added.status).toBe(200);
    expect(added.body).toEqual({ action: 'added', reactionId: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    const listed = await api.get(reactionsPath(kin.id, messageId));
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      reactions: [{ id: added.body.reactionId, messageId, userId, emoji: '👍', createdAt: expect.any(String) }],
    });
    const createdAt = listed.body.reactions[0].createdAt;
    expect(new Date(createdAt).toISOString()).toBe(createdAt);

    const removed = await api.post(reactionsPath(kin.id, messageId), { emoji: '👍' });
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ action: 'removed', reactionId: added.body.reactionId });
    expect((await api.get(reactionsPath(kin.id, messageId))).body).toEqual({ reactions: [] });

    const again = await api.post(reactionsPath(kin.id, messageId), { emoji: '👍' });
    expect(again.body.action).toBe('added');
    expect(again.body.reactionId).not.toBe(added.body.reactionId);
  });

  it('keeps one reaction per emoji, accepts every preset emoji and the Kin slug', async () => {
    const messageId = await seedMessage(kin.id);
    for (const emoji of ['👍', '❤️', '😂', '😮', '😢', '🎉']) {
      const { status, body } = await api.post(reactionsPath(kin.slug, messageId), { emoji });
      expect([status, body.action]).toEqual([200, 'added']);
    }
    const { body } = await api.get(reactionsPath(kin.slug, messageId));
    expect(body.reactions.map((r: { emoji: string }) => r.emoji)).toEqual(['👍', '❤️', '😂', '😮', '😢', '🎉']);
  });

  it('stays consistent under concurrent toggles of one emoji', async () => {
    const messageId = await seedMessage(kin.id);
    const responses = await Promise.all(Array.from({ length: 6 }, () => api.post(reactionsPath(kin.id, messageId), { emoji: '🎉' })));
    const ok = responses.filter((r) => r.status === 200);
    expect(responses.every((r) => r.status === 200 || r.status === 409)).toBe(true);
    const added = ok.filter((r) => r.body.action === 'added').length;
    const removed = ok.filter((r) => r.body.action === 'removed').length;
    expect(added - removed).toBe((await api.get(reactionsPath(kin.id, messageId))).body.reactions.length);
    expect([0, 1]).toContain(added - removed);
  });

  it.each([
    ['an emoji outside the preset', { emoji: '👎' }],
    ['a heart without its variation selector', { emoji: '\u2764' }],
    ['a missing emoji', {}],
    ['a number', { emoji: 1 }],
  ])('answers 400 INVALID_EMOJI for %s', async (_case, body) => {
    const messageId = await seedMessage(kin.id);
    const response = await api.post(reactionsPath(kin.id, messageId), body);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('INVALID_EMOJI');
    expect(response.body.error.message).toBe('Invalid emoji: use one of 👍 ❤️ 😂 😮 😢 🎉');
  });

  it('answers 404 MESSAGE_NOT_FOUND for an unknown message or one of another Kin', async () => {
    const unknown = await api.post(reactionsPath(kin.id, uuidv7()), { emoji: '👍' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: 'MESSAGE_NOT_FOUND', message: 'Message not found' } });
    const elsewhere = await seedMessage(otherKin.id);
    const wrongKin = await api.post(reactionsPath(kin.id, elsewhere), { emoji: '👍' });
    expect(wrongKin.status).toBe(404);
    expect(wrongKin.body.error.code).toBe('MESSAGE_NOT_FOUND');
  });

  it('answers 404 KIN_NOT_FOUND for an unknown slug or Kin id', async () => {
    const messageId = await seedMessage(kin.id);
    for (const ref of ['no-such-kin', uuidv7()]) {
      const response = await api.post(reactionsPath(ref, messageId), { emoji: '👍' });
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: { code: 'KIN_NOT_FOUND', message: 'Kin not found' } });
    }
  });
});

describe('GET /api/kins/:kinId/messages/:messageId/reactions', () => {
  it('lists nothing for an unknown message, without checking the Kin', async () => {
    const { status, body } = await api.get(reactionsPath('any-kin', uuidv7()));
    expect(status).toBe(200);
    expect(body).toEqual({ reactions: [] });
  });
});

describe('reactionsOf', () => {
  it('groups the reactions of many messages, with an empty list for those without', async () => {
    const first = await seedMessage(kin.id);
    const second = await seedMessage(kin.id);
    const a = (await api.post(reactionsPath(kin.id, first), { emoji: '😂' })).body.reactionId;
    const b = (await api.post(reactionsPath(kin.id, first), { emoji: '😮' })).body.reactionId;
    const none = uuidv7();
    const map = await reactionsOf(server.services.readStore, [first, second, none]);
    expect([...map.keys()]).toEqual([first, second, none]);
    expect(map.get(first)).toEqual([
      { id: a, userId, emoji: '😂', createdAt: expect.any(String) },
      { id: b, userId, emoji: '😮', createdAt: expect.any(String) },
    ]);
    expect(map.get(second)).toEqual([]);
    expect(map.get(none)).toEqual([]);
  });
});

describe('credentials', () => {
  it.each([
    ['GET', 'get'],
    ['POST', 'post'],
  ])('%s answers 401 without credentials', async (method) => {
    const response = await client(server.url).request(method, reactionsPath(kin.id, uuidv7()), method === 'POST' ? { emoji: '👍' } : undefined);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Authentication required' } });
  });
});

describe('SSE', () => {
  it('sends reaction:added and reaction:removed with the user name, kinId on the envelope', async () => {
    const messageId = await seedMessage(kin.id);
    const sse = await openSse(server.url, { cookie });
    const added = (await api.post(reactionsPath(kin.id, messageId), { emoji: '❤️' })).body.reactionId;
    await api.post(reactionsPath(kin.id, messageId), { emoji: '❤️' });
    await sse.waitFor(() => sse.messages().some((m) => m.type === 'reaction:removed'));
    await sse.close();
    const received = sse.messages();
    const payload = { messageId, userId, userName: 'Ada Lovelace', emoji: '❤️', reactionId: added };
    expect(received.filter((m) => m.type.startsWith('reaction:'))).toEqual([
      { type: 'reaction:added', kinId: kin.id, data: payload },
      { type: 'reaction:removed', kinId: kin.id, data: payload },
    ]);
  });
});
