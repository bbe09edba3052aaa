import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import {
  parseStoredFileDownloaded,
  parseStoredFileEvent,
  STORED_FILE_DOWNLOADED,
  storedFileEventTypes,
  type StoredFileChanges,
} from '../events/fileStorage.js';

export const STORED_FILES = 'stored_files';

/** A shareable stored file (platform.md §5). Times are epoch ms, as the routes return them. */
export type StoredFileDoc = Doc & {
  id: string;
  kinId: string;
  name: string;
  description: string | null;
  originalName: string;
  mimeType: string;
  size: number;
  /** Its bytes' address in the blob store. */
  hash: string;
  /** SHA-256 of the share token: how /s/:token finds the file. */
  tokenHash: string;
  /** The share token sealed with the file's data key; opened to show the link. */
  tokenEncrypted: string;
  passwordHash: string | null;
  isPublic: boolean;
  readAndBurn: boolean;
  expiresAt: number | null;
  downloadCount: number;
  /** Position of the last download counted: a download applied twice is counted once. */
  countedThrough: number;
  createdByKinId: string | null;
  uploadedBy: string | null;
  createdAt: number;
  updatedAt: number;
};

const ms = (iso: string) => Date.parse(iso);
const msOrNull = (iso: string | null) => (iso === null ? null : ms(iso));

function changedFields(changes: StoredFileChanges): Partial<StoredFileDoc> {
  const { expiresAt, ...rest } = changes;
  const fields: Partial<StoredFileDoc> = {};
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) Object.assign(fields, { [key]: value });
  if (expiresAt !== undefined) fields.expiresAt = msOrNull(expiresAt);
  return fields;
}

export const fileStorageProjection: Projection = {
  name: 'fileStorage',
  version: 1,
  handles: [...storedFileEventTypes, STORED_FILE_DOWNLOADED],
  collections: [STORED_FILES],
  async setup(store) {
    const files = store.collection(STORED_FILES);
    await files.ensureIndex({ fields: { tokenHash: 1 }, unique: true });
    await files.ensureIndex({ fields: { kinId: 1 } });
    await files.ensureIndex({ fields: { expiresAt: 1 } });
    await files.ensureIndex({ fields: { hash: 1 } });
  },
  async apply(recorded, store) {
    const files = store.collection<StoredFileDoc>(STORED_FILES);
    if (recorded.type === STORED_FILE_DOWNLOADED) {
      const { fileId } = parseStoredFileDownloaded(recorded).data;
      await files.update(
        { id: fileId, countedThrough: { $lt: recorded.position } },
        { $inc: { downloadCount: 1 }, $set: { countedThrough: recorded.position } },
      );
      return;
    }
    const event = parseStoredFileEvent(recorded);
    switch (event.type) {
      case 'StoredFileUploaded': {
        const { fileId, expiresAt, uploadedAt, ...fields } = event.data;
        await files.replace({
          id: fileId,
          ...fields,
          expiresAt: msOrNull(expiresAt),
          downloadCount: 0,
          countedThrough: -1,
          createdAt: ms(uploadedAt),
          updatedAt: ms(uploadedAt),
        });
        return;
      }
      case 'StoredFileUpdated':
        await files.update({ id: event.data.fileId }, { $set: { ...changedFields(event.data.changes), updatedAt: ms(event.data.updatedAt) } });
        return;
      case 'StoredFileBurned':
      case 'StoredFileExpired':
      case 'StoredFileDeleted':
        await files.delete({ id: event.data.fileId });
        return;
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },
};
