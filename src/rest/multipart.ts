import type { Request, Response } from 'express';
import multer from 'multer';
import { badRequest } from '../es/errors.js';

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
