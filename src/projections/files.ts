import { extname } from 'node:path';
import type { BlobStore } from '../es/blobStore.js';
import type { Projection } from '../es/projections.js';
import type { Doc, ReadStore } from '../es/readStore.js';
import { fileEventTypes, parseFileEvent } from '../events/files.js';

export const FILES = 'files';

/** A file uploaded for a message (messages.md §9). */
export type FileDoc = Doc & {
  id: string;
  kinId: string;
  name: string;
  mimeType: string;
  size: number;
  /** Its address in the blob store. */
  hash: string;
  /** Of the URL it is served at. */
  ext: string;
  uploadedBy: string | null;
  uploadedAt: string;
};

const EXT_BY_MIME: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/markdown': 'md',
  'application/json': 'json',
};

/** The name's own extension when it is a plain one, else one for the MIME type, else `bin`. */
export function fileExtension(name: string, mimeType: string): string {
  const own = extname(name).slice(1).toLowerCase();
  if (/^[a-z0-9]{1,16}$/.test(own)) return own;
  return EXT_BY_MIME[mimeType] ?? 'bin';
}

export const filesProjection: Projection = {
  name: 'files',
  version: 1,
  handles: fileEventTypes,
  collections: [FILES],
  async setup(store) {
    await store.collection(FILES).ensureIndex({ fields: { kinId: 1 } });
  },
  async apply(recorded, store) {
    const event = parseFileEvent(recorded);
    switch (event.type) {
      case 'FileUploaded': {
        const { fileId, ...data } = event.data;
        await store.collection<FileDoc>(FILES).replace({ id: fileId, ...data, ext: fileExtension(data.name, data.mimeType) });
        return;
      }
    }
  },
};

export const fileUrlOf = (file: Pick<FileDoc, 'id' | 'kinId' | 'ext'>): string =>
  `/api/uploads/messages/${encodeURIComponent(file.kinId)}/${file.id}.${file.ext}`;

export type PresentedFile = { id: string; name: string; mimeType: string; size: number; url: string };

/** The shape of a file in upload answers, message history and chat events. */
export const presentFile = (file: FileDoc): PresentedFile => ({
  id: file.id,
  name: file.name,
  mimeType: file.mimeType,
  size: file.size,
  url: fileUrlOf(file),
});

/** The files with these ids, in the order of `ids`; unknown ids are left out. */
export async function filesByIds(readStore: ReadStore, ids: readonly string[]): Promise<FileDoc[]> {
  if (ids.length === 0) return [];
  const found = await readStore.collection<FileDoc>(FILES).find({ id: { $in: [...new Set(ids)] } });
  const byId = new Map(found.map((file) => [file.id, file]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** A file and its bytes (e.g. to build an LLM input), or null when either is gone. */
export async function loadFileBytes(
  services: { readStore: ReadStore; blobs: BlobStore },
  fileId: string,
): Promise<{ file: FileDoc; bytes: Buffer } | null> {
  const file = await services.readStore.collection<FileDoc>(FILES).get(fileId);
  if (!file) return null;
  const stored = await services.blobs.get(file.hash);
  return stored ? { file, bytes: stored.bytes } : null;
}
