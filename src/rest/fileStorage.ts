import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import {
  deleteStoredFile,
  MAX_STORED_FILE_BYTES,
  storedFileNotFound,
  updateStoredFile,
  uploadStoredFile,
  expireStoredFile,
  type FileStorageDeps,
} from '../commands/fileStorage.js';
import { badRequest, DomainError } from '../es/errors.js';
import { storedFileSecretOwner } from '../events/fileStorage.js';
import { KINS, type KinDoc } from '../projections/kins.js';
import { STORED_FILES, type StoredFileDoc } from '../projections/fileStorage.js';
import type { Services } from '../services.js';
import { findKin } from './kins.js';
import { multipartUploadBody, singleFileUpload } from './multipart.js';
import { defineOperation, defineRawOperation, type Operation } from './operation.js';
import { parseInput } from './validation.js';
import { contentDisposition, showsInline } from './downloads.js';

// ── Shared with the share links (src/rest/shares.ts) ──────────────────────────────────────────

export const storedFiles = (services: Pick<Services, 'readStore'>) => services.readStore.collection<StoredFileDoc>(STORED_FILES);

/**
 * Sends a stored file's bytes (headers only for HEAD). `missing` is the error for bytes that are
 * not in the blob store (platform.md §5: 500 "File not found on disk").
 */
export async function sendStoredBytes(
  services: Pick<Services, 'blobs' | 'log'>,
  res: Response,
  file: Pick<StoredFileDoc, 'id' | 'hash' | 'mimeType' | 'originalName'>,
  options: { head: boolean; missing: () => DomainError },
): Promise<void> {
  const stored = options.head ? await services.blobs.stat(file.hash) : null;
  const opened = options.head ? null : await services.blobs.open(file.hash);
  const info = stored ?? opened?.info;
  if (!info) {
    services.log.error({ fileId: file.id, hash: file.hash }, 'a stored file has no bytes in the blob store');
    throw options.missing();
  }
  res.setHeader('Content-Type', file.mimeType);
  res.setHeader('Content-Length', String(info.size));
  res.setHeader('Content-Disposition', contentDisposition(showsInline(file.mimeType) ? 'inline' : 'attachment', file.originalName));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  if (!opened) return void res.end();
  // pipeline closes the blob stream when the client goes away, and the response on a read error.
  await pipeline(opened.stream, res).catch((error: unknown) => {
    if (!res.writableFinished) services.log.warn({ err: error, fileId: file.id }, 'serving a stored file stopped early');
  });
}

/** The share link; null once the file's data key is shredded (it is being deleted). */
async function shareUrl(services: Pick<Services, 'secrets' | 'config'>, doc: StoredFileDoc): Promise<string | null> {
  const token = await services.secrets.decrypt(storedFileSecretOwner(doc.id), doc.tokenEncrypted);
  return token === null ? null : `${services.config.publicUrl.replace(/\/+$/, '')}/s/${token}`;
}

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const MAX_MINUTES = 10 * 365 * 24 * 60;

/** Minutes from now; "", null and 0 mean "never expires". Multipart sends them as text. */
const minutesField = z.preprocess(
  (value) => (value === '' || value === null ? null : typeof value === 'string' ? Number(value.trim()) : value),
  z
    .number({ error: 'expiresIn must be a number of minutes' })
    .min(0, 'expiresIn cannot be negative')
    .max(MAX_MINUTES, 'expiresIn must be at most ten years')
    .nullable(),
);

const nameField = z.string({ error: 'name must be a string' }).trim().max(255, 'name must be at most 255 characters');
const descriptionField = z.string({ error: 'description must be a string' }).trim().max(2000, 'description must be at most 2000 characters');
const passwordField = z.string({ error: 'password must be a string' }).max(1024, 'password must be at most 1024 characters');
/** Multipart flags are text (platform.md §5): only "false" makes a file private, only "true" read-and-burn. */
const textFlag = z.string({ error: 'must be "true" or "false"' }).optional();
const isFalse = (value: string | undefined) => value?.trim().toLowerCase() === 'false';
const isTrue = (value: string | undefined) => value?.trim().toLowerCase() === 'true';

const uploadFields = z.object({
  kinId: z.string({ error: 'kinId is required' }).trim().min(1, 'kinId is required').max(100, 'kinId is too long'),
  name: nameField.optional(),
  description: descriptionField.optional(),
  isPublic: textFlag.transform((value) => !isFalse(value)),
  password: passwordField.optional(),
  expiresIn: minutesField.optional(),
  readAndBurn: textFlag.transform(isTrue),
});

