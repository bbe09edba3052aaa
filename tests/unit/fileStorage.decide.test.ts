import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decideStoredFile,
  evolveStoredFile,
  initialStoredFileState,
  serveOutcome,
  type NewStoredFile,
  type StoredFileCommand,
} from '../../src/commands/fileStorage.js';
import type { DomainError } from '../../src/es/errors.js';
import type { StoredFileEvent } from '../../src/events/fileStorage.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import { createAttemptGuard, hashPassword, verifyPassword } from '../../src/lib/passwords.js';
import { fileStorageProjection, STORED_FILES } from '../../src/projections/fileStorage.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const later = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
const fileId = '01936d3c-0000-7000-8000-0000000000f1';

const newFile: NewStoredFile = {
  kinId: 'kin-1',
  name: 'report',
  description: null,
  hash: 'a'.repeat(64),
  passwordHash: null,
  isPublic: true,
  readAndBurn: false,
  expiresAt: null,
  originalName: 'report.txt',
  mimeType: 'text/plain',
  size: 12,
  tokenHash: 'b'.repeat(64),
  tokenEncrypted: 'sealed',
  createdByKinId: null,
  uploadedBy: 'user-1',
};

const uploaded = (overrides: Partial<NewStoredFile> = {}): StoredFileEvent => ({
  type: 'StoredFileUploaded',
  data: { fileId, ...newFile, ...overrides, uploadedAt: at },
});

/** Given events, when command, then events (or the error's code). */
function given(events: StoredFileEvent[]) {
  const state = events.reduce(evolveStoredFile, initialStoredFileState());
  return {
    state,
    when: (command: StoredFileCommand) => {
      try {
        return decideStoredFile(command, state);
      } catch (error) {
        return (error as DomainError).code;
      }
    },
  };
}

describe('Stored file decider', () => {
  it('records an upload once', () => {
    const command: StoredFileCommand = { type: 'UploadStoredFile', fileId, file: newFile, now };
    expect(given([]).when(command)).toEqual([uploaded()]);
    expect(given([uploaded()]).when(command)).toBe('FILE_EXISTS');
  });

  it('records only the fields a patch changes, and nothing for a patch that changes nothing', () => {
    const file = given([uploaded()]);
    const patch = (changes: Extract<StoredFileCommand, { type: 'UpdateStoredFile' }>['patch']) =>
      file.when({ type: 'UpdateStoredFile', fileId, patch: changes, now });
    expect(patch({ name: 'report', isPublic: true, passwordHash: null, expiresAt: null })).toEqual([]);
    expect(patch({ name: 'renamed', description: 'd', expiresAt: later(30), passwordHash: 'h' })).toEqual([
      {
        type: 'StoredFileUpdated',
        data: { fileId, changes: { name: 'renamed', description: 'd', passwordHash: 'h', expiresAt: later(30).toISOString() }, updatedAt: at },
      },
    ]);
    const withPassword = given([uploaded({ passwordHash: 'h', expiresAt: later(5).toISOString() })]);
    expect(withPassword.when({ type: 'UpdateStoredFile', fileId, patch: { passwordHash: null, expiresAt: null }, now })).toEqual([
      { type: 'StoredFileUpdated', data: { fileId, changes: { passwordHash: null, expiresAt: null }, updatedAt: at } },
    ]);
  });

  it('refuses to update or delete a file that is not there', () => {
    const deleted: StoredFileEvent = { type: 'StoredFileDeleted', data: { fileId, deletedAt: at } };
    for (const events of [[], [uploaded(), deleted]]) {
      expect(given(events).when({ type: 'UpdateStoredFile', fileId, patch: { name: 'x' }, now })).toBe('FILE_NOT_FOUND');
      expect(given(events).when({ type: 'DeleteStoredFile', fileId, now })).toBe('FILE_NOT_FOUND');
    }
  });

  it('serves a plain file without an event: its download is counted elsewhere', () => {
    const file = given([uploaded()]);
    const events = file.when({ type: 'ServeStoredFile', fileId, now }) as StoredFileEvent[];
    expect(events).toEqual([]);
    expect(serveOutcome(events, file.state)).toMatchObject({ outcome: 'serve' });
  });

  it('burns a read-and-burn file on its first download, and refuses the next', () => {
    const first = given([uploaded({ readAndBurn: true })]);
    const burned = first.when({ type: 'ServeStoredFile', fileId, now }) as StoredFileEvent[];
    expect(burned).toEqual([{ type: 'StoredFileBurned', data: { fileId, burnedAt: at } }]);
    const after = given([uploaded({ readAndBurn: true }), ...burned]);
    expect(serveOutcome(burned, after.state)).toMatchObject({ outcome: 'serve-once', file: { hash: newFile.hash } });
    const again = after.when({ type: 'ServeStoredFile', fileId, now }) as StoredFileEvent[];
    expect(again).toEqual([]);
    expect(serveOutcome(again, after.state)).toEqual({ outcome: 'gone' });
  });

  it('expires a file whose time has come, when served or cleaned up, and only then', () => {
    const expiring = [uploaded({ expiresAt: later(10).toISOString() })];
    expect(given(expiring).when({ type: 'ServeStoredFile', fileId, now })).toEqual([]);
    expect(given(expiring).when({ type: 'ExpireStoredFile', fileId, now })).toEqual([]);
    const expired: StoredFileEvent = { type: 'StoredFileExpired', data: { fileId, expiredAt: later(10).toISOString() } };
    expect(given(expiring).when({ type: 'ServeStoredFile', fileId, now: later(10) })).toEqual([expired]);
    expect(given(expiring).when({ type: 'ExpireStoredFile', fileId, now: later(10) })).toEqual([expired]);
    const after = given([...expiring, expired]);
    expect(after.state).toMatchObject({ status: 'gone', reason: 'expired' });
    expect(serveOutcome([], after.state)).toEqual({ outcome: 'expired' });
    expect(after.when({ type: 'ExpireStoredFile', fileId, now: later(20) })).toEqual([]);
  });

  it('lets a patch extend an expiry before it is reached by the clean-up', () => {
    const extended: StoredFileEvent = { type: 'StoredFileUpdated', data: { fileId, changes: { expiresAt: later(60).toISOString() }, updatedAt: at } };
    const file = given([uploaded({ expiresAt: later(1).toISOString() }), extended]);
    expect(file.when({ type: 'ExpireStoredFile', fileId, now: later(2) })).toEqual([]);
  });
});

