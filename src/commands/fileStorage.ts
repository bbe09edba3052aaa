import { createHash, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { BlobStore } from '../es/blobStore.js';
import { eventMetadata, type RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import type { EventStore } from '../es/eventStore.js';
import { conflict, notFound } from '../es/errors.js';
import type { ReadStore } from '../es/readStore.js';
import {
  parseStoredFileEvent,
  STORED_FILE_DOWNLOADED,
  storedFileDownloadStream,
  storedFileSecretOwner,
  storedFileStream,
  type StoredFileChanges,
  type StoredFileEvent,
} from '../events/fileStorage.js';
import { hashPassword } from '../lib/passwords.js';
import type { Secrets } from '../lib/secrets.js';
import { FILES } from '../projections/files.js';
import { STORED_FILES } from '../projections/fileStorage.js';
import { KINS } from '../projections/kins.js';
import { KNOWLEDGE_SOURCES } from '../projections/knowledge.js';
import { cleanFileName, normalizeMimeType } from './files.js';

/** platform.md §5 (`FILE_STORAGE_MAX_SIZE`). */
export const MAX_STORED_FILE_BYTES = 100 * 1024 * 1024;

// ── The file's stream ─────────────────────────────────────────────────────────────────────────

export type StoredFile = {
  kinId: string;
  name: string;
  description: string | null;
  hash: string;
  passwordHash: string | null;
  isPublic: boolean;
  readAndBurn: boolean;
  /** ISO instant, or null: never expires. */
  expiresAt: string | null;
};

export type GoneReason = 'burned' | 'expired' | 'deleted';

/** A gone file keeps its last fields: releasing it needs its bytes' hash. */
export type StoredFileState =
  | { status: 'none' }
  | { status: 'active'; file: StoredFile }
  | { status: 'gone'; reason: GoneReason; file: StoredFile };

export type NewStoredFile = StoredFile & {
  originalName: string;
  mimeType: string;
  size: number;
  tokenHash: string;
  tokenEncrypted: string;
  createdByKinId: string | null;
  uploadedBy: string | null;
};

/** `undefined` keeps a field; `null` clears description, password and expiry. */
export type StoredFilePatch = {
  name?: string;
  description?: string | null;
  isPublic?: boolean;
  passwordHash?: string | null;
  expiresAt?: Date | null;
  readAndBurn?: boolean;
};

export type StoredFileCommand =
  | { type: 'UploadStoredFile'; fileId: string; file: NewStoredFile; now: Date }
  | { type: 'UpdateStoredFile'; fileId: string; patch: StoredFilePatch; now: Date }
  /** A download through the share link: expires the file if its time has come, burns it if it is read-and-burn. */
  | { type: 'ServeStoredFile'; fileId: string; now: Date }
  /** The clean-up: expires the file only if its time has come (a PATCH may have extended it). */
  | { type: 'ExpireStoredFile'; fileId: string; now: Date }
  | { type: 'DeleteStoredFile'; fileId: string; now: Date };

export const storedFileNotFound = () => notFound('FILE_NOT_FOUND', 'File not found');

export const initialStoredFileState = (): StoredFileState => ({ status: 'none' });

export const isExpired = (file: Pick<StoredFile, 'expiresAt'>, now: Date): boolean =>
  file.expiresAt !== null && Date.parse(file.expiresAt) <= now.getTime();

function applyChanges(file: StoredFile, changes: StoredFileChanges): StoredFile {
  const next = { ...file };
  for (const [key, value] of Object.entries(changes)) if (value !== undefined) Object.assign(next, { [key]: value });
  return next;
}

export function evolveStoredFile(state: StoredFileState, event: StoredFileEvent): StoredFileState {
  switch (event.type) {
    case 'StoredFileUploaded': {
      const { kinId, name, description, hash, passwordHash, isPublic, readAndBurn, expiresAt } = event.data;
      return { status: 'active', file: { kinId, name, description, hash, passwordHash, isPublic, readAndBurn, expiresAt } };
    }
    case 'StoredFileUpdated':
      return state.status === 'active' ? { status: 'active', file: applyChanges(state.file, event.data.changes) } : state;
    case 'StoredFileBurned':
      return state.status === 'active' ? { status: 'gone', reason: 'burned', file: state.file } : state;
    case 'StoredFileExpired':
      return state.status === 'active' ? { status: 'gone', reason: 'expired', file: state.file } : state;
    case 'StoredFileDeleted':
      return state.status === 'active' ? { status: 'gone', reason: 'deleted', file: state.file } : state;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** The fields of `patch` that change `file`; a new password hash always does (fresh salt). */
function changesOf(file: StoredFile, patch: StoredFilePatch): StoredFileChanges {
  const changes: StoredFileChanges = {};
  if (patch.name !== undefined && patch.name !== file.name) changes.name = patch.name;
  if (patch.description !== undefined && patch.description !== file.description) changes.description = patch.description;
  if (patch.isPublic !== undefined && patch.isPublic !== file.isPublic) changes.isPublic = patch.isPublic;
  if (patch.readAndBurn !== undefined && patch.readAndBurn !== file.readAndBurn) changes.readAndBurn = patch.readAndBurn;
  if (patch.passwordHash !== undefined && !(patch.passwordHash === null && file.passwordHash === null)) changes.passwordHash = patch.passwordHash;
  if (patch.expiresAt !== undefined) {
    const expiresAt = patch.expiresAt?.toISOString() ?? null;
    if (expiresAt !== file.expiresAt) changes.expiresAt = expiresAt;
  }
  return changes;
}

export function decideStoredFile(command: StoredFileCommand, state: StoredFileState): StoredFileEvent[] {
  const { fileId } = command;
  const at = command.now.toISOString();
  if (command.type === 'UploadStoredFile') {
    if (state.status !== 'none') throw conflict('FILE_EXISTS', 'A file with this id already exists');
    const { expiresAt, ...file } = command.file;
    return [{ type: 'StoredFileUploaded', data: { fileId, ...file, expiresAt, uploadedAt: at } }];
  }
  switch (command.type) {
    case 'ServeStoredFile':
      if (state.status !== 'active') return [];
      if (isExpired(state.file, command.now)) return [{ type: 'StoredFileExpired', data: { fileId, expiredAt: at } }];
      return state.file.readAndBurn ? [{ type: 'StoredFileBurned', data: { fileId, burnedAt: at } }] : [];
    case 'ExpireStoredFile':
      return state.status === 'active' && isExpired(state.file, command.now) ? [{ type: 'StoredFileExpired', data: { fileId, expiredAt: at } }] : [];
    case 'UpdateStoredFile': {
      if (state.status !== 'active') throw storedFileNotFound();
      const changes = changesOf(state.file, command.patch);
      return Object.keys(changes).length ? [{ type: 'StoredFileUpdated', data: { fileId, changes, updatedAt: at } }] : [];
    }
    case 'DeleteStoredFile':
      if (state.status !== 'active') throw storedFileNotFound();
      return [{ type: 'StoredFileDeleted', data: { fileId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const storedFileDecider: Decider<StoredFileState, StoredFileCommand, StoredFileEvent> = {
  initialState: initialStoredFileState,
  evolve: evolveStoredFile,
  decide: decideStoredFile,
};

/** What a download through the share link may do, given the file's state after ServeStoredFile. */
export type ServeOutcome =
  | { outcome: 'serve'; file: StoredFile }
  /** The file was burned by this download: serve it, then release its bytes. */
  | { outcome: 'serve-once'; file: StoredFile }
  | { outcome: 'expired' }
  | { outcome: 'gone' };

export function serveOutcome(events: StoredFileEvent[], after: StoredFileState): ServeOutcome {
  if (after.status === 'active') return { outcome: 'serve', file: after.file };
  if (after.status === 'gone' && after.reason === 'burned' && events.some((event) => event.type === 'StoredFileBurned')) {
    return { outcome: 'serve-once', file: after.file };
  }
  return after.status === 'gone' && after.reason === 'expired' ? { outcome: 'expired' } : { outcome: 'gone' };
}

// ── Handlers ──────────────────────────────────────────────────────────────────────────────────

export type FileStorageDeps = {
  runCommand: RunCommand;
  eventStore: EventStore;
  readStore: ReadStore;
  blobs: BlobStore;
  secrets: Secrets;
  settle: (position: number | null) => Promise<void>;
  /** Told when an event was appended outside the command runner. */
  projections: { notify: () => void };
};

const runStoredFile = (deps: Pick<FileStorageDeps, 'runCommand'>, command: StoredFileCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: storedFileStream(command.fileId), decider: storedFileDecider, parse: parseStoredFileEvent, command, metadata });

export const tokenHashOf = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

const MINUTE_MS = 60_000;

/** `expiresIn` minutes from now; 0 or null: never. */
export const expiryFrom = (now: Date, minutes: number | null | undefined): Date | null =>
  minutes ? new Date(now.getTime() + minutes * MINUTE_MS) : null;

export type StoredFileUpload = {
  kinId: string;
  bytes: Buffer;
  originalName: string;
  mimeType: string;
  name?: string;
  description?: string | null;
  isPublic: boolean;
  password?: string | null;
  expiresInMinutes?: number | null;
  readAndBurn: boolean;
  createdByKinId?: string | null;
};

/**
 * Stores the bytes (content-addressed), then records the upload with a fresh share token (uuid v4).
 * Bytes whose event never got appended are an unreferenced blob, not a broken file.
 */
export async function uploadStoredFile(deps: FileStorageDeps, input: StoredFileUpload, metadata: CommandMetadata) {
  const mimeType = normalizeMimeType(input.mimeType);
  const blob = await deps.blobs.put(input.bytes, mimeType);
  const fileId = uuidv7();
  const token = randomUUID();
  const originalName = cleanFileName(input.originalName);
  const file: NewStoredFile = {
    kinId: input.kinId,
    name: input.name || originalName,
    description: input.description || null,
    originalName,
    mimeType,
    size: input.bytes.length,
    hash: blob.hash,
    tokenHash: tokenHashOf(token),
    tokenEncrypted: await deps.secrets.encrypt(storedFileSecretOwner(fileId), token),
    passwordHash: input.password ? await hashPassword(input.password) : null,
    isPublic: input.isPublic,
    readAndBurn: input.readAndBurn,
    expiresAt: expiryFrom(metadata.now, input.expiresInMinutes)?.toISOString() ?? null,
    createdByKinId: input.createdByKinId ?? null,
    uploadedBy: metadata.actor.kind === 'user' || metadata.actor.kind === 'apiKey' ? metadata.actor.id : null,
  };
  try {
    const result = await runStoredFile(deps, { type: 'UploadStoredFile', fileId, file, now: metadata.now }, metadata);
    return { fileId, position: result.position };
  } catch (error) {
    await deps.secrets.shred(storedFileSecretOwner(fileId));
    throw error;
  }
}

/** PATCH semantics of platform.md §5: a blank password removes it, a falsy expiresIn removes the expiry. */
export type StoredFileUpdate = {
  name?: string;
  description?: string | null;
  isPublic?: boolean;
  password?: string | null;
  expiresInMinutes?: number | null;
  readAndBurn?: boolean;
};

export async function updateStoredFile(deps: FileStorageDeps, fileId: string, update: StoredFileUpdate, metadata: CommandMetadata) {
  const { password, expiresInMinutes, ...rest } = update;
  const patch: StoredFilePatch = { ...rest };
  if (password !== undefined) patch.passwordHash = password ? await hashPassword(password) : null;
  if (expiresInMinutes !== undefined) patch.expiresAt = expiryFrom(metadata.now, expiresInMinutes);
  return runStoredFile(deps, { type: 'UpdateStoredFile', fileId, patch, now: metadata.now }, metadata);
}

/** Whether anything still points at these bytes: blobs are content-addressed and shared. */
export async function blobInUse(readStore: ReadStore, hash: string, exceptFileId: string): Promise<boolean> {
  const counts = await Promise.all([
    readStore.collection(STORED_FILES).count({ hash, id: { $ne: exceptFileId } }),
    readStore.collection(FILES).count({ hash }),
    readStore.collection(KINS).count({ 'avatar.hash': hash }),
    readStore.collection(KNOWLEDGE_SOURCES).count({ blobHash: hash }),
  ]);
  return counts.some((count) => count > 0);
}

/**
 * After a file is gone: its token can no longer be read back (its data key is shredded) and its
 * bytes are deleted unless another file, attachment, avatar or source has the same content.
 */
export async function releaseStoredFile(deps: FileStorageDeps, fileId: string, hash: string, position: number | null): Promise<void> {
  await deps.secrets.shred(storedFileSecretOwner(fileId));
  await deps.settle(position);
  if (!(await blobInUse(deps.readStore, hash, fileId))) await deps.blobs.delete(hash);
}

/** Releases the file when `result` is the command that made it gone. */
async function releaseIfGone(deps: FileStorageDeps, fileId: string, result: { events: StoredFileEvent[]; state: StoredFileState; position: number | null }) {
  if (result.events.length && result.state.status === 'gone') await releaseStoredFile(deps, fileId, result.state.file.hash, result.position);
}

export async function deleteStoredFile(deps: FileStorageDeps, fileId: string, metadata: CommandMetadata) {
  const result = await runStoredFile(deps, { type: 'DeleteStoredFile', fileId, now: metadata.now }, metadata);
  await releaseIfGone(deps, fileId, result);
  return { position: result.position };
}

/**
 * A download through the share link. Decided on the file's stream with the revision read, so of
 * two concurrent downloads of a read-and-burn file only one is told `serve-once`. An expired file
 * is expired (and released) here. The caller releases a burned file once its bytes are sent.
 */
export async function serveStoredFile(deps: FileStorageDeps, fileId: string, metadata: CommandMetadata): Promise<ServeOutcome & { position: number | null }> {
  const result = await runStoredFile(deps, { type: 'ServeStoredFile', fileId, now: metadata.now }, metadata);
  const outcome = serveOutcome(result.events, result.state);
  if (outcome.outcome === 'expired') await releaseIfGone(deps, fileId, result);
  if (outcome.outcome === 'serve') await recordDownload(deps, fileId, metadata);
  return { ...outcome, position: result.position };
}

/** Counts a download (not of a read-and-burn file: its burn is its download). */
async function recordDownload(deps: FileStorageDeps, fileId: string, metadata: CommandMetadata): Promise<void> {
  await deps.eventStore.append(
    storedFileDownloadStream(fileId),
    [
      {
        id: uuidv7(),
        type: STORED_FILE_DOWNLOADED,
        data: { fileId, downloadedAt: metadata.now.toISOString() },
        metadata: eventMetadata(metadata),
      },
    ],
    'any',
  );
  deps.projections.notify();
}

/** The clean-up's step for one file: expires it if its time has come, and releases it. */
export async function expireStoredFile(deps: FileStorageDeps, fileId: string, metadata: CommandMetadata) {
  const result = await runStoredFile(deps, { type: 'ExpireStoredFile', fileId, now: metadata.now }, metadata);
  await releaseIfGone(deps, fileId, result);
  return { expired: result.events.length > 0, position: result.position };
}
