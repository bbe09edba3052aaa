import { z } from 'zod';
import { isRaw, type Operation } from './operation.js';
import { defineRawOperation } from './operation.js';
import { version } from './health.js';

type JsonSchema = Record<string, unknown>;

/** `/api/kins/:id` → `/api/kins/{id}` */
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*([A-Za-z0-9_]+)/g, '{$1}');

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** zod writes references as `#/$defs/X`, in the root and inside the definitions alike. */
const toComponentRefs = <T>(json: T): T => JSON.parse(JSON.stringify(json).replaceAll('"#/$defs/', '"#/components/schemas/')) as T;

/**
 * Converts a schema, moving every named sub-schema (`.meta({ id })`) into components so that
 * each is described once and referenced everywhere.
 */
function converter(components: Record<string, JsonSchema>) {
  return (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    const { $defs, $schema: _schema, ...rest } = toComponentRefs(json);
    for (const [name, def] of Object.entries($defs ?? {})) components[name] ??= def;
    const root = rest as JsonSchema & { id?: string };
    const id = (schema.meta() as { id?: string } | undefined)?.id;
    if (id) {
      components[id] ??= root;
      return { $ref: `#/components/schemas/${id}` };
    }
    return root;
  };
}

function parameters(operation: Operation, convert: ReturnType<typeof converter>) {
  const list: JsonSchema[] = [];
  const add = (where: 'path' | 'query', shape: z.ZodObject | undefined) => {
    for (const [name, field] of Object.entries(shape?.shape ?? {})) {
      const schema = convert(field as z.ZodType, 'input');
      list.push({ name, in: where, required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success, schema });
    }
  };
  add('path', operation.params);
  if (!isRaw(operation)) add('query', operation.query);
  return list;
}

export function buildOpenApiDocument(operations: Operation[]) {
  const components: Record<string, JsonSchema> = {
    Error: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
        },
      },
    },
  };
  const convert = converter(components);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of operations) {
    const common = {
      operationId: operation.name,
      summary: operation.summary,
      tags: operation.tags,
      parameters: parameters(operation, convert),
      security: operation.auth === 'public' ? [] : [{ apiKey: [] }, { sessionCookie: [] }],
    };
    const failures = {
      ...(operation.auth === 'public' ? {} : { '401': errorResponse('No valid credentials') }),
      ...(operation.auth === 'admin' ? { '403': errorResponse('Admin access required') } : {}),
      '400': errorResponse('Invalid input'),
      '404': errorResponse('Not found'),
    };
    const entry = isRaw(operation)
      ? { ...common, requestBody: operation.openapi.requestBody, responses: { ...operation.openapi.responses, ...failures } }
      : {
          ...common,
          requestBody: operation.body
            ? { required: true, content: { 'application/json': { schema: convert(operation.body, 'input') } } }
            : undefined,
          responses: {
            [String(operation.status ?? 200)]: {
              description: 'Success',
              content: { 'application/json': { schema: convert(operation.output, 'output') } },
            },
            ...failures,
          },
        };
    (paths[openApiPath(operation.path)] ??= {})[operation.method] = entry;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'KinBot API', version },
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'better-auth.session_token' },
      },
    },
  };
}

export function openApiOperation(operations: Operation[]): Operation {
  let document: ReturnType<typeof buildOpenApiDocument> | null = null;
  const self = defineRawOperation({
    name: 'openapi',
    summary: 'This OpenAPI 3.1 document, generated from the operation table',
    method: 'get',
    path: '/api/openapi.json',
    auth: 'public',
    tags: ['Operations'],
    openapi: { responses: { '200': { description: 'OpenAPI document', content: { 'application/json': {} } } } },
    async raw(_req, res) {
      document ??= buildOpenApiDocument([...operations, self]);
      res.json(document);
    },
  });
  return self;
}
