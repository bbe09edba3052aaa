import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';

/**
 * What the original web app (v0.26) depends on (webapp.md): the tool domains its Tools tab knows,
 * the Bearer header it sends next to the cookie, the provider-test switch of its end-to-end suite,
 * and an audit of every call it makes. The server runs with E2E_SKIP_PROVIDER_TEST, as that suite's does.
 */

/** The 22 keys of the app's TOOL_DOMAIN_META (webapp.md §4), written out here rather than taken from the code. */
const WEB_APP_TOOL_DOMAINS = [
  'search', 'browse', 'contacts', 'memory', 'vault', 'tasks', 'inter-kin', 'crons', 'custom', 'images', 'shell',
  'filesystem', 'file-storage', 'mcp', 'kin-management', 'webhooks', 'channels', 'system', 'users', 'database',
  'mini-apps', 'plugins',
];

/** Every method + path of webapp.md §2, extracted once from the spec (queries dropped). */
const webAppCalls = JSON.parse(readFileSync(new URL('../fixtures/webapp-calls.json', import.meta.url), 'utf8')) as [string, string][];

/**
 * Calls of the app that other issues will build; until then they may answer as unknown routes
 * (404 ROUTE_NOT_FOUND, or 405 where the path already serves other methods). Remove a line when
 * its route lands: from then on it is held to the same rules as every other call.
 */
const NOT_BUILT_YET = new Set([
  // Channels and contacts (channels-contacts.md)
  'GET /api/channels',
  'POST /api/channels',
  'PATCH /api/channels/:id',
  'DELETE /api/channels/:id',
  'POST /api/channels/:id/activate',
  'POST /api/channels/:id/deactivate',
  'POST /api/channels/:id/test',
  'GET /api/channels/:id/user-mappings',
  'POST /api/channels/:id/user-mappings/:mapId/approve',
  'GET /api/contacts',
  'POST /api/contacts',
  'PATCH /api/contacts/:id',
  'DELETE /api/contacts/:id',
  'POST /api/contacts/:id/identifiers',
  'PATCH /api/contacts/:id/identifiers/:identifierId',
  'DELETE /api/contacts/:id/identifiers/:identifierId',
  'POST /api/contacts/:id/notes',
  'PATCH /api/contacts/:id/notes/:noteId',
  'DELETE /api/contacts/:id/notes/:noteId',
  'GET /api/contacts/:id/platform-ids',
  'POST /api/contacts/:id/platform-ids',
  'DELETE /api/contacts/:id/platform-ids/:pidId',
  // Notification channels: delivery of notifications through channels (webapp.md §1 item 12)
  'GET /api/notifications/channels',
  'POST /api/notifications/channels',
  'PATCH /api/notifications/channels/:id',
  'DELETE /api/notifications/channels/:id',
  'POST /api/notifications/channels/:id/test',
  'GET /api/notifications/channels/available',
  'GET /api/notifications/channels/contacts',
  // Mini-apps (mini-apps.md)
  'GET /api/mini-apps',
  'GET /api/mini-apps/:id',
  'DELETE /api/mini-apps/:id',
  'POST /api/mini-apps/:id/console',
  'POST /api/mini-apps/:id/generate-icon',
  'GET /api/mini-apps/:id/serve',
  'GET /api/mini-apps/by-slug/:kinId/:slug',
  // Extensibility: MCP servers (platform.md §3)
  'GET /api/mcp-servers',
  'POST /api/mcp-servers',
  'PATCH /api/mcp-servers/:id',
  'DELETE /api/mcp-servers/:id',
  'POST /api/mcp-servers/:id/approve',
  'GET /api/mcp-servers/:id/status',
  'POST /api/mcp-servers/:id/test',
  // Extensibility: plugins (platform.md §1, DECISIONS 12)
  'GET /api/plugins',
  'DELETE /api/plugins/:id',
  'GET /api/plugins/:name/config',
  'PUT /api/plugins/:name/config',
  'POST /api/plugins/:name/disable',
  'POST /api/plugins/:name/enable',
  'POST /api/plugins/:name/health/reset',
  'POST /api/plugins/:name/update',
  'POST /api/plugins/install',
  'GET /api/plugins/registry',
  'GET /api/plugins/registry/readme',
  'POST /api/plugins/reload',
  'GET /api/plugins/store',
  'GET /api/plugins/store/:dirName',
  'POST /api/plugins/store/:dirName/install',
  'GET /api/plugins/version',
  // Extensibility: version check and self-update (platform.md, DECISIONS 17)
  'GET /api/version-check',
  'POST /api/version-check/check',
  'POST /api/version-check/update',
  // Extensibility: Kin generation, export and import (kins.md, DECISIONS 10 and 11)
  'POST /api/kins/:id/avatar/generate',
  'POST /api/kins/avatar/preview',
  'POST /api/kins/generate-config',
  'GET /api/kins/:id/export',
]);

