import { v7 as uuidv7 } from 'uuid';
import type { BlobStore } from '../es/blobStore.js';
import { DEFAULT_CONTENT_TYPE } from '../es/blobStore.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { conflict } from '../es/errors.js';
import { fileStream, parseFileEvent, type FileEvent } from '../events/files.js';

export const MAX_MESSAGE_FILE_BYTES = 50 * 1024 * 1024;

export type FileState = { uploaded: boolean };

export type FileCommand = {
  type: 'UploadFile';
  fileId: string;
  kinId: string;
  name: string;
  mimeType: string;
  size: number;
  hash: string;
  uploadedBy: string | null;
  now: Date;
};

export function evolveFile(_state: FileState, event: FileEvent): FileState {
  switch (event.type) {
    case 'FileUploaded':
      return { uploaded: true };
    default: {
      const unhandled: never = event.type;
      return unhandled;
    }
  }
}

export function decideFile(command: FileCommand, state: FileState): FileEvent[] {
  if (state.uploaded) throw conflict('FILE_EXISTS', 'A file with this id already exists');
  const { fileId, kinId, name, mimeType, size, hash, uploadedBy } = command;
  return [{ type: 'FileUploaded', data: { fileId, kinId, name, mimeType, size, hash, uploadedBy, uploadedAt: command.now.toISOString() } }];
}

export const fileDecider: Decider<FileState, FileCommand, FileEvent> = {
  initialState: () => ({ uploaded: false }),
  evolve: evolveFile,
  decide: decideFile,
};

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

/**
 * The client's MIME type without parameters, lower-cased; anything malformed (it ends up in a
 * Content-Type header) becomes application/octet-stream.
 */
export function normalizeMimeType(mimeType: string | undefined): string {
  const essence = (mimeType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return MIME.test(essence) ? essence : DEFAULT_CONTENT_TYPE;
}

/** A display name: no path, no control characters, at most 255 characters. */
export function cleanFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return clean || 'file';
}

/**
 * Stores the bytes (content-addressed, so a retry stores nothing twice), then records the upload.
 * Bytes whose event never got appended are unreferenced blobs, not a broken file.
 */
export async function uploadMessageFile(
  deps: { runCommand: RunCommand; blobs: BlobStore },
  input: { kinId: string; name: string; mimeType: string; bytes: Buffer },
  metadata: CommandMetadata,
): Promise<{ fileId: string; position: number | null }> {
  const mimeType = normalizeMimeType(input.mimeType);
  const blob = await deps.blobs.put(input.bytes, mimeType);
  const fileId = uuidv7();
  const command: FileCommand = {
    type: 'UploadFile',
    fileId,
    kinId: input.kinId,
    name: cleanFileName(input.name),
    mimeType,
    size: input.bytes.length,
    hash: blob.hash,
    uploadedBy: metadata.actor.kind === 'system' ? null : metadata.actor.id,
    now: metadata.now,
  };
  const result = await deps.runCommand({ stream: fileStream(fileId), decider: fileDecider, parse: parseFileEvent, command, metadata });
  return { fileId, position: result.position };
}
