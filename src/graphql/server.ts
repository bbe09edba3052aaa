import type { IncomingMessage, Server } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { ExecutionArgs, GraphQLError, ValidationRule } from 'graphql';
import { createGraphQLError, createYoga, maskError as maskUnexpected, type Plugin, type YogaLogger } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { isForeignOrigin, refuseForeignOrigin } from '../auth/origins.js';
import { resolvePrincipal } from '../auth/principal.js';
import { DomainError } from '../es/errors.js';
import { authorize, correlationIdOf } from '../rest/context.js';
import type { Operation, Principal } from '../rest/operation.js';
import type { Services } from '../services.js';
import type { GraphqlContext } from './context.js';
import { buildGraphqlSchema } from './schema.js';

export const GRAPHQL_PATH = '/graphql';

/** What yoga is given with each request: the node request (HTTP, or a websocket's upgrade request). */
type ServerContext = { req: IncomingMessage };

/**
 * By name, not `instanceof`: graphql ships as CommonJS and as ESM, and a bundler or test runner
 * may load both, each with its own GraphQLError class.
 */
const isGraphqlError = (error: unknown): error is GraphQLError => error instanceof Error && error.name === 'GraphQLError';

/**
 * A DomainError keeps its message and says its code, status and details in `extensions`, as the
 * REST envelope does; anything else is a bug and reads "Internal server error" (and is logged).
 */
function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const original = isGraphqlError(error) ? error.originalError : error;
  if (original instanceof DomainError) {
    const located = isGraphqlError(error) ? error : undefined;
    return createGraphQLError(original.message, {
      nodes: located?.nodes,
      source: located?.source,
      positions: located?.positions,
      path: located?.path,
      extensions: {
        code: original.code,
        status: original.status,
        ...(original.details === undefined ? {} : { details: original.details }),
      },
    });
  }
  return maskUnexpected(error, message, isDev);
}

function yogaLogger(log: Logger): YogaLogger {
  const child = log.child({ module: 'graphql' });
  return {
    debug: (...args: unknown[]) => child.debug({ args }, 'yoga'),
    info: (...args: unknown[]) => child.info({ args }, 'yoga'),
    warn: (...args: unknown[]) => child.warn({ args }, 'yoga'),
    error: (error: unknown, ...args: unknown[]) => child.error({ err: error, args }, 'graphql error'),
  };
}

/**
 * Introspection (`__schema`, `__type`) is for admins, as GraphiQL is. Written here rather than
 * graphql's NoSchemaIntrospectionCustomRule, which checks types with `instanceof` and so fails
 * when graphql is loaded twice (CommonJS and ESM, as under vitest); `__typename` stays allowed.
 */
const noIntrospection: ValidationRule = (context) => ({
  Field(node) {
    const name = node.name.value;
    if (name === '__schema' || name === '__type') {
      context.reportError(createGraphQLError(`Introspection is for admins: "${name}" is not allowed`, { nodes: [node] }));
    }
  },
});

function introspectionForAdmins(isAdmin: (req: IncomingMessage | undefined) => boolean): Plugin<ServerContext> {
  return {
    onValidate({ context, addValidationRule }) {
      // Yoga caches validation per set of rules, so members and admins never share a result.
      if (!isAdmin((context as Partial<ServerContext>).req)) addValidationRule(noIntrospection);
    },
  };
}

export type Graphql = {
  /** Serves /graphql over HTTP (mount with `app.all('/graphql', handler)`). */
  handler: (req: Request, res: Response, next: NextFunction) => Promise<void>;
  /** Serves subscriptions on ws://…/graphql (graphql-ws protocol); the result detaches them. */
  attachWebSockets: (server: Server) => () => Promise<void>;
};

export function createGraphql(services: Services, operations: Operation[]): Graphql {
  const schema = buildGraphqlSchema(operations, services);
  /** The caller of each request that got through `handler` or the websocket's `onConnect`. */
  const principals = new WeakMap<IncomingMessage, Principal>();
  const isAdmin = (req: IncomingMessage | undefined) => (req ? principals.get(req)?.role === 'admin' : false);

  const yoga = createYoga<ServerContext, GraphqlContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: (_request, server) => isAdmin(server.req) && { title: 'KinBot GraphQL', subscriptionsProtocol: 'WS' },
    landingPage: false,
    // Same origin only, as the REST API; cookies must not make other sites' requests count.
    cors: false,
    multipart: false,
    logging: yogaLogger(services.log),
    maskedErrors: { errorMessage: 'Internal server error', maskError },
    context: ({ req }) => ({ principal: principals.get(req) ?? null, correlationId: correlationIdOf(req.headers) }),
    plugins: [introspectionForAdmins(isAdmin)],
  });

  async function handler(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      const principal = authorize('user', await resolvePrincipal(services.auth, services.readStore, req.headers))!;
      if (principal.via === 'session') refuseForeignOrigin(req, services.config);
      // A cross-site form can POST urlencoded or text/plain with the cookie, but not JSON.
      if (req.method === 'POST' && !req.is('application/json')) {
        throw new DomainError(415, 'UNSUPPORTED_MEDIA_TYPE', 'GraphQL requests are POSTed as application/json');
      }
      if (req.method === 'GET' && req.headers.accept?.includes('text/html') && principal.role !== 'admin') {
        throw new DomainError(403, 'FORBIDDEN', 'GraphiQL is for admins');
      }
      principals.set(req, principal);
      await yoga(req, res);
    } catch (error) {
      next(error);
    }
  }

  function attachWebSockets(server: Server): () => Promise<void> {
    const sockets = new WebSocketServer({ server, path: GRAPHQL_PATH });
    type Enveloped = ReturnType<typeof yoga.getEnveloped>;
    /** Each operation runs with yoga's enveloped engine, so masking and the introspection rule apply. */
    const engines = new WeakMap<ExecutionArgs, Enveloped>();
    const engineOf = (args: ExecutionArgs) => engines.get(args)!;

    const disposable = useServer(
      {
        execute: (args) => engineOf(args).execute(args),
        subscribe: (args) => engineOf(args).subscribe(args),
        async onConnect({ extra: { request } }) {
          const principal = await resolvePrincipal(services.auth, services.readStore, request.headers).catch(() => null);
          // Browsers send cookies with a websocket handshake from any page, and websockets have no CORS.
          if (!principal || (principal.via === 'session' && isForeignOrigin(request.headers, services.config))) return false;
          principals.set(request, principal);
          return true;
        },
        async onSubscribe({ extra: { request, socket } }, _id, payload) {
          const engine = yoga.getEnveloped({ req: request, socket, params: payload });
          let document;
          try {
            document = engine.parse(payload.query);
          } catch (error) {
            if (isGraphqlError(error)) return [error];
            throw error;
          }
          const errors = engine.validate(engine.schema, document);
          if (errors.length > 0) return errors;
          const args: ExecutionArgs = {
            schema: engine.schema,
            document,
            operationName: payload.operationName,
            variableValues: payload.variables,
            contextValue: await engine.contextFactory(),
          };
          engines.set(args, engine);
          return args;
        },
      },
      sockets,
    );

    return async () => {
      await disposable.dispose();
      // Closing the HTTP server waits for every socket; one that ignores the close frame must not hold it.
      for (const socket of sockets.clients) socket.terminate();
    };
  }

  return { handler, attachWebSockets };
}
