/**
 * BlobStore on MongoDB GridFS: one GridFS file per blob, named by its hash, with the content type
 * in `metadata.contentType`.
 *
 * GridFS writes a file's chunks before its files document, so an interrupted upload leaves orphan
 * chunks but never a visible partial blob. Two concurrent first puts of the same bytes may both
 * upload; the copies are identical, reads take either, and delete removes them all.
 */
import { buffer } from 'node:stream/consumers';
import { finished } from 'node:stream/promises';
import { GridFSBucket } from 'mongodb';
import type { Db, GridFSFile, ObjectId } from 'mongodb';
import { blobHash, DEFAULT_CONTENT_TYPE, isBlobHash } from '../../es/blobStore.js';
import type { BlobInfo, BlobStore } from '../../es/blobStore.js';

export function createGridFsBlobStore(db: Db, bucketName = 'blobs'): BlobStore {
  const bucket = new GridFSBucket(db, { bucketName });
  const files = db.collection<GridFSFile>(`${bucketName}.files`);
  const chunks = db.collection<{ files_id: ObjectId }>(`${bucketName}.chunks`);

  const findFile = (hash: string) => bucket.find({ filename: hash }, { limit: 1 }).next();

  async function stat(hash: string): Promise<BlobInfo | null> {
    if (!isBlobHash(hash)) return null;
    const file = await findFile(hash);
    return file && infoOf(file);
  }

  async function put(bytes: Buffer, contentType: string): Promise<BlobInfo> {
    const hash = blobHash(bytes);
    const existing = await findFile(hash);
    if (existing) return infoOf(existing);
    const upload = bucket.openUploadStream(hash, { metadata: { contentType } });
    upload.end(bytes);
    await finished(upload);
    return { hash, size: bytes.length, contentType };
  }

  async function openBlob(hash: string) {
    if (!isBlobHash(hash)) return null;
    const file = await findFile(hash);
    return file && { info: infoOf(file), stream: bucket.openDownloadStream(file._id) };
  }

  async function get(hash: string): Promise<{ info: BlobInfo; bytes: Buffer } | null> {
    const opened = await openBlob(hash);
    if (!opened) return null;
    // A delete between the lookup and the read surfaces as ENOENT: the blob is simply gone.
    const bytes = await buffer(opened.stream).catch(nullIfNotFound);
    return bytes && { info: opened.info, bytes };
  }

  async function deleteBlob(hash: string): Promise<boolean> {
    if (!isBlobHash(hash)) return false;
    // Deleting by filename rather than bucket.delete(id), which throws when a concurrent delete
    // got there first. Files documents go first so the blob disappears before its chunks do.
    const ids = await files
      .find({ filename: hash }, { projection: { _id: 1 } })
      .map((file) => file._id)
      .toArray();
    if (ids.length === 0) return false;
    const { deletedCount } = await files.deleteMany({ _id: { $in: ids } });
    await chunks.deleteMany({ files_id: { $in: ids } });
    return deletedCount > 0;
  }

  async function ping(): Promise<void> {
    await db.command({ ping: 1 });
  }

  return { put, get, open: openBlob, stat, delete: deleteBlob, ping };
}

function infoOf(file: GridFSFile): BlobInfo {
  const contentType: unknown = file.metadata?.['contentType'];
  return {
    hash: file.filename,
    size: file.length,
    contentType: typeof contentType === 'string' ? contentType : DEFAULT_CONTENT_TYPE,
  };
}

function nullIfNotFound(error: unknown): null {
  if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
  throw error;
}
