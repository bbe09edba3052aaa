import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { client, kinInput, signUp, startTestServer, type Client, type TestServer } from './helpers.js';

let server: TestServer;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  server = await startTestServer();
  admin = await signUp(server.url);
});
afterAll(() => server.cleanup());

type GraphqlError = { message: string; extensions?: { code?: string; status?: number; details?: unknown } };
type GraphqlResult = { data?: any; errors?: GraphqlError[] };

async function graphql(api: Client, query: string, variables?: Record<string, unknown>): Promise<GraphqlResult> {
  const response = await api.post('/graphql', { query, variables });
  expect(response.status).toBe(200);
  return response.body as GraphqlResult;
}

/** A graphql-ws client whose upgrade request carries the given headers (node's `ws` allows it, browsers send cookies). */
function wsClient(headers: Record<string, string>): WsClient {
  class WebSocketWithHeaders extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  return createClient({ url: `${server.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocketWithHeaders, retryAttempts: 0 });
}

/**
 * Reads a subscription with a deadline per read. A read that timed out stays pending and is the
 * one the next call waits on, so no result is lost to an abandoned `next()`.
 */
function reader<T>(iterator: AsyncIterator<T>) {
  let pending: Promise<IteratorResult<T>> | null = null;
  return async (ms: number): Promise<T | null> => {
    pending ??= iterator.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    const outcome = await Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') return null;
    pending = null;
    return outcome.done ? null : outcome.value;
  };
}

describe('GraphQL over HTTP', () => {
  it('answers 401 with the error envelope without credentials', async () => {
    const response = await client(server.url).post('/graphql', { query: '{ kins { id } }' });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    const graphiql = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(401);
  });

  it('refuses a POST that is not JSON (a cross-site form cannot send JSON)', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { cookie: admin.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=mutation%20%7B%20deleteKin(id%3A%22x%22)%20%7D',
    });
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });

  it('lists a Kin created over REST, the { kins: [...] } wrapper unwrapped', async () => {
    const created = await admin.api.post('/api/kins', kinInput({ name: 'Rest Made' }));
    expect(created.status).toBe(201);
    const result = await graphql(admin.api, '{ kins { id name } }');
    expect(result.errors).toBeUndefined();
    expect(result.data.kins).toContainEqual({ id: created.body.kin.id, name: 'Rest Made' });
  });

  it('creates a Kin with the createKin mutation, which a following REST GET sees', async () => {
    const result = await graphql(
      admin.api,
      'mutation Create($input: CreateKinInput!) { createKin(input: $input) { id name slug character } }',
      { input: kinInput({ name: 'Graph Made' }) },
    );
    expect(result.errors).toBeUndefined();
    const kin = result.data.createKin;
    expect(kin).toMatchObject({ id: expect.any(String), name: 'Graph Made', character: '' });
    const fetched = await admin.api.get(`/api/kins/${kin.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ id: kin.id, name: 'Graph Made', slug: kin.slug });
  });

  it('reports a validation failure as REST does: its code, status and message in extensions', async () => {
    const rest = await admin.api.post('/api/kins', kinInput({ name: '   ' }));
    expect(rest.status).toBe(400);
    const result = await graphql(admin.api, 'mutation($i: CreateKinInput!) { createKin(input: $i) { id } }', {
      i: kinInput({ name: '   ' }),
    });
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]).toMatchObject({
      message: rest.body.error.message,
      extensions: { code: 'INVALID_NAME', status: 400, details: expect.any(Array) },
    });
  });

  it('answers KIN_NOT_FOUND for an unknown Kin', async () => {
    const result = await graphql(admin.api, 'query($id: ID!) { kin(id: $id) { id } }', { id: '0190f000-0000-7000-8000-000000000000' });
    expect(result.errors![0]).toMatchObject({ extensions: { code: 'KIN_NOT_FOUND', status: 404 }, path: ['kin'] });
  });

  it('unwraps { success: true } to a Boolean and deletes the Kin', async () => {
    const created = await admin.api.post('/api/kins', kinInput({ name: 'Short Lived' }));
    const result = await graphql(admin.api, 'mutation($id: ID!) { deleteKin(id: $id) }', { id: created.body.kin.id });
    expect(result).toEqual({ data: { deleteKin: true } });
    expect((await admin.api.get(`/api/kins/${created.body.kin.id}`)).status).toBe(404);
  });

  it('shows a stream\'s events to an admin, with their metadata', async () => {
    const created = await admin.api.post('/api/kins', kinInput({ name: 'Audited' }));
    const kinId = created.body.kin.id as string;
    const result = await graphql(admin.api, 'query($s: String) { events(stream: $s) { stream type revision position data metadata } }', {
      s: `kin-${kinId}`,
    });
    expect(result.errors).toBeUndefined();
    expect(result.data.events).toHaveLength(1);
    expect(result.data.events[0]).toMatchObject({
      stream: `kin-${kinId}`,
      type: 'KinCreated',
      revision: 0,
      data: { kinId, name: 'Audited' },
      metadata: { actor: { kind: 'user', id: admin.userId } },
    });
  });

  it('filters $all by event type and position, up to the limit', async () => {
    for (const name of ['First', 'Second', 'Third']) await admin.api.post('/api/kins', kinInput({ name }));
    const result = await graphql(admin.api, '{ events(type: "KinCreated", fromPosition: 0, limit: 2) { type position } }');
    expect(result.data.events).toHaveLength(2);
    expect(result.data.events.every((event: { type: string }) => event.type === 'KinCreated')).toBe(true);
    const tooMany = await graphql(admin.api, '{ events(limit: 1001) { id } }');
    expect(tooMany.errors![0]).toMatchObject({ extensions: { code: 'VALIDATION_ERROR', status: 400 } });
  });

  it('lists the projections, caught up', async () => {
    const result = await graphql(admin.api, '{ projections { name version position lag error } }');
    expect(result.errors).toBeUndefined();
    const names = result.data.projections.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['kins', 'users']));
    for (const projection of result.data.projections) expect(projection).toMatchObject({ lag: 0, error: null });
  });

  it('serves GraphiQL and introspection to an admin', async () => {
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html', cookie: admin.cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const result = await graphql(admin.api, '{ __schema { queryType { name } mutationType { name } subscriptionType { name } } }');
    expect(result.data.__schema).toEqual({ queryType: { name: 'Query' }, mutationType: { name: 'Mutation' }, subscriptionType: { name: 'Subscription' } });
  });
});