const updateInput = z
  .object({
    name: nameField.min(1, 'name cannot be empty').optional(),
    description: descriptionField.nullable().optional(),
    isPublic: z.boolean({ error: 'isPublic must be a boolean' }).optional(),
    password: passwordField.nullable().optional().describe('"" or null removes the password'),
    expiresIn: minutesField.optional().describe('Minutes from now; 0, "" or null removes the expiry'),
    readAndBurn: z.boolean({ error: 'readAndBurn must be a boolean' }).optional(),
  })
  .meta({ id: 'UpdateStoredFileInput' });

const fileRef = z.object({ id: z.string().min(1).max(100) });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const fileMeta = z
  .object({
    id: z.string(),
    kinId: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    originalName: z.string(),
    mimeType: z.string(),
    size: z.number(),
    isPublic: z.boolean(),
    hasPassword: z.boolean(),
    readAndBurn: z.boolean(),
    expiresAt: z.number().nullable().describe('epoch ms'),
    downloadCount: z.number(),
    url: z.string().describe('PUBLIC_URL/s/<token>: the share link'),
    createdByKinId: z.string().nullable(),
    createdAt: z.number().describe('epoch ms'),
    updatedAt: z.number().describe('epoch ms'),
  })
  .meta({ id: 'StoredFile' });

type FileMeta = z.input<typeof fileMeta>;

const metaOf = (doc: StoredFileDoc, url: string): FileMeta => ({
  id: doc.id,
  kinId: doc.kinId,
  name: doc.name,
  description: doc.description,
  originalName: doc.originalName,
  mimeType: doc.mimeType,
  size: doc.size,
  isPublic: doc.isPublic,
  hasPassword: doc.passwordHash !== null,
  readAndBurn: doc.readAndBurn,
  expiresAt: doc.expiresAt,
  downloadCount: doc.downloadCount,
  url,
  createdByKinId: doc.createdByKinId,
  createdAt: doc.createdAt,
  updatedAt: doc.updatedAt,
});

const fileMetaSchema = { type: 'object', description: 'FileMeta (platform.md §5); times in epoch ms' };

// ── Operations ────────────────────────────────────────────────────────────────────────────────

