import { multipartUploadBody, singleFileUpload } from './multipart.js';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { MAX_MESSAGE_FILE_BYTES, uploadMessageFile } from '../commands/files.js';
import { badRequest, DomainError } from '../es/errors.js';
import { FILES, presentFile, type FileDoc } from '../projections/files.js';
import type { Services } from '../services.js';
import { defineRawOperation, type Operation } from './operation.js';
import { contentDisposition, showsInline } from './downloads.js';

/** Ids and slugs: the Kin id becomes a URL path segment, so nothing else is accepted. */
const KIN_ID = /^[A-Za-z0-9_-]{1,100}$/;
const FILE_NAME = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([a-z0-9]{1,16})$/;

const fileNotFound = () => new DomainError(404, 'FILE_NOT_FOUND', 'File not found');

/** messages.md §9: files attached to messages, uploaded before the message is sent. */
export function fileOperations(services: Services): Operation[] {
  const { readStore, blobs } = services;
  const tags = ['Files'];
  const parseMultipart = singleFileUpload(MAX_MESSAGE_FILE_BYTES);

  return [
    defineRawOperation({
      name: 'uploadFile',
      summary: 'Upload a file for a message (multipart: `file`, any type, at most 50 MB; `kinId`)',
      method: 'post',
      path: '/api/files/upload',
      auth: 'user',
      tags,
      openapi: {
        requestBody: multipartUploadBody({ kinId: { type: 'string' } }, ['kinId']),
        responses: {
          '201': {
            description: 'The stored file; send its id in `fileIds` with the message',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    file: {
                      type: 'object',
                      properties: {
                        id: { type: 'string' },
                        name: { type: 'string' },
                        mimeType: { type: 'string' },
                        size: { type: 'integer' },
                        url: { type: 'string' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
      async raw(req, res, ctx) {
        await parseMultipart(req, res);
        const file = req.file;
        if (!file) throw badRequest('INVALID_FILE', 'A file is required');
        const body = (req.body ?? {}) as Record<string, unknown>;
        const kinId = typeof body.kinId === 'string' ? body.kinId.trim() : '';
        if (!kinId) throw badRequest('VALIDATION_ERROR', 'kinId is required');
        if (!KIN_ID.test(kinId)) throw badRequest('VALIDATION_ERROR', 'kinId must be a Kin id or slug');
        if (file.size === 0) throw badRequest('UPLOAD_ERROR', 'File is empty');
        const input = { kinId, name: file.originalname, mimeType: file.mimetype, bytes: file.buffer };
        const { fileId, position } = await uploadMessageFile(services, input, ctx.commandMetadata());
        await services.settle(position);
        const stored = await readStore.collection<FileDoc>(FILES).get(fileId);
        if (!stored) throw new Error(`File ${fileId} is not in the read model after its upload`);
        res.status(201).json({ file: presentFile(stored) });
      },
    }),
    defineRawOperation({
      name: 'messageFile',
      summary: 'Download a file uploaded for a message',
      method: 'get',
      path: '/api/uploads/messages/:kinId/:file',
      auth: 'user',
      tags,
      params: z.object({ kinId: z.string(), file: z.string().describe('<fileId>.<ext>') }),
      openapi: { responses: { '200': { description: 'The file, with its stored MIME type', content: { '*/*': {} } } } },
      async raw(req, res) {
        const match = FILE_NAME.exec(String(req.params.file));
        const file = match ? await readStore.collection<FileDoc>(FILES).get(match[1]!) : null;
        if (!match || !file || file.kinId !== req.params.kinId || file.ext !== match[2]) throw fileNotFound();
        const stored = await blobs.open(file.hash);
        if (!stored) throw fileNotFound();
        res.setHeader('Content-Type', file.mimeType);
        res.setHeader('Content-Length', String(stored.info.size));
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Content-Disposition', contentDisposition(showsInline(file.mimeType) ? 'inline' : 'attachment', file.name));
        res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
        // pipeline closes the blob stream when the client goes away, and the response on a read error.
        await pipeline(stored.stream, res).catch((error: unknown) => {
          if (!res.writableFinished) services.log.warn({ err: error, fileId: file.id }, 'serving an uploaded file stopped early');
        });
      },
    }),
  ];
}
