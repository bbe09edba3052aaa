import { describe, expect, it } from 'vitest';
import { cleanFileName, decideFile, normalizeMimeType, type FileCommand } from '../../src/commands/files.js';
import { decideReactions, evolveReactions, initialReactionsState, type ReactionCommand } from '../../src/commands/reactions.js';
import { DomainError } from '../../src/es/errors.js';
import type { ReactionEvent } from '../../src/events/reactions.js';
import { fileExtension } from '../../src/projections/files.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const base = { messageId: 'm1', kinId: 'k1', at };
const toggle = (userId: string, emoji: ReactionCommand['emoji'], reactionId = 'new'): ReactionCommand => ({
  type: 'ToggleReaction',
  messageId: 'm1',
  kinId: 'k1',
  userId,
  emoji,
  reactionId,
  now,
});

/** Given events, when command, then events. */
const given = (events: ReactionEvent[]) => ({
  when: (command: ReactionCommand) => decideReactions(command, events.reduce(evolveReactions, initialReactionsState())),
});

describe('reactions decider', () => {
  it('adds a reaction the user has not made', () => {
    expect(given([]).when(toggle('u1', '👍', 'r1'))).toEqual([
      { type: 'ReactionAdded', data: { ...base, reactionId: 'r1', userId: 'u1', emoji: '👍' } },
    ]);
  });

  it("removes the user's own reaction with that emoji, by its id", () => {
    const added: ReactionEvent = { type: 'ReactionAdded', data: { ...base, reactionId: 'r1', userId: 'u1', emoji: '👍' } };
    expect(given([added]).when(toggle('u1', '👍', 'r2'))).toEqual([
      { type: 'ReactionRemoved', data: { ...base, reactionId: 'r1', userId: 'u1', emoji: '👍' } },
    ]);
  });

  it("does not touch another user's reaction or another emoji", () => {
    const added: ReactionEvent = { type: 'ReactionAdded', data: { ...base, reactionId: 'r1', userId: 'u1', emoji: '👍' } };
    expect(given([added]).when(toggle('u2', '👍', 'r2'))[0]!.type).toBe('ReactionAdded');
    expect(given([added]).when(toggle('u1', '🎉', 'r3'))[0]!.type).toBe('ReactionAdded');
  });

  it('adds again after a removal, with the new id', () => {
    const events: ReactionEvent[] = [
      { type: 'ReactionAdded', data: { ...base, reactionId: 'r1', userId: 'u1', emoji: '👍' } },
      { type: 'ReactionRemoved', data: { ...base, reactionId: 'r1', userId: 'u1', emoji: '👍' } },
    ];
    expect(given(events).when(toggle('u1', '👍', 'r9'))).toEqual([
      { type: 'ReactionAdded', data: { ...base, reactionId: 'r9', userId: 'u1', emoji: '👍' } },
    ]);
  });
});

describe('file decider and upload rules', () => {
  const command: FileCommand = {
    type: 'UploadFile',
    fileId: 'f1',
    kinId: 'k1',
    name: 'a.txt',
    mimeType: 'text/plain',
    size: 3,
    hash: 'h',
    uploadedBy: 'u1',
    now,
  };

  it('records an upload once', () => {
    expect(decideFile(command, { uploaded: false })).toEqual([
      { type: 'FileUploaded', data: { fileId: 'f1', kinId: 'k1', name: 'a.txt', mimeType: 'text/plain', size: 3, hash: 'h', uploadedBy: 'u1', uploadedAt: at } },
    ]);
    expect(() => decideFile(command, { uploaded: true })).toThrow(DomainError);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['Text/HTML; charset=UTF-8', 'text/html'],
    ['image/svg+xml', 'image/svg+xml'],
    ['', 'application/octet-stream'],
    [undefined, 'application/octet-stream'],
    ['nonsense', 'application/octet-stream'],
    ['text/plain\r\nx-injected: 1', 'application/octet-stream'],
  ])('normalizes the MIME type %j to %s', (input, expected) => {
    expect(normalizeMimeType(input)).toBe(expected);
  });

  it.each([
    ['notes.txt', 'notes.txt'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\report.pdf', 'report.pdf'],
    ['bad\u0000name\n.txt', 'badname.txt'],
    ['', 'file'],
  ])('cleans the file name %j to %s', (input, expected) => {
    expect(cleanFileName(input)).toBe(expected);
  });

  it.each([
    ['photo.JPG', 'image/jpeg', 'jpg'],
    ['archive.tar.gz', 'application/gzip', 'gz'],
    ['README', 'text/markdown', 'md'],
    ['README', 'application/x-unknown', 'bin'],
    ['weird.ex t', 'text/plain', 'txt'],
  ])('gives %s (%s) the URL extension %s', (name, mimeType, ext) => {
    expect(fileExtension(name, mimeType)).toBe(ext);
  });
});
