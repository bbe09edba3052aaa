/**
 * BlobStore on a local folder: the bytes at `<dir>/<hash[0..2]>/<hash>` and a sidecar
 * `<hash>.json` holding { contentType, size }. The blob file is what makes a blob exist; the
 * sidecar only describes it.
 */
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { blobHash, DEFAULT_CONTENT_TYPE, isBlobHash } from '../../es/blobStore.js';
import type { BlobInfo, BlobStore } from '../../es/blobStore.js';

export function createFolderBlobStore(dir: string): BlobStore {
  const blobPath = (hash: string) => path.join(dir, hash.slice(0, 2), hash);
  const sidecarPath = (hash: string) => `${blobPath(hash)}.json`;
  const contentTypeOf = (hash: string) => readContentType(sidecarPath(hash));

  async function stat(hash: string): Promise<BlobInfo | null> {
    if (!isBlobHash(hash)) return null;
    const file = await openIfExists(blobPath(hash));
    if (!file) return null;
    try {
      const { size } = await file.stat();
      return { hash, size, contentType: await contentTypeOf(hash) };
    } finally {
      await file.close();
    }
  }

  async function put(bytes: Buffer, contentType: string): Promise<BlobInfo> {
    const hash = blobHash(bytes);
    const existing = await stat(hash);
    if (existing) return existing;
    await mkdir(path.dirname(blobPath(hash)), { recursive: true });
    // Sidecar first, so a blob visible under its final name always has its content type.
    await writeAtomically(sidecarPath(hash), JSON.stringify({ contentType, size: bytes.length }));
    await writeAtomically(blobPath(hash), bytes);
    return { hash, size: bytes.length, contentType };
  }

  async function get(hash: string): Promise<{ info: BlobInfo; bytes: Buffer } | null> {
    if (!isBlobHash(hash)) return null;
    const bytes = await readIfExists(blobPath(hash));
    if (!bytes) return null;
    return { info: { hash, size: bytes.length, contentType: await contentTypeOf(hash) }, bytes };
  }

  async function openBlob(hash: string) {
    if (!isBlobHash(hash)) return null;
    const file = await openIfExists(blobPath(hash));
    if (!file) return null;
    try {
      const { size } = await file.stat();
      const info: BlobInfo = { hash, size, contentType: await contentTypeOf(hash) };
      // The stream owns the handle from here and closes it when it ends or is destroyed.
      return { info, stream: file.createReadStream() };
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  async function deleteBlob(hash: string): Promise<boolean> {
    if (!isBlobHash(hash)) return false;
    // Blob before sidecar: a crash in between leaves only an orphan sidecar, which reads as
    // "no blob" and is overwritten by the next put of the same bytes.
    const removed = await removeIfExists(blobPath(hash));
    await rm(sidecarPath(hash), { force: true });
    return removed;
  }

  async function ping(): Promise<void> {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.R_OK | constants.W_OK);
  }

  return { put, get, open: openBlob, stat, delete: deleteBlob, ping };
}

/**
 * Writes to a uniquely named temp file in the target's folder, flushes it to disk, then renames it
 * over the target. Rename is atomic within a file system, so a crash never leaves a partial file
 * under the final name, and concurrent writers of the same bytes cannot interleave.
 */
async function writeAtomically(target: string, data: Buffer | string): Promise<void> {
  const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(data);
      // Without the sync, a power loss after the rename can leave the final name with no data.
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function readContentType(sidecar: string): Promise<string> {
  const text = await readFile(sidecar, 'utf8').catch(nullIfNotFound);
  if (text === null) return DEFAULT_CONTENT_TYPE;
  try {
    const parsed: unknown = JSON.parse(text);
    const contentType = (parsed as { contentType?: unknown } | null)?.contentType;
    return typeof contentType === 'string' ? contentType : DEFAULT_CONTENT_TYPE;
  } catch {
    // A damaged sidecar must not make intact bytes unreadable.
    return DEFAULT_CONTENT_TYPE;
  }
}

function openIfExists(file: string): Promise<FileHandle | null> {
  return open(file, 'r').catch(nullIfNotFound);
}

function readIfExists(file: string): Promise<Buffer | null> {
  return readFile(file).catch(nullIfNotFound);
}

async function removeIfExists(file: string): Promise<boolean> {
  const removed = await rm(file).then(() => true, nullIfNotFound);
  return removed === true;
}

function nullIfNotFound(error: unknown): null {
  if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
  throw error;
}
