import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allProjections } from '../../src/projections/index.js';
import { client, signUp, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let api: Awaited<ReturnType<typeof signUp>>['api'];

beforeAll(async () => {
  server = await startTestServer();
  api = (await signUp(server.url)).api;
});
afterAll(() => server.cleanup());

describe('OpenAPI document', () => {
  it('describes every route of the operation table from the same zod schemas', async () => {
    const { status, body } = await api.get('/api/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining(['/api/kins', '/api/kins/{id}', '/api/kins/{id}/tools', '/api/kins/{id}/context-usage', '/api/kins/{id}/avatar', '/api/sse', '/healthz', '/readyz']),
    );
    const create = body.paths['/api/kins'].post;
    expect(create.operationId).toBe('createKin');
    expect(create.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/CreateKinInput' });
    expect(body.components.schemas.CreateKinInput.properties.name).toMatchObject({ type: 'string', maxLength: 100 });
    expect(body.components.schemas.CreateKinInput.required).toEqual(['name', 'role', 'model']);
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '401']));
    expect(body.components.schemas.Kin.required).toContain('workspacePath');
    expect(body.paths['/api/kins/{id}'].get.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path', required: true }));
    expect(body.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
  });
});

describe('probes', () => {
  it('/healthz and /api/health answer without credentials', async () => {
    const anonymous = client(server.url);
    expect((await anonymous.get('/healthz')).body).toEqual({ status: 'ok' });
    const health = await anonymous.get('/api/health');
    expect(health.body).toMatchObject({ status: 'ok', version: '0.1.0' });
    expect(typeof health.body.timestamp).toBe('number');
  });

  it('/readyz reports reachable stores and caught-up projections', async () => {
    await api.post('/api/kins', { name: 'Ready', role: 'r', model: 'm' });
    const { status, body } = await client(server.url).get('/readyz');
    expect(status).toBe(200);
    expect(body.stores).toEqual({ eventStore: 'ok', readStore: 'ok', blobs: 'ok' });
    const head = await server.services.eventStore.headPosition();
    for (const projection of body.projections) expect(projection).toMatchObject({ lag: 0, position: head, error: null });
    expect(body.projections.map((p: { name: string }) => p.name).sort()).toEqual(allProjections.map((p) => p.name).sort());
  });
});