const PASSWORD = 'correct horse battery';
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);
/** An id that names nothing, for objects the test does not create. */
const DUMMY = '01900000-0000-7000-8000-000000000000';

let server: TestServer;
let admin: Awaited<ReturnType<typeof signUp>>;
let api: Client;

/** A local server that only counts the requests it gets: a provider "pointing" here must not be called. */
let nowhere: Server;
let nowhereUrl: string;
let nowhereHits = 0;

beforeAll(async () => {
  nowhere = createServer((_req, res) => {
    nowhereHits++;
    res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => nowhere.listen(0, '127.0.0.1', resolve));
  nowhereUrl = `http://127.0.0.1:${(nowhere.address() as AddressInfo).port}/v1`;
  server = await startTestServer(undefined, { E2E_SKIP_PROVIDER_TEST: 'true' });
  admin = await signUp(server.url, { name: 'Ada Lovelace', email: 'ada@example.com', password: PASSWORD });
  api = admin.api;
});
afterAll(async () => {
  await server.cleanup();
  nowhere.closeAllConnections();
  await new Promise((resolve) => nowhere.close(resolve));
});

/** A multipart request with the admin's cookie (and a file part when given). */
async function postForm(path: string, fields: Record<string, string>, file?: { bytes: Buffer; name: string; type: string }) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (file) form.append('file', new Blob([new Uint8Array(file.bytes)], { type: file.type }), file.name);
  const response = await fetch(server.url + path, { method: 'POST', body: form, headers: { cookie: admin.cookie } });
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text, which the envelope check then reports
  }
  return { status: response.status, body };
}

const pngFile = { bytes: PNG, name: 'dot.png', type: 'image/png' };
const textFile = { bytes: Buffer.from('hello from the audit'), name: 'notes.txt', type: 'text/plain' };

describe('E2E_SKIP_PROVIDER_TEST (a test-only switch)', () => {
  it('starts with no provider, so onboarding is not completed', async () => {
    expect((await client(server.url).get('/api/onboarding/status')).body).toEqual({ completed: false, hasAdmin: true, hasLlm: false, hasEmbedding: false });
  });

  it("creates a provider that points nowhere as valid, with its type's default capabilities, without calling it", async () => {
    const created = await api.post('/api/providers', { name: 'Claude', type: 'anthropic', config: { apiKey: 'sk-ant-nothing', baseUrl: nowhereUrl } });
    expect(created.status).toBe(201);
    expect(created.body.provider).toMatchObject({ type: 'anthropic', isValid: true, capabilities: ['llm'] });
    const status = (await client(server.url).get('/api/onboarding/status')).body;
    expect(status).toEqual({ completed: false, hasAdmin: true, hasLlm: true, hasEmbedding: false });
    expect(nowhereHits).toBe(0);
  });

  it('reaches a completed onboarding once a type whose defaults include embedding is added', async () => {
    const created = await api.post('/api/providers', { name: 'Local', type: 'openai-compatible', config: { baseUrl: nowhereUrl } });
    expect(created.body.provider).toMatchObject({ isValid: true, capabilities: ['llm', 'embedding'] });
    expect((await client(server.url).get('/api/onboarding/status')).body).toEqual({ completed: true, hasAdmin: true, hasLlm: true, hasEmbedding: true });
    expect(nowhereHits).toBe(0);
  });

  it('passes the test of an unsaved config and the re-test of a saved one, still without a network call', async () => {
    const tested = await api.post('/api/providers/test', { type: 'openai-compatible', config: { baseUrl: nowhereUrl } });
    expect(tested.body).toEqual({ valid: true, capabilities: ['llm', 'embedding'] });
    const [provider] = (await api.get('/api/providers')).body.providers;
    const retested = await api.post(`/api/providers/${provider.id}/test`);
    expect(retested.body).toEqual({ valid: true, capabilities: ['llm'] });
    const patched = await api.patch(`/api/providers/${provider.id}`, { config: { apiKey: 'sk-ant-other' } });
    expect(patched.body.provider).toMatchObject({ isValid: true, capabilities: ['llm'] });
    expect(nowhereHits).toBe(0);
  });
});