describe('GraphQL subscriptions over websockets', () => {
  it('delivers kin:created to a live subscriber when a Kin is created over REST', async () => {
    const ws = wsClient({ cookie: admin.cookie });
    const live = ws.iterate<{ live: { type: string; kinId: string; data: { name: string } } }>({
      query: 'subscription { live(types: ["kin:created"]) { type kinId data } }',
    });
    try {
      // The subscription is set up asynchronously after the socket opens: create until one is seen.
      const read = reader(live);
      const created = new Set<string>();
      let message = null;
      for (let attempt = 0; attempt < 20 && !message; attempt++) {
        const response = await admin.api.post('/api/kins', kinInput({ name: `Live ${attempt}` }));
        created.add(response.body.kin.id);
        message = await read(500);
      }
      expect(message?.errors).toBeUndefined();
      expect(message?.data?.live).toMatchObject({ type: 'kin:created', data: { name: expect.stringMatching(/^Live /) } });
      expect(created.has(message!.data!.live.kinId)).toBe(true);
    } finally {
      await live.return?.();
      await ws.dispose();
    }
  });

  it('answers an invalid subscription with GraphQL errors, not by closing the socket', async () => {
    const ws = wsClient({ cookie: admin.cookie });
    try {
      await expect(ws.iterate({ query: 'subscription { nope }' }).next()).rejects.toEqual([
        expect.objectContaining({ message: expect.stringContaining('Cannot query field "nope"') }),
      ]);
      await expect(ws.iterate({ query: 'subscription { live { ' }).next()).rejects.toEqual([
        expect.objectContaining({ message: expect.stringContaining('Syntax Error') }),
      ]);
    } finally {
      await ws.dispose();
    }
  });

  it('closes a websocket that brings no credentials', async () => {
    const ws = wsClient({});
    const live = ws.iterate({ query: 'subscription { live { type } }' });
    try {
      await expect(live.next()).rejects.toMatchObject({ code: 4403 });
    } finally {
      await ws.dispose();
    }
  });
});
