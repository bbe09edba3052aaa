import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { GraphQLNamedType, GraphQLSchema } from 'graphql';
import { pino } from 'pino';
import { createPrincipalCache } from '../../src/auth/principalCache.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { GraphqlContext } from '../../src/graphql/context.js';
import { buildGraphqlSchema } from '../../src/graphql/schema.js';
import { createGraphql } from '../../src/graphql/server.js';
import { defineOperation, defineRawOperation, type Operation, type Principal } from '../../src/rest/operation.js';
import type { Services } from '../../src/services.js';
import { DomainError } from '../../src/es/errors.js';

// graphql as Node resolves it (CommonJS), the copy @graphql-tools builds the schema with; vite
// would hand this file the ESM copy, whose `instanceof` checks reject the other copy's types.
const { graphql, printType } = createRequire(import.meta.url)('graphql') as typeof import('graphql');

const member: Principal = { userId: 'u-member', name: 'Mia', email: 'mia@example.com', role: 'member', via: 'session' };
const admin: Principal = { ...member, userId: 'u-admin', role: 'admin' };

/** Only what the schema and the GraphQL edge touch: a logger, a session and the users read model. */
const services = {
  log: pino({ level: 'silent' }),
  config: { publicUrl: 'http://localhost:3000' },
  auth: {
    api: { getSession: async () => ({ user: { id: member.userId }, session: { token: 'stub', expiresAt: new Date(Date.now() + 60_000) } }) },
    principals: createPrincipalCache(),
    sessionCookie: 'session',
  },
  readStore: { collection: () => ({ get: async () => ({ id: member.userId, name: member.name, email: member.email, role: 'member' }) }) },
  eventStore: { headPosition: async () => 7 },
  projections: { status: () => [{ name: 'kins', version: 1, position: 5, error: null }] },
} as unknown as Services;

const gadget = z.object({ id: z.string(), label: z.string(), weight: z.number(), count: z.number().int(), small: z.number().int().min(0).max(100) }).meta({ id: 'Gadget' });
const gadgetInput = z
  .object({
    label: z.string().trim().min(1, 'Label is required'),
    tags: z.array(z.string()).default([]),
    extra: z.record(z.string(), z.unknown()).optional(),
    size: z.object({ width: z.number(), height: z.number() }).optional(),
  })
  .meta({ id: 'CreateGadgetInput' });

const operations: Operation[] = [
  defineOperation({
    name: 'gadgets',
    summary: 'List gadgets',
    method: 'get',
    path: '/api/gadgets',
    auth: 'user',
    query: z.object({ limit: z.coerce.number().int().min(1).max(50).default(10), label: z.string().optional() }),
    output: z.object({ gadgets: z.array(gadget) }),
    handler: async ({ query }) => ({
      gadgets: Array.from({ length: Math.min(query.limit, 2) }, (_, i) => ({ id: `g${i}`, label: query.label ?? 'any', weight: 1.5, count: 2 ** 40, small: 3 })),
    }),
  }),
  defineOperation({
    name: 'gadget',
    summary: 'One gadget',
    method: 'get',
    path: '/api/gadgets/:id',
    auth: 'user',
    params: z.object({ id: z.string() }),
    output: gadget,
    async handler({ params }) {
      throw new DomainError(404, 'GADGET_NOT_FOUND', `No gadget ${params.id}`);
    },
  }),
  defineOperation({
    name: 'createGadget',
    summary: 'Create a gadget',
    method: 'post',
    path: '/api/gadgets',
    auth: 'user',
    body: gadgetInput,
    errorCodes: { label: 'INVALID_LABEL' },
    output: z.object({ gadget: gadget.extend({ tags: z.array(z.string()), extra: z.record(z.string(), z.unknown()).nullable() }).meta({ id: 'CreatedGadget' }) }),
    handler: async ({ body }) => ({ gadget: { id: 'g9', label: body.label, weight: 0, count: 0, small: 0, tags: body.tags, extra: body.extra ?? null } }),
  }),
  defineOperation({
    name: 'purgeGadgets',
    summary: 'Delete every gadget (admin)',
    method: 'delete',
    path: '/api/gadgets',
    auth: 'admin',
    output: z.object({ success: z.literal(true) }),
    handler: async () => ({ success: true as const }),
  }),
  defineRawOperation({
    name: 'gadgetFile',
    summary: 'Download',
    method: 'get',
    path: '/api/gadgets/:id/file',
    auth: 'user',
    openapi: { responses: { '200': { description: 'bytes' } } },
    raw: async (_req, res) => void res.end(),
  }),
];

