import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { CommandMetadata } from '../es/decider.js';
import type { Logger } from 'pino';

export type Role = 'admin' | 'member';

export type Principal = {
  userId: string;
  name: string;
  email: string;
  role: Role;
  via: 'session' | 'apiKey';
  apiKeyId?: string;
};

export type RequestContext = {
  principal: Principal | null;
  correlationId: string;
  log: Logger;
  /** Actor, correlation and clock for a command issued by this request. */
  commandMetadata(): CommandMetadata;
};

/** `public`: anyone; `user`: any signed-in user or API key; `admin`: admins only. */
export type AuthRule = 'public' | 'user' | 'admin';
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

type AnyObject = z.ZodObject<z.ZodRawShape>;

type Common = {
  /** Also the GraphQL field name: `kins`, `kin`, `createKin`… */
  name: string;
  summary: string;
  method: HttpMethod;
  /** Express path syntax (`/api/kins/:id`). */
  path: string;
  auth: AuthRule;
  tags?: string[];
};

export type JsonOperation<
  P extends AnyObject | undefined = AnyObject | undefined,
  Q extends AnyObject | undefined = AnyObject | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined,
  O extends z.ZodType = z.ZodType,
> = Common & {
  params?: P;
  query?: Q;
  body?: B;
  output: O;
  /** HTTP status of a success (200 unless said). */
  status?: number;
  /**
   * Maps the first invalid field (top-level name) to the spec's error code; the zod issue's
   * message becomes the envelope's message. A key `field:issue` (zod issue code, e.g.
   * `content:too_big`) wins over `field`. Other validation failures are VALIDATION_ERROR.
   */
  errorCodes?: Record<string, string>;
  handler: (
    input: {
      params: P extends AnyObject ? z.output<P> : Record<string, never>;
      query: Q extends AnyObject ? z.output<Q> : Record<string, never>;
      body: B extends z.ZodType ? z.output<B> : undefined;
    },
    ctx: RequestContext,
  ) => Promise<z.input<O>>;
};

/**
 * Routes that are not JSON in and JSON out (multipart uploads, downloads, SSE) are still declared
 * here; their handler writes the response itself and GraphQL leaves them out.
 */
export type RawOperation = Common & {
  raw: (req: Request, res: Response, ctx: RequestContext) => Promise<void>;
  params?: AnyObject;
  /** The handler reads the request body itself (raw bytes, its own limit): the JSON parser leaves it alone. */
  readsBody?: true;
  /** For the OpenAPI document. */
  openapi: {
    requestBody?: Record<string, unknown>;
    responses: Record<string, { description: string; content?: Record<string, unknown> }>;
  };
};

export type Operation = JsonOperation | RawOperation;

export const isRaw = (operation: Operation): operation is RawOperation => 'raw' in operation;

/** Identity function that gives the handler its inferred input and output types. */
export function defineOperation<
  P extends AnyObject | undefined,
  Q extends AnyObject | undefined,
  B extends z.ZodType | undefined,
  O extends z.ZodType,
>(operation: JsonOperation<P, Q, B, O>): Operation {
  return operation as unknown as Operation;
}

export const defineRawOperation = (operation: RawOperation): Operation => operation;