/** platform.md §5 with DECISIONS 13: shareable files of a Kin; the public side is src/rest/shares.ts. */
export function fileStorageOperations(services: Services): Operation[] {
  const deps: FileStorageDeps = services;
  const tags = ['File storage'];
  const parseMultipart = singleFileUpload(MAX_STORED_FILE_BYTES);

  async function findFile(id: string): Promise<StoredFileDoc> {
    const doc = await storedFiles(services).get(id);
    if (!doc) throw storedFileNotFound();
    return doc;
  }

  /** null for a file being deleted (its token is shredded; the read model has not caught up). */
  async function presentOrNull(doc: StoredFileDoc): Promise<FileMeta | null> {
    const url = await shareUrl(services, doc);
    return url === null ? null : metaOf(doc, url);
  }

  async function present(doc: StoredFileDoc): Promise<FileMeta> {
    const meta = await presentOrNull(doc);
    if (!meta) throw storedFileNotFound();
    return meta;
  }

  return [
    defineOperation({
      name: 'storedFiles',
      summary: 'List stored files, newest first (optionally of one Kin, by id or slug)',
      method: 'get',
      path: '/api/file-storage',
      auth: 'user',
      tags,
      query: z.object({ kinId: z.string().max(100).optional() }),
      output: z.object({ files: z.array(fileMeta) }),
      async handler({ query }) {
        let filter = {};
        if (query.kinId) {
          const kin = await services.readStore.collection<KinDoc>(KINS).findOne({ $or: [{ id: query.kinId }, { slug: query.kinId }] });
          filter = { kinId: kin?.id ?? query.kinId };
        }
        const docs = await storedFiles(services).find(filter, { sort: { createdAt: -1, id: -1 } });
        const presented = await Promise.all(docs.map(presentOrNull));
        return { files: presented.filter((file): file is FileMeta => file !== null) };
      },
    }),
    defineRawOperation({
      name: 'uploadStoredFile',
      summary: 'Store a file to share (multipart: file, kinId, name?, description?, isPublic?, password?, expiresIn? minutes, readAndBurn?; at most 100 MB)',
      method: 'post',
      path: '/api/file-storage',
      auth: 'user',
      tags,
      openapi: {
        requestBody: multipartUploadBody(
          {
            kinId: { type: 'string', description: 'Kin id or slug' },
            name: { type: 'string' },
            description: { type: 'string' },
            isPublic: { type: 'string', description: 'only "false" makes the share link answer 404' },
            password: { type: 'string' },
            expiresIn: { type: 'string', description: 'minutes' },
            readAndBurn: { type: 'string', description: '"true": the share link serves the file once' },
          },
          ['kinId'],
        ),
        responses: {
          '201': { description: 'The stored file', content: { 'application/json': { schema: { type: 'object', properties: { file: fileMetaSchema } } } } },
          '400': { description: 'INVALID_FILE, VALIDATION_ERROR, FILE_TOO_LARGE or UPLOAD_ERROR' },
          '404': { description: 'KIN_NOT_FOUND' },
        },
      },
      async raw(req, res, ctx) {
        await parseMultipart(req, res);
        const file = req.file;
        if (!file) throw badRequest('INVALID_FILE', 'No file provided');
        const fields = parseInput(uploadFields, req.body ?? {});
        if (file.size === 0) throw badRequest('UPLOAD_ERROR', 'File is empty');
        const kin = await findKin(services, fields.kinId);
        const { fileId, position } = await uploadStoredFile(
          deps,
          {
            kinId: kin.id,
            bytes: file.buffer,
            originalName: file.originalname,
            mimeType: file.mimetype,
            name: fields.name,
            description: fields.description,
            isPublic: fields.isPublic,
            password: fields.password,
            expiresInMinutes: fields.expiresIn,
            readAndBurn: fields.readAndBurn,
          },
          ctx.commandMetadata(),
        );
        await services.settle(position);
        const meta = await present(await findFile(fileId));
        const { id, name, originalName, mimeType, size, url, isPublic, hasPassword, readAndBurn, expiresAt } = meta;
        res.status(201).json({ file: { id, name, originalName, mimeType, size, url, isPublic, hasPassword, readAndBurn, expiresAt } });
      },
    }),
    defineRawOperation({
      name: 'downloadStoredFile',
      summary: 'Download a stored file (DECISIONS 13); with ?meta=1 its metadata instead',
      method: 'get',
      path: '/api/file-storage/:id',
      auth: 'user',
      tags,
      params: fileRef,
      openapi: {
        responses: {
          '200': {
            description: 'The bytes (no password asked, not counted, not burned: this is the owner side), or `{file: FileMeta}` with ?meta=1',
            content: { '*/*': {}, 'application/json': { schema: { type: 'object', properties: { file: fileMetaSchema } } } },
          },
          '404': { description: 'FILE_NOT_FOUND' },
          '410': { description: 'FILE_EXPIRED: the file expired (and is now deleted)' },
        },
      },
      async raw(req, res, ctx) {
        const doc = await findFile(String(req.params.id));
        const meta = String(req.query.meta ?? '');
        if (meta === '1' || meta === 'true') return void res.json({ file: await present(doc) });
        if (doc.expiresAt !== null && doc.expiresAt <= Date.now()) {
          const { expired, position } = await expireStoredFile(deps, doc.id, ctx.commandMetadata());
          await services.settle(position);
          if (expired) throw new DomainError(410, 'FILE_EXPIRED', 'File has expired');
        }
        await sendStoredBytes(services, res, doc, {
          head: req.method === 'HEAD',
          missing: () => new DomainError(500, 'FILE_NOT_FOUND', 'File not found on disk'),
        });
      },
    }),
    defineOperation({
      name: 'updateStoredFile',
      summary: 'Rename, describe, publish or hide a stored file; set or remove its password, expiry, read-and-burn',
      method: 'patch',
      path: '/api/file-storage/:id',
      auth: 'user',
      tags,
      params: fileRef,
      body: updateInput,
      output: z.object({ file: fileMeta }),
      async handler({ params, body }, ctx) {
        const { expiresIn, description, ...rest } = body;
        const update = {
          ...rest,
          ...(description !== undefined ? { description: description || null } : {}),
          ...(expiresIn !== undefined ? { expiresInMinutes: expiresIn } : {}),
        };
        const result = await updateStoredFile(deps, params.id, update, ctx.commandMetadata());
        await services.settle(result.position);
        return { file: await present(await findFile(params.id)) };
      },
    }),
    defineOperation({
      name: 'deleteStoredFile',
      summary: 'Delete a stored file: its share link stops working and its bytes go (unless other files have the same content)',
      method: 'delete',
      path: '/api/file-storage/:id',
      auth: 'user',
      tags,
      params: fileRef,
      output: z.object({ success: z.literal(true) }),
      async handler({ params }, ctx) {
        const { position } = await deleteStoredFile(deps, params.id, ctx.commandMetadata());
        await services.settle(position);
        return { success: true as const };
      },
    }),
  ];
}