let schema: GraphQLSchema;
beforeAll(() => {
  schema = buildGraphqlSchema(operations, services);
});

const typeSdl = (name: string) => printType(schema.getType(name) as GraphQLNamedType);
const run = (source: string, principal: Principal, variableValues?: Record<string, unknown>) =>
  graphql({ schema, source, variableValues, contextValue: { principal, correlationId: 'test' } satisfies GraphqlContext });

describe('the generated schema', () => {
  it('makes GET operations queries and the others mutations, leaving raw operations out', () => {
    expect(Object.keys(schema.getQueryType()!.getFields())).toEqual(['gadgets', 'gadget', 'events', 'projections']);
    expect(Object.keys(schema.getMutationType()!.getFields())).toEqual(['createGadget', 'purgeGadgets']);
    expect(Object.keys(schema.getSubscriptionType()!.getFields())).toEqual(['live']);
  });

  it('turns path and query parameters into arguments and the body into a named input', () => {
    const fields = schema.getQueryType()!.getFields();
    expect(fields.gadget!.args.map((arg) => `${arg.name}: ${String(arg.type)}`)).toEqual(['id: ID!']);
    expect(fields.gadgets!.args.map((arg) => `${arg.name}: ${String(arg.type)}`)).toEqual(['limit: Int', 'label: String']);
    const create = schema.getMutationType()!.getFields().createGadget!;
    expect(create.args.map((arg) => `${arg.name}: ${String(arg.type)}`)).toEqual(['input: CreateGadgetInput!']);
  });

  it('unwraps single-property results and keeps 64-bit-range numbers out of Int', () => {
    const fields = schema.getQueryType()!.getFields();
    expect(String(fields.gadgets!.type)).toBe('[Gadget!]!');
    expect(String(schema.getMutationType()!.getFields().purgeGadgets!.type)).toBe('Boolean!');
    expect(typeSdl('Gadget')).toBe('type Gadget {\n  id: ID!\n  label: String!\n  weight: Float!\n  count: Float!\n  small: Int!\n}');
  });

  it('names anonymous objects after their parent, sends records as JSON, and suffixes inputs', () => {
    expect(typeSdl('CreateGadgetInput')).toBe(
      'input CreateGadgetInput {\n  label: String!\n  tags: [String!]\n  extra: JSON\n  size: CreateGadgetSizeInput\n}',
    );
    expect(typeSdl('CreateGadgetSizeInput')).toBe('input CreateGadgetSizeInput {\n  width: Float!\n  height: Float!\n}');
    expect(typeSdl('CreatedGadget')).toContain('extra: JSON\n');
  });

  it('gives the input version of a named schema its own name', () => {
    const shared = z.object({ x: z.number() }).meta({ id: 'Point' });
    const echo = defineOperation({
      name: 'movePoint',
      summary: 'Echo',
      method: 'post',
      path: '/p',
      auth: 'user',
      body: z.object({ to: shared }),
      output: z.object({ at: shared, moved: z.boolean() }),
      handler: async ({ body }) => ({ at: body.to, moved: true }),
    });
    const built = buildGraphqlSchema([echo], services);
    expect(printType(built.getType('Point')!)).toBe('type Point {\n  x: Float!\n}');
    expect(printType(built.getType('PointInput')!)).toBe('input PointInput {\n  x: Float!\n}');
    expect(printType(built.getType('MovePointInput')!)).toBe('input MovePointInput {\n  to: PointInput!\n}');
  });

  it('refuses two different shapes under one name', () => {
    const a = z.object({ x: z.number() }).meta({ id: 'Thing' });
    const b = z.object({ y: z.string() }).meta({ id: 'Thing' });
    const op = (name: string, output: z.ZodType) =>
      defineOperation({ name, summary: name, method: 'get', path: `/${name}`, auth: 'user', output: z.object({ thing: output, n: z.number() }), handler: async () => ({}) as never });
    expect(() => buildGraphqlSchema([op('a', a), op('b', b)], services)).toThrow(/Thing/);
  });
});

