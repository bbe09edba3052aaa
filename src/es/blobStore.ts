/**
 * The BlobStore port: content-addressed storage for uploaded files (Kin avatars, attachments).
 * A blob's address is the sha256 of its bytes, so putting the same bytes again stores nothing new
 * and returns the same hash. Adapters: src/stores/blobs/folderBlobStore.ts (embedded default) and
 * src/stores/blobs/gridFsBlobStore.ts. Both must pass tests/conformance/blobStore.test.ts.
 *
 * Hashes arrive from URLs, so every method validates them before touching storage: a malformed
 * hash reads as "no such blob" (null / false) and never throws.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export type BlobInfo = {
  /** sha256 of the bytes, lowercase hex. */
  hash: string;
  size: number;
  contentType: string;
};

export interface BlobStore {
  /**
   * Stores the bytes once. When they are already stored, the stored blob is kept as it is,
   * including its content type: the address is the bytes, so the first upload's type wins.
   */
  put(bytes: Buffer, contentType: string): Promise<BlobInfo>;
  get(hash: string): Promise<{ info: BlobInfo; bytes: Buffer } | null>;
  /** Streams the bytes, for downloads that should not buffer a whole file. */
  open(hash: string): Promise<{ info: BlobInfo; stream: Readable } | null>;
  stat(hash: string): Promise<BlobInfo | null>;
  /** Returns whether a blob was there to delete. */
  delete(hash: string): Promise<boolean>;
  /** Resolves when the store can be read and written; for health checks. */
  ping(): Promise<void>;
}

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

const BLOB_HASH = /^[a-f0-9]{64}$/;

export function isBlobHash(hash: unknown): hash is string {
  return typeof hash === 'string' && BLOB_HASH.test(hash);
}

export function blobHash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
