import express, { type NextFunction, type Request, type Response } from 'express';
import { toNodeHandler } from 'better-auth/node';
import { match } from 'path-to-regexp';
import { DomainError, envelope } from './es/errors.js';
import { contextFor } from './rest/context.js';
import { isFromBrowserPage } from './auth/origins.js';
import { createIdempotencyStore, type IdempotencyStore } from './rest/idempotency.js';
import { isRaw, type Operation } from './rest/operation.js';
import { parseInput } from './rest/validation.js';
import { sendSerialized, serializedFormOf } from './rest/listCache.js';
import type { Services } from './services.js';

export const JSON_BODY_LIMIT = '1mb';

function bind(app: express.Express, operation: Operation, services: Services, idempotency: IdempotencyStore) {
  app[operation.method](operation.path, async (req: Request, res: Response, next: NextFunction) => {
    res.locals.operation = operation.name;
    try {
      const ctx = await contextFor(req, services, operation.auth);
      if (isRaw(operation)) return await operation.raw(req, res, ctx);
      const codes = operation.errorCodes;
      const input = {
        params: operation.params ? parseInput(operation.params, req.params, codes) : {},
        query: operation.query ? parseInput(operation.query, req.query, codes) : {},
        body: operation.body ? parseInput(operation.body, req.body, codes) : undefined,
      };
      const run = async () => ({ status: operation.status ?? 200, body: await operation.handler(input as never, ctx) });
      const key = req.get('idempotency-key');
      const response =
        operation.method === 'post' && key && ctx.principal
          ? await idempotency.once(`${ctx.principal.userId}:${operation.name}:${key}`, run)
          : { ...(await run()), replayed: false };
      if (response.replayed) res.setHeader('Idempotent-Replayed', 'true');
      const serialized = serializedFormOf(response.body);
      if (serialized) return sendSerialized(req, res, response.status, serialized);
      res.status(response.status).json(response.body);
    } catch (error) {
      next(error);
    }
  });
}

/** Static segments before parameters, so that `/api/kins/import` wins over `/api/kins/:id`. */
function bySpecificity(a: Operation, b: Operation): number {
  const left = a.path.split('/');
  const right = b.path.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const l = left[i]!.startsWith(':') || left[i]!.startsWith('*') ? 1 : 0;
    const r = right[i]!.startsWith(':') || right[i]!.startsWith('*') ? 1 : 0;
    if (l !== r) return l - r;
  }
  return 0;
}

/** Whether a request's method and path are those of one of `operations`. */
function routesMatching(operations: Operation[]) {
  const matchers = operations.map((operation) => ({ method: operation.method.toUpperCase(), matches: match(operation.path) }));
  return (method: string, path: string) => matchers.some((m) => m.method === method && m.matches(path) !== false);
}

/**
 * Unknown /api routes: 401 without credentials, else 404, or 405 with Allow on a known path (on a
 * path where every operation is public, 405 needs no credentials either).
 */
function fallback(operations: Operation[], services: Services) {
  const matchers = operations.map((operation) => ({ method: operation.method.toUpperCase(), matches: match(operation.path), auth: operation.auth }));
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const path = req.originalUrl.split('?')[0]!;
      const known = matchers.filter((m) => m.matches(path));
      if (!known.length || known.some((m) => m.auth !== 'public')) await contextFor(req, services, 'user');
      const allowed = [...new Set(known.map((m) => m.method))];
      if (allowed.length) {
        if (allowed.includes('GET')) allowed.push('HEAD');
        res.setHeader('Allow', allowed.join(', '));
        throw new DomainError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
      }
      throw new DomainError(404, 'ROUTE_NOT_FOUND', `No route for ${req.method} ${path}`);
    } catch (error) {
      next(error);
    }
  };
}

function errorHandler(services: Services) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void res.end();
    if (error instanceof DomainError) {
      for (const [name, value] of Object.entries(error.headers ?? {})) res.setHeader(name, value);
      return void res.status(error.status).json(envelope(error.code, error.message, error.details));
    }
    const type = (error as { type?: string }).type;
    if (type === 'entity.parse.failed') return void res.status(400).json(envelope('INVALID_JSON', 'Malformed JSON body'));
    // The router decodes path parameters and throws on a broken percent-encoding (`%E0%A4%A`).
    if (error instanceof URIError) return void res.status(400).json(envelope('INVALID_PATH', 'Malformed percent-encoding in the path'));
    if (type === 'entity.too.large') return void res.status(413).json(envelope('PAYLOAD_TOO_LARGE', `Body exceeds ${JSON_BODY_LIMIT}`));
    if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return void res.status(415).json(envelope('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding'));
    }
    services.log.error({ err: error, method: req.method, url: req.originalUrl }, 'unhandled error');
    res.status(500).json(envelope('INTERNAL_ERROR', 'Internal server error'));
  };
}

/**
 * Better Auth refuses a cookie-carrying POST without an Origin (`MISSING_OR_NULL_ORIGIN`), which
 * is every curl or script call. Such a request was not made by a web page, so there is no
 * cross-site risk: it is presented as coming from PUBLIC_URL. Browser requests keep their own
 * Origin and are checked against the trusted origins.
 */
function presentScriptsAsSameOrigin(publicUrl: string) {
  const origin = new URL(publicUrl).origin;
  return (req: Request, res: Response, next: NextFunction) => {
    res.locals.operation = 'auth';
    if (!isFromBrowserPage(req.headers)) req.headers.origin = origin;
    next();
  };
}

/** One structured line per request, once the response is finished. */
function requestLog(services: Services) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      services.metrics.observeRequest(typeof res.locals.operation === 'string' ? res.locals.operation : 'other', req.method, res.statusCode, ms / 1000);
      const level = res.statusCode >= 500 ? 'error' : 'info';
      services.log[level]({ method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}

/** `graphql`: the /graphql handler (src/graphql/server.ts), generated from the same operations. */
export function createApp(services: Services, operations: Operation[], graphql?: express.RequestHandler): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLog(services));
  // Better Auth reads the raw body itself, so it is mounted before the JSON parser.
  app.all('/api/auth/*splat', presentScriptsAsSameOrigin(services.config.publicUrl), toNodeHandler(services.auth));
  const json = express.json({ limit: JSON_BODY_LIMIT });
  const readsBody = routesMatching(operations.filter((operation) => isRaw(operation) && operation.readsBody));
  app.use((req, res, next) => (readsBody(req.method, req.path) ? next() : json(req, res, next)));
  if (graphql) app.all('/graphql', graphql);
  const idempotency = createIdempotencyStore(services.readStore);
  for (const operation of [...operations].sort(bySpecificity)) bind(app, operation, services, idempotency);
  app.use('/api', fallback(operations, services));
  app.use(errorHandler(services));
  return app;
}
