import type { Request, Response } from 'express';
import { z } from 'zod';
import { expireStoredFile, releaseStoredFile, serveStoredFile, tokenHashOf } from '../commands/fileStorage.js';
import { badRequest, DomainError } from '../es/errors.js';
import { createAttemptGuard, verifyPassword } from '../lib/passwords.js';
import { readRawBody } from '../lib/rawBody.js';
import type { StoredFileDoc } from '../projections/fileStorage.js';
import type { Services } from '../services.js';
import { sendStoredBytes, storedFiles } from './fileStorage.js';
import { defineRawOperation, type Operation, type RequestContext } from './operation.js';

const FIFTEEN_MINUTES_MS = 15 * 60 * 1000;
/** Wrong passwords allowed per share within 15 minutes, then 429 until the window moves. */
const FAILURES_PER_SHARE = 10;
/** Per client address: a little more, for someone opening several shares. */
const FAILURES_PER_ADDRESS = 30;

const TOKEN = /^[A-Za-z0-9-]{1,100}$/;
const MAX_BODY_BYTES = 16 * 1024;

const downloadError = (status: number, message: string) => new DomainError(status, 'DOWNLOAD_ERROR', message);
const notFound = () => downloadError(404, 'File not found');
const expired = () => downloadError(410, 'File has expired');
const tooManyAttempts = (waitMs: number) =>
  new DomainError(429, 'RATE_LIMITED', 'Too many wrong passwords; try again later', undefined, { 'Retry-After': String(Math.ceil(waitMs / 1000)) });

/** The POST body: `{password}` as JSON (platform.md §5: bad JSON 400 INVALID_BODY, no password 400 PASSWORD_REQUIRED). */
async function readPassword(req: Request): Promise<string> {
  const raw = await readRawBody(req, MAX_BODY_BYTES);
  if (raw === null) throw new DomainError(413, 'PAYLOAD_TOO_LARGE', `Body exceeds ${MAX_BODY_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8') || 'null');
  } catch {
    throw badRequest('INVALID_BODY', 'Malformed JSON body');
  }
  const password = (body as { password?: unknown } | null)?.password;
  if (typeof password !== 'string' || password === '') throw badRequest('PASSWORD_REQUIRED', 'Password is required');
  return password;
}

/**
 * The public share links (DECISIONS 5 and 13). A share answers 404 when its token is unknown or
 * its file is not public (the original did not enforce isPublic; we do), 410 once expired (the
 * file is expired then), 401 while it needs a password and none was posted. Wrong passwords are
 * counted per share and per client address.
 */
export function shareOperations(services: Services): Operation[] {
  const deps = services;
  const shareGuard = createAttemptGuard({ max: FAILURES_PER_SHARE, windowMs: FIFTEEN_MINUTES_MS });
  const addressGuard = createAttemptGuard({ max: FAILURES_PER_ADDRESS, windowMs: FIFTEEN_MINUTES_MS });
  const tags = ['Shares'];

  async function findShare(token: string): Promise<StoredFileDoc> {
    const doc = TOKEN.test(token) ? await storedFiles(services).findOne({ tokenHash: tokenHashOf(token) }) : null;
    if (!doc || !doc.isPublic) throw notFound();
    return doc;
  }

  /** Expires a file whose time has come (then 410); a file a PATCH just extended goes on. */
  async function refuseExpired(doc: StoredFileDoc, ctx: RequestContext) {
    if (doc.expiresAt === null || doc.expiresAt > Date.now()) return;
    const result = await expireStoredFile(deps, doc.id, ctx.commandMetadata());
    await services.settle(result.position);
    if (result.expired) throw expired();
  }

  async function checkPassword(doc: StoredFileDoc, password: string, address: string) {
    const shareKey = doc.id;
    const lockedFor = Math.max(shareGuard.lockedFor(shareKey), addressGuard.lockedFor(address));
    if (lockedFor > 0) throw tooManyAttempts(lockedFor);
    if (await verifyPassword(doc.passwordHash!, password)) return;
    const wait = Math.max(shareGuard.fail(shareKey), addressGuard.fail(address));
    if (wait > 0) throw tooManyAttempts(wait);
    throw downloadError(403, 'Invalid password');
  }

  /** Serves the bytes once the request may have them; a HEAD records nothing and burns nothing. */
  async function serve(req: Request, res: Response, doc: StoredFileDoc, ctx: RequestContext) {
    const missing = () => downloadError(500, 'File not found on disk');
    if (req.method === 'HEAD') return sendStoredBytes(services, res, doc, { head: true, missing });
    const outcome = await serveStoredFile(deps, doc.id, ctx.commandMetadata());
    if (outcome.outcome === 'expired') throw expired();
    if (outcome.outcome === 'gone') throw notFound();
    try {
      await sendStoredBytes(services, res, doc, { head: false, missing });
    } finally {
      if (outcome.outcome === 'serve-once') await releaseStoredFile(deps, doc.id, outcome.file.hash, outcome.position);
    }
  }

  const token = z.object({ token: z.string() });
  const downloadResponses = {
    '200': { description: 'The bytes: inline for images, plain text, PDF, audio and video; attachment otherwise', content: { '*/*': {} } },
    '404': { description: 'DOWNLOAD_ERROR "File not found": unknown token, not public, burned or deleted' },
    '410': { description: 'DOWNLOAD_ERROR "File has expired"' },
  };

  return [
    defineRawOperation({
      name: 'share',
      summary: 'Open a share link (public): the file, or 401 PASSWORD_REQUIRED when it has a password',
      method: 'get',
      path: '/s/:token',
      auth: 'public',
      tags,
      params: token,
      openapi: { responses: { ...downloadResponses, '401': { description: 'PASSWORD_REQUIRED: POST the password' } } },
      async raw(req, res, ctx) {
        const doc = await findShare(String(req.params.token));
        await refuseExpired(doc, ctx);
        if (doc.passwordHash !== null) throw new DomainError(401, 'PASSWORD_REQUIRED', 'This file requires a password');
        await serve(req, res, doc, ctx);
      },
    }),
    defineRawOperation({
      name: 'unlockShare',
      summary: 'Open a share link with its password (public): JSON {password}',
      method: 'post',
      path: '/s/:token',
      auth: 'public',
      tags,
      params: token,
      readsBody: true,
      openapi: {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', properties: { password: { type: 'string' } }, required: ['password'] } } },
        },
        responses: {
          ...downloadResponses,
          '400': { description: 'INVALID_BODY or PASSWORD_REQUIRED' },
          '403': { description: 'DOWNLOAD_ERROR "Invalid password"' },
          '429': { description: 'RATE_LIMITED: too many wrong passwords (see Retry-After)' },
        },
      },
      async raw(req, res, ctx) {
        const password = await readPassword(req);
        const doc = await findShare(String(req.params.token));
        await refuseExpired(doc, ctx);
        if (doc.passwordHash !== null) await checkPassword(doc, password, req.ip ?? req.socket.remoteAddress ?? 'unknown');
        await serve(req, res, doc, ctx);
      },
    }),
  ];
}