describe('resolvers', () => {
  it('parse arguments with the operation schema (query coercion and defaults included)', async () => {
    const result = await run('{ gadgets(limit: 5, label: "x") { id label count } }', member);
    expect(result).toEqual({ data: { gadgets: [{ id: 'g0', label: 'x', count: 2 ** 40 }, { id: 'g1', label: 'x', count: 2 ** 40 }] } });
  });

  it('run a mutation with its input, records included', async () => {
    const result = await run('mutation($i: CreateGadgetInput!) { createGadget(input: $i) { id label tags extra } }', member, {
      i: { label: ' Lamp ', extra: { watts: 40 } },
    });
    expect(result).toEqual({ data: { createGadget: { id: 'g9', label: 'Lamp', tags: [], extra: { watts: 40 } } } });
  });

  it('report a validation failure with the operation error code', async () => {
    const result = await run('mutation { createGadget(input: { label: "  " }) { id } }', member);
    expect(result.errors?.[0]?.message).toBe('Label is required');
    expect((result.errors?.[0]?.originalError as DomainError).code).toBe('INVALID_LABEL');
  });

  it('apply the operation auth rule: an admin operation is forbidden to a member', async () => {
    const forbidden = await run('mutation { purgeGadgets }', member);
    expect((forbidden.errors?.[0]?.originalError as DomainError).status).toBe(403);
    expect((await run('mutation { purgeGadgets }', admin)).data).toEqual({ purgeGadgets: true });
  });

  it('keep the audit fields for admins', async () => {
    const asMember = await run('{ projections { name } }', member);
    expect((asMember.errors?.[0]?.originalError as DomainError).code).toBe('FORBIDDEN');
    const asAdmin = await run('{ projections { name position lag error } }', admin);
    expect(asAdmin.data).toEqual({ projections: [{ name: 'kins', position: 5, lag: 2, error: null }] });
  });
});

describe('/graphql for a member (stubbed session)', () => {
  let http: Server;
  let url: string;
  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    app.all('/graphql', createGraphql(services, operations).handler);
    app.use((error: DomainError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(error.status).json({ error: { code: error.code, message: error.message } });
    });
    http = createServer(app);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

  const post = async (query: string) =>
    (await fetch(url, { method: 'POST', headers: { cookie: 'session=stub.signature', 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).json() as Promise<{
      data?: unknown;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    }>;

  it('answers a domain error with its code and status in extensions', async () => {
    const result = await post('{ gadget(id: "nope") { id } }');
    expect(result.errors?.[0]).toMatchObject({ message: 'No gadget nope', extensions: { code: 'GADGET_NOT_FOUND', status: 404 }, path: ['gadget'] });
  });

  it('refuses introspection', async () => {
    const result = await post('{ __schema { types { name } } }');
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.message).toMatch(/introspection/i);
    expect(await post('{ __typename }')).toEqual({ data: { __typename: 'Query' } });
  });

  it('does not serve GraphiQL', async () => {
    const response = await fetch(url, { headers: { cookie: 'session=stub.signature', accept: 'text/html' } });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'GraphiQL is for admins' } });
  });
});