describe('Share passwords', () => {
  it('hashes with argon2id and verifies only the right password', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(hash).not.toContain('correct horse');
    expect(await verifyPassword(hash, 'correct horse')).toBe(true);
    expect(await verifyPassword(hash, 'correct horsE')).toBe(false);
    expect(await verifyPassword('not a hash', 'correct horse')).toBe(false);
  });

  it('locks a key out after too many failures, until the window lets one more in', () => {
    const guard = createAttemptGuard({ max: 3, windowMs: 1000 });
    expect([guard.fail('share', 0), guard.fail('share', 10), guard.fail('share', 20)]).toEqual([0, 0, 0]);
    expect(guard.lockedFor('share', 30)).toBe(0);
    expect(guard.fail('share', 30)).toBe(970);
    expect(guard.lockedFor('share', 500)).toBe(500);
    expect(guard.lockedFor('other', 500)).toBe(0);
    expect(guard.lockedFor('share', 1000)).toBe(0);
  });
});

describe('Stored files projection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinbot-file-storage-projection-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const other = '01936d3c-0000-7000-8000-0000000000f2';
  const downloaded = (id: string) => ({ type: 'StoredFileDownloaded', data: { fileId: id, downloadedAt: at } });
  const history = [
    uploaded({ expiresAt: later(5).toISOString() }),
    { ...uploaded(), data: { ...uploaded().data, fileId: other, tokenHash: 'c'.repeat(64) } },
    downloaded(fileId),
    downloaded(fileId),
    { type: 'StoredFileUpdated', data: { fileId, changes: { name: 'renamed', passwordHash: 'h', expiresAt: null }, updatedAt: later(1).toISOString() } },
    downloaded(other),
    { type: 'StoredFileDeleted', data: { fileId: other, deletedAt: later(2).toISOString() } },
  ];
  const events: RecordedEvent[] = history.map((event, i) => ({
    ...event,
    id: `e${i}`,
    stream: 'any',
    revision: i,
    position: i + 1,
    recordedAt: at,
    metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c', occurredAt: at, schemaVersion: 1 },
  }));

  async function project(name: string, times: number) {
    const store = createSqliteReadStore(openSqlite(join(dir, `${name}.db`)));
    await fileStorageProjection.setup?.(store);
    for (const event of events) for (let i = 0; i < times; i++) await fileStorageProjection.apply(event, store);
    return store.collection(STORED_FILES).find({}, { sort: { id: 1 } });
  }

  it('counts downloads, applies changes in epoch ms and drops deleted files', async () => {
    const docs = await project('once', 1);
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ id: fileId, name: 'renamed', passwordHash: 'h', expiresAt: null, downloadCount: 2, createdAt: now.getTime(), updatedAt: later(1).getTime() });
  });

  it('changes nothing when every event is applied twice', async () => {
    expect(await project('twice', 2)).toEqual(await project('again', 1));
  });
});
