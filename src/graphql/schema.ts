import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import type { z } from 'zod';
import { authorize, requestContext } from '../rest/context.js';
import { isRaw, type JsonOperation, type Operation } from '../rest/operation.js';
import { parseInput } from '../rest/validation.js';
import type { Services } from '../services.js';
import { auditFields, auditResolvers, auditTypes } from './audit.js';
import type { GraphqlContext } from './context.js';
import { JsonScalar } from './json.js';
import { liveField, liveResolver, liveType } from './live.js';
import { createTypeRegistry, described, pascal, type TypeRegistry } from './types.js';

type Resolver = (root: unknown, args: Record<string, unknown>, context: GraphqlContext) => Promise<unknown>;

/** GraphQL gives null for an argument set to null; REST has no such thing, the schemas speak of absent values. */
const picked = (args: Record<string, unknown>, names: string[]) =>
  Object.fromEntries(names.filter((name) => args[name] != null).map((name) => [name, args[name]]));

/** What REST would have sent: the handler's result through JSON (dates as strings, no undefined). */
const asJson = (value: unknown): unknown => (value === undefined ? null : JSON.parse(JSON.stringify(value)));

/**
 * One operation as one field: path and query parameters become arguments, the body becomes
 * `input`. The resolver does what the REST binding does (src/app.ts): the auth rule, `parseInput`
 * on each part with the operation's error codes, then the handler. Idempotency keys are a REST
 * header and do not apply here.
 */
function operationField(operation: JsonOperation, registry: TypeRegistry, services: Services): { sdl: string; resolve: Resolver } {
  const base = pascal(operation.name);
  const args: string[] = [];
  const taken = new Set<string>();
  const argument = (name: string, type: string, description?: string) => {
    if (taken.has(name)) throw new Error(`GraphQL field ${operation.name} would have two arguments named ${name}`);
    taken.add(name);
    args.push(`${described(description)}${name}: ${type}`);
  };

  const params = operation.params ? registry.inputFields(operation.params, base) : [];
  // A path parameter is always there in REST; here it is always required.
  for (const field of params) argument(field.name, `${field.ref.type}!`, field.description);
  const query = operation.query ? registry.inputFields(operation.query, base) : [];
  for (const field of query) argument(field.name, `${field.ref.type}${field.required && !field.ref.nullable ? '!' : ''}`, field.description);
  if (operation.body) {
    const body = registry.input(operation.body, `${base}Input`);
    const optional = body.nullable || operation.body.safeParse(undefined).success;
    argument('input', `${body.type}${optional ? '' : '!'}`);
  }
  const output = registry.output(operation.output, operation.name);

  const paramNames = params.map((field) => field.name);
  const queryNames = query.map((field) => field.name);
  const resolve: Resolver = async (_root, values, context) => {
    const principal = authorize(operation.auth, context.principal);
    const ctx = requestContext(services, principal, context.correlationId);
    const codes = operation.errorCodes;
    const input = {
      params: operation.params ? parseInput(operation.params, picked(values, paramNames), codes) : {},
      query: operation.query ? parseInput(operation.query, picked(values, queryNames), codes) : {},
      body: operation.body ? parseInput(operation.body as z.ZodType, values.input ?? undefined, codes) : undefined,
    };
    const result = asJson(await operation.handler(input as never, ctx));
    return output.unwrap === undefined ? result : (result as Record<string, unknown> | null)?.[output.unwrap];
  };

  const signature = args.length ? `(\n${args.map((arg) => indent(arg, '    ')).join('\n')}\n  )` : '';
  return {
    sdl: `${described(operation.summary, '  ')}  ${operation.name}${signature}: ${output.ref.type}${output.ref.nullable ? '' : '!'}`,
    resolve,
  };
}

const indent = (text: string, by: string) =>
  text
    .split('\n')
    .map((line) => by + line)
    .join('\n');

/**
 * The GraphQL schema, generated from the operation table so that nothing is written twice: every
 * JSON operation is a field (GET → Query, other methods → Mutation) named after the operation.
 *
 * Results that are an object with exactly one property — the REST wrappers `{ kins: [...] }`,
 * `{ kin: {...} }`, `{ success: true }` — are unwrapped: the field returns that property, so one
 * writes `{ kins { id name } }` and `createKin(input: $i) { id }`.
 *
 * Besides the table: the admin audit fields `events` and `projections`, and the `live`
 * subscription over the live feed.
 */
export function buildGraphqlSchema(operations: Operation[], services: Services): GraphQLSchema {
  const registry = createTypeRegistry();
  for (const [name, sdl] of Object.entries(auditTypes)) registry.reserve(name, sdl);
  registry.reserve('LiveMessage', liveType);

  const roots = {
    Query: new Map<string, { sdl: string; resolve: Resolver }>(),
    Mutation: new Map<string, { sdl: string; resolve: Resolver }>(),
  };
  for (const operation of operations) {
    if (isRaw(operation)) continue;
    const root = roots[operation.method === 'get' ? 'Query' : 'Mutation'];
    if (root.has(operation.name)) throw new Error(`Two operations are named ${operation.name}`);
    root.set(operation.name, operationField(operation, registry, services));
  }
  const audit = auditResolvers(services);
  for (const name of Object.keys(audit)) {
    if (roots.Query.has(name)) throw new Error(`The operation ${name} takes the name of an admin GraphQL field`);
  }

  const fields = (root: Map<string, { sdl: string }>) => [...root.values()].map((field) => field.sdl).join('\n');
  const resolvers = (root: Map<string, { resolve: Resolver }>) =>
    Object.fromEntries([...root].map(([name, field]) => [name, field.resolve]));

  const typeDefs = [
    'scalar JSON',
    `type Query {\n${fields(roots.Query)}\n${auditFields}\n}`,
    roots.Mutation.size ? `type Mutation {\n${fields(roots.Mutation)}\n}` : '',
    `type Subscription {\n${liveField}\n}`,
    registry.sdl(),
  ]
    .filter(Boolean)
    .join('\n\n');

  return makeExecutableSchema({
    typeDefs,
    resolvers: {
      JSON: JsonScalar,
      Query: { ...resolvers(roots.Query), ...audit },
      ...(roots.Mutation.size ? { Mutation: resolvers(roots.Mutation) } : {}),
      Subscription: { live: liveResolver(services) },
    },
  });
}
