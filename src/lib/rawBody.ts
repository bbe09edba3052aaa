import type { IncomingMessage } from 'node:http';

/**
 * Reads a request's body as bytes, for routes that take it verbatim (incoming webhooks; platform
 * signatures are computed over the raw bytes too). Resolves null as soon as it is known to exceed
 * `maxBytes` — from Content-Length, or once that much has arrived — without buffering more; the
 * rest is read and discarded, so the client gets the answer and the connection stays usable
 * (the server's request timeout bounds a client that never stops sending).
 */
export function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      cleanup();
      req.resume();
      resolve(null);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