describe("the Kin's Tools tab", () => {
  it('lists every native tool under one of the 22 domains the web app knows', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Toolbox' }))).body.kin;
    const { status, body } = await api.get(`/api/kins/${kin.id}/tools`);
    expect(status).toBe(200);
    const domains = body.nativeTools.map((group: { domain: string }) => group.domain);
    expect(domains.length).toBeGreaterThan(0);
    expect(domains.filter((domain: string) => !WEB_APP_TOOL_DOMAINS.includes(domain))).toEqual([]);
  });

  it('lists the knowledge tools under search, which the app knows, instead of a knowledge domain', async () => {
    const kin = (await api.post('/api/kins', kinInput({ name: 'Librarian' }))).body.kin;
    const { body } = await api.get(`/api/kins/${kin.id}/tools`);
    const search = body.nativeTools.find((group: { domain: string }) => group.domain === 'search');
    expect(search.tools.map((tool: { name: string }) => tool.name)).toEqual(['search_knowledge', 'list_knowledge_sources']);
  });
});

describe('an Authorization header next to the session cookie', () => {
  it('is ignored when the Bearer token is empty, as the app sends it on export', async () => {
    const response = await api.request('GET', '/api/me', undefined, { authorization: 'Bearer ' });
    expect(response.status).toBe(200);
    expect(response.body.id).toBe(admin.userId);
  });

  it('is ignored when the Bearer token is unknown', async () => {
    const response = await api.request('GET', '/api/kins', undefined, { authorization: 'Bearer nonsense' });
    expect(response.status).toBe(200);
    expect(Array.isArray(response.body.kins)).toBe(true);
  });

  it('does not authenticate anyone on its own', async () => {
    const response = await client(server.url, { authorization: 'Bearer nonsense' }).get('/api/kins');
    expect(response.status).toBe(401);
    expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
  });
});

describe('errors outside the happy path', () => {
  const envelope = { error: { code: expect.any(String), message: expect.any(String) } };

  it.each([
    ['GET', `/api/vault/attachments/${DUMMY}`, 404],
    ['GET', `/api/file-storage/${DUMMY}`, 404],
    ['GET', `/api/uploads/kins/${DUMMY}/avatar.png`, 404],
    ['GET', `/api/kins/${DUMMY}/tools`, 404],
    ['GET', '/api/no-such-route', 404],
    ['PUT', '/api/kins', 405],
  ])('answers %s %s with the envelope whose message the app shows', async (method, path, status) => {
    const response = await api.request(method, path);
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject(envelope);
  });

  it('answers a malformed JSON body and a multipart route sent JSON with the envelope', async () => {
    const malformed = await api.request('POST', '/api/kins', '{"name":', { 'content-type': 'application/json' });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON', message: expect.any(String) } } });
    const notMultipart = await api.post('/api/files/upload', {});
    expect(notMultipart).toMatchObject({ status: 400, body: envelope });
  });
});

