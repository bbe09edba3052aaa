import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * Two streams per stored file (platform.md §5):
 * - `storedfile-<id>`: its life (uploaded, updated, burned, expired, deleted). Commands fold it
 *   and append with the revision they read, so a read-and-burn file is served once.
 * - `storedfiledownload-<id>`: one event per download of a file that is not read-and-burn,
 *   appended with expected revision `any`: counting decides nothing, and concurrent downloads of a
 *   popular file must not conflict (nor make the lifecycle stream long to fold).
 *
 * The share token is a bearer credential: events carry its SHA-256 (to find the file by token)
 * and the token sealed with the file's data key (to show the link); deleting the file shreds the
 * key. A password enters only as its argon2id hash.
 */
export const storedFileStream = (fileId: string) => `storedfile-${fileId}`;
export const storedFileDownloadStream = (fileId: string) => `storedfiledownload-${fileId}`;

/** The owner of a stored file's data key (src/lib/secrets.ts). */
export const storedFileSecretOwner = (fileId: string) => `storedfile-${fileId}`;

const id = z.string();
/** ISO-8601 instants, as every event carries them; the read model turns them into epoch ms. */
const instant = z.string();

export const storedFileChangesSchema = z.object({
  name: z.string().optional(),
  description: z.string().nullable().optional(),
  isPublic: z.boolean().optional(),
  /** null: the password was removed. */
  passwordHash: z.string().nullable().optional(),
  expiresAt: instant.nullable().optional(),
  readAndBurn: z.boolean().optional(),
});
export type StoredFileChanges = z.infer<typeof storedFileChangesSchema>;

export const storedFileEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('StoredFileUploaded'),
    data: z.object({
      fileId: id,
      kinId: id,
      name: z.string(),
      description: z.string().nullable(),
      originalName: z.string(),
      mimeType: z.string(),
      size: z.number().int().nonnegative(),
      /** sha256 of the bytes: their address in the blob store. */
      hash: z.string(),
      /** SHA-256 (hex) of the share token. */
      tokenHash: z.string(),
      /** The share token, sealed with the file's data key. */
      tokenEncrypted: z.string(),
      passwordHash: z.string().nullable(),
      isPublic: z.boolean(),
      readAndBurn: z.boolean(),
      expiresAt: instant.nullable(),
      createdByKinId: id.nullable(),
      uploadedBy: id.nullable(),
      uploadedAt: instant,
    }),
  }),
  z.object({
    type: z.literal('StoredFileUpdated'),
    data: z.object({ fileId: id, changes: storedFileChangesSchema, updatedAt: instant }),
  }),
  /** A read-and-burn file was downloaded: its one download, after which it is gone. */
  z.object({ type: z.literal('StoredFileBurned'), data: z.object({ fileId: id, burnedAt: instant }) }),
  z.object({ type: z.literal('StoredFileExpired'), data: z.object({ fileId: id, expiredAt: instant }) }),
  z.object({ type: z.literal('StoredFileDeleted'), data: z.object({ fileId: id, deletedAt: instant }) }),
]);

export type StoredFileEvent = z.infer<typeof storedFileEventSchema>;
export const storedFileEventTypes = [
  'StoredFileUploaded',
  'StoredFileUpdated',
  'StoredFileBurned',
  'StoredFileExpired',
  'StoredFileDeleted',
] as const;

export const parseStoredFileEvent = (recorded: RecordedEvent): StoredFileEvent =>
  storedFileEventSchema.parse({ type: recorded.type, data: recorded.data });

/** Appended to `storedfiledownload-<id>`, one per download through the share link. */
export const storedFileDownloadedSchema = z.object({
  type: z.literal('StoredFileDownloaded'),
  data: z.object({ fileId: id, downloadedAt: instant }),
});
export type StoredFileDownloaded = z.infer<typeof storedFileDownloadedSchema>;
export const STORED_FILE_DOWNLOADED = 'StoredFileDownloaded';

export const parseStoredFileDownloaded = (recorded: RecordedEvent): StoredFileDownloaded =>
  storedFileDownloadedSchema.parse({ type: recorded.type, data: recorded.data });
