import type { Request, Response } from 'express';
import multer from 'multer';
import { badRequest } from '../es/errors.js';
import type { BlobStore } from '../es/blobStore.js';
import { sniffImage } from '../lib/images.js';

/**
 * Parses a multipart body holding one file in the field `file` (plus text fields) into memory,
 * turning every way it can go wrong into a 400 the client can act on.
 */
export function singleFileUpload(maxBytes: number) {
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxBytes, files: 1, fields: 20, fieldSize: 10 * 1024 },
    // Browsers send UTF-8 file names without saying so.
    defParamCharset: 'utf8',
  }).single('file');
  const megabytes = Math.round(maxBytes / (1024 * 1024));
  return (req: Request, res: Response) =>
    new Promise<void>((resolve, reject) =>
      upload(req, res, (error: unknown) => {
        if (!error) return resolve();
        if (!(error instanceof multer.MulterError)) return reject(badRequest('UPLOAD_ERROR', 'Malformed multipart body'));
        if (error.code === 'LIMIT_FILE_SIZE') return reject(badRequest('FILE_TOO_LARGE', `File too large: max ${megabytes} MB`));
        if (error.code === 'LIMIT_UNEXPECTED_FILE' || error.code === 'LIMIT_FILE_COUNT') {
          return reject(badRequest('INVALID_FILE', 'Send exactly one file, in the field "file"'));
        }
        reject(badRequest('UPLOAD_ERROR', error.message));
      }),
    );
}

/** The OpenAPI request body of a multipart upload: one file in the field `file`, plus text fields. */
export function multipartUploadBody(fields: Record<string, Record<string, unknown>> = {}, required: string[] = []) {
  const properties = { file: { type: 'string', format: 'binary' }, ...fields };
  return { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties, required: ['file', ...required] } } } };
}

/** The OpenAPI description of an avatar upload (one image in the field `file`; answers its new URL). */
export const avatarUploadOpenApi = {
  requestBody: multipartUploadBody(),
  responses: {
    '200': { description: 'The new avatar URL', content: { 'application/json': { schema: { type: 'object', properties: { avatarUrl: { type: 'string' } } } } } },
  },
};

const MAX_AVATAR_BYTES = 10 * 1024 * 1024;
const parseAvatarUpload = singleFileUpload(MAX_AVATAR_BYTES);

/**
 * Receives an avatar upload (a Kin's or a user's): one PNG, JPEG, GIF or WebP image, recognised by
 * its bytes, at most 10 MB; stores it content-addressed and returns what the avatar event names.
 */
export async function receiveAvatar(req: Request, res: Response, blobs: BlobStore) {
  await parseAvatarUpload(req, res);
  const file = req.file;
  if (!file) throw badRequest('INVALID_FILE', 'No file provided');
  const image = sniffImage(file.buffer);
  if (!image) throw badRequest('INVALID_FILE_TYPE', 'Only PNG, JPEG, GIF and WebP images are accepted');
  const blob = await blobs.put(file.buffer, image.contentType);
  return { hash: blob.hash, ext: image.ext, contentType: image.contentType };
}