describe('every call the web app makes (webapp.md §2)', () => {
  /** Real objects for the paths' ids; what the test does not create gets a dummy id (then a 404 with its own code is fine). */
  const ids = {} as Record<
    'kin' | 'doomedKin' | 'memory' | 'cron' | 'webhook' | 'secret' | 'entry' | 'vaultType' | 'attachment' | 'storedFile' | 'quickSession' | 'invitation' | 'invitationToken' | 'provider',
    string
  >;
  let member: Awaited<ReturnType<typeof signUp>>;
  let otherSession: Client;

  beforeAll(async () => {
    /** The id in `body[key]`, or at the top of the body when `key` is null. */
    const idOf = (response: { status: number; body: any }, key: string | null) => {
      const id = key === null ? response.body?.id : response.body?.[key]?.id;
      if (typeof id !== 'string') throw new Error(`set-up failed for ${key}: ${response.status} ${JSON.stringify(response.body)}`);
      return id as string;
    };
    ids.kin = idOf(await api.post('/api/kins', kinInput({ name: 'Audited' })), 'kin');
    ids.doomedKin = idOf(await api.post('/api/kins', kinInput({ name: 'Doomed' })), 'kin');
    ids.memory = idOf(await api.post(`/api/kins/${ids.kin}/memories`, { content: 'Ada likes tea', category: 'preference' }), 'memory');
    ids.cron = idOf(await api.post('/api/crons', { kinId: ids.kin, name: 'Daily digest', schedule: '0 9 * * *', taskDescription: 'Summarise' }), 'cron');
    ids.webhook = idOf(await api.post('/api/webhooks', { kinId: ids.kin, name: 'GitHub' }), 'webhook');
    ids.secret = idOf(await api.post('/api/vault', { key: 'AUDIT_KEY', value: 's3cret' }), 'secret');
    ids.entry = idOf(await api.post('/api/vault/entries', { key: 'audit-note', entryType: 'note', value: 'hello' }), 'entry');
    ids.vaultType = idOf(
      await api.post('/api/vault/types', { name: 'Server', slug: 'server', fields: [{ name: 'host', label: 'Host', type: 'url', required: true }] }),
      'type',
    );
    ids.attachment = idOf(await postForm(`/api/vault/entries/${ids.entry}/attachments`, {}, textFile), 'attachment');
    ids.storedFile = idOf(await postForm('/api/file-storage', { kinId: ids.kin, name: 'notes' }, textFile), 'file');
    ids.quickSession = idOf(await api.post(`/api/kins/${ids.kin}/quick-sessions`, {}), null);
    const invitation = (await api.post('/api/invitations', {})).body.invitation;
    ids.invitation = invitation.id;
    ids.invitationToken = invitation.token;
    const spare = (await api.post('/api/invitations', {})).body.invitation;
    const grace = { name: 'Grace Hopper', email: 'grace@example.com', password: PASSWORD, invitationToken: spare.token as string };
    member = await signUp(server.url, grace);
    ids.provider = (await api.get('/api/providers')).body.providers[0].id;
    const signedIn = await fetch(`${server.url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    });
    otherSession = client(server.url, { cookie: signedIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') });
  });

  /** The id a path parameter takes in a call: by parameter, then by the collection before it. */
  function idFor(param: string, collection: string): string {
    const byParam: Record<string, string | undefined> = {
      kinId: ids.kin,
      memoryId: ids.memory,
      token: ids.invitationToken,
      name: 'no-such-plugin',
      dirName: 'no-such-plugin',
      slug: 'no-such-app',
    };
    if (param !== 'id') return byParam[param] ?? DUMMY;
    const byCollection: Record<string, string | undefined> = {
      kins: ids.kin,
      crons: ids.cron,
      webhooks: ids.webhook,
      vault: ids.secret,
      entries: ids.entry,
      types: ids.vaultType,
      attachments: ids.attachment,
      'file-storage': ids.storedFile,
      invitations: ids.invitation,
      providers: ids.provider,
      'quick-sessions': ids.quickSession,
      users: member.userId,
    };
    return byCollection[collection] ?? DUMMY;
  }

  const concretePath = (method: string, path: string) => {
    // Deleting the audited Kin would leave the calls after it nothing to work on.
    if (method === 'DELETE' && path === '/api/kins/:id') return `/api/kins/${ids.doomedKin}`;
    const segments = path.split('/');
    return segments.map((segment, i) => (segment.startsWith(':') ? idFor(segment.slice(1), segments[i - 1]!) : segment)).join('/');
  };

  /** Bodies where `{}` would not reach the interesting part of a route; every other write sends `{}`. */
  const bodies: Record<string, () => unknown> = {
    'POST /api/auth/sign-in/email': () => ({ email: 'ada@example.com', password: PASSWORD }),
    'POST /api/auth/sign-up/email': () => ({ name: 'Newcomer', email: 'newcomer@example.com', password: PASSWORD }),
    'POST /api/auth/change-password': () => ({ currentPassword: PASSWORD, newPassword: PASSWORD }),
    'POST /api/kins': () => kinInput({ name: 'Created by the audit' }),
    'PATCH /api/kins/:id': () => ({ role: 'Audits things' }),
    'POST /api/kins/:kinId/messages': () => ({ content: 'hello' }),
    'POST /api/kins/:id/memories': () => ({ content: 'Ada takes milk', category: 'preference' }),
    'PATCH /api/kins/:id/memories/:memoryId': () => ({ content: 'Ada takes no milk' }),
    'POST /api/kins/:kinId/messages/:messageId/reactions': () => ({ emoji: '👍' }),
    'POST /api/crons': () => ({ kinId: ids.kin, name: 'Weekly digest', schedule: '0 9 * * 1', taskDescription: 'Summarise' }),
    'PATCH /api/crons/:id': () => ({ name: 'Daily news' }),
    'POST /api/webhooks': () => ({ kinId: ids.kin, name: 'Stripe' }),
    'PATCH /api/webhooks/:id': () => ({ description: 'Issues' }),
    'POST /api/vault': () => ({ key: 'ANOTHER_KEY', value: 'v' }),
    'PATCH /api/vault/:id': () => ({ value: 'v2' }),
    'POST /api/vault/entries': () => ({ key: 'another-note', entryType: 'note', value: 'hi' }),
    'PATCH /api/vault/entries/:id': () => ({ description: 'described' }),
    'POST /api/providers': () => ({ name: 'Spare', type: 'openai-compatible', config: { baseUrl: nowhereUrl } }),
    'PATCH /api/providers/:id': () => ({ name: 'Renamed' }),
    'POST /api/providers/test': () => ({ type: 'openai-compatible', config: { baseUrl: nowhereUrl } }),
    'POST /api/quick-sessions/:id/messages': () => ({ content: 'side question' }),
    'PATCH /api/me': () => ({ pseudonym: 'ada_l' }),
    'PUT /api/settings/global-prompt': () => ({ globalPrompt: 'Be kind.' }),
    'PUT /api/settings/compacting-threshold': () => ({ thresholdPercent: 80 }),
    'PUT /api/settings/hub': () => ({ kinId: ids.kin }),
    'PUT /api/settings/search-provider': () => ({ searchProviderId: null }),
    'PUT /api/settings/extraction-model': () => ({ model: null }),
    'PUT /api/notifications/preferences': () => ({ updates: [{ type: 'kin:alert', enabled: false }] }),
    'POST /api/webhooks/:id/test-filter': () => ({ payload: { action: 'opened' } }),
    'POST /api/vault/types': () => ({ name: 'Router', slug: 'router', fields: [{ name: 'ip', label: 'IP', type: 'text' }] }),
  };

  /** Multipart calls, with the parts the app sends. */
  const forms: Record<string, () => [Record<string, string>, typeof pngFile]> = {
    'POST /api/files/upload': () => [{ kinId: ids.kin }, textFile],
    'POST /api/kins/:id/avatar': () => [{}, pngFile],
    'POST /api/me/avatar': () => [{}, pngFile],
    'POST /api/file-storage': () => [{ kinId: ids.kin, name: 'more notes', isPublic: 'false', readAndBurn: 'false' }, textFile],
    'POST /api/vault/entries/:id/attachments': () => [{}, textFile],
  };

  async function callAsTheApp(method: string, path: string): Promise<{ status: number; body: any }> {
    const call = `${method} ${path}`;
    const url = concretePath(method, path);
    // Signing out ends the session it is sent with: a second session of the admin's is spent on it.
    if (call === 'POST /api/auth/sign-out') return otherSession.post(url, {});
    // A real self-update must never run from a test: a member reaches the route and is refused.
    if (call === 'POST /api/version-check/update') return member.api.post(url, {});
    // The export is a raw fetch with an (empty) Bearer header beside the cookie (webapp.md §1).
    if (call === 'GET /api/kins/:id/export') return api.request('GET', url, undefined, { authorization: 'Bearer ' });
    if (call === 'GET /api/sse') {
      const aborted = new AbortController();
      const response = await fetch(server.url + url, { headers: { cookie: admin.cookie }, signal: aborted.signal });
      aborted.abort();
      return { status: response.status, body: null };
    }
    const form = forms[call];
    if (form) return postForm(url, ...form());
    if (method === 'GET' || method === 'DELETE') return api.request(method, url);
    return api.request(method, url, bodies[call]?.() ?? {});
  }

  // Closing and deleting last, so that the other calls on an object find it open.
  const ends = ([method, path]: [string, string]) => (method === 'DELETE' ? 2 : path.endsWith('/close') ? 1 : 0);
  const ordered = [...webAppCalls].sort((a, b) => ends(a) - ends(b));

  it('has all 179 calls of the spec in its list', () => {
    expect(new Set(webAppCalls.map((call) => call.join(' '))).size).toBe(179);
  });

  it.each(ordered)('answers %s %s as a route that exists, in the envelope the app reads', async (method, path) => {
    const call = `${method} ${path}`;
    const { status, body } = await callAsTheApp(method, path);
    const seen = `${call} → ${status} ${JSON.stringify(body)?.slice(0, 300)}`;
    const unknownRoute = (status === 404 && body?.error?.code === 'ROUTE_NOT_FOUND') || status === 405;
    if (NOT_BUILT_YET.has(call) && unknownRoute) return;
    expect(unknownRoute, seen).toBe(false);
    expect([401, 405, 500], seen).not.toContain(status);
    expect(status, seen).toBeLessThan(500);
    if (status >= 400) {
      // The app shows `body.error.message` (lib/api.ts), and Better Auth's own `body.message` on /api/auth/*.
      if (path.startsWith('/api/auth/')) expect(typeof body?.message, seen).toBe('string');
      else expect(body, seen).toEqual({ error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }) });
    }
  });
});
