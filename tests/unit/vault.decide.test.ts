import { describe, expect, it } from 'vitest';
import {
  decideVaultClaim,
  decideVaultEntry,
  decideVaultType,
  evolveVaultClaim,
  evolveVaultEntry,
  evolveVaultType,
  initialVaultEntryState,
  ORPHAN_CLAIM_MS,
  vaultClaimDecider,
  vaultTypeDecider,
  type VaultClaimCommand,
  type VaultEntryCommand,
  type VaultTypeCommand,
} from '../../src/commands/vault.js';
import type { DomainError } from '../../src/es/errors.js';
import type { VaultClaimEvent, VaultEntryEvent, VaultTypeEvent } from '../../src/events/vault.js';
import { vaultProjection, VAULT_ATTACHMENTS, VAULT_ENTRIES, VAULT_TYPES } from '../../src/projections/vault.js';
import type { RecordedEvent } from '../../src/es/eventStore.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';

const now = new Date('2026-11-28T10:00:00.000Z');
const at = now.toISOString();
const entryId = '01936d3c-0000-7000-8000-0000000000e1';
const fields = { key: 'API_KEY', valueEncrypted: 'sealed-1', description: null, entryType: 'text', isFavorite: false };
const created: VaultEntryEvent = { type: 'VaultEntryCreated', data: { entryId, ...fields, createdByKinId: null, createdAt: at } };
const attachment = (n: number): VaultEntryEvent => ({
  type: 'VaultAttachmentAdded',
  data: { entryId, attachmentId: `a${n}`, name: `${n}.txt`, mimeType: 'text/plain', size: 1, blobHash: `h${n}`, createdAt: at },
});
const add = (attachmentId: string): VaultEntryCommand => ({ type: 'AddAttachment', entryId, attachmentId, name: 'f', mimeType: 'text/plain', size: 1, blobHash: 'h', now });

/** Given events, when command, then events (or the error's code and message). */
function given(events: VaultEntryEvent[]) {
  const state = events.reduce(evolveVaultEntry, initialVaultEntryState());
  return {
    state,
    when: (command: VaultEntryCommand) => {
      try {
        return decideVaultEntry(command, state);
      } catch (error) {
        return `${(error as DomainError).code}: ${(error as DomainError).message}`;
      }
    },
  };
}

describe('Vault entry decider', () => {
  it('creates an entry once', () => {
    const command: VaultEntryCommand = { type: 'CreateEntry', entryId, fields, createdByKinId: null, now };
    expect(given([]).when(command)).toEqual([created]);
    expect(given([created]).when(command)).toMatch(/^ENTRY_EXISTS/);
  });

  it('records only what an update changes, and always a new value', () => {
    const update = (changes: object): VaultEntryCommand => ({ type: 'UpdateEntry', entryId, changes, now });
    expect(given([created]).when(update({ key: 'API_KEY', isFavorite: false }))).toEqual([]);
    expect(given([created]).when(update({ key: 'RENAMED', isFavorite: false, description: undefined }))).toEqual([
      { type: 'VaultEntryUpdated', data: { entryId, key: 'RENAMED', updatedAt: at } },
    ]);
    expect(given([created]).when(update({ valueEncrypted: 'sealed-1' }))).toEqual([
      { type: 'VaultEntryUpdated', data: { entryId, valueEncrypted: 'sealed-1', updatedAt: at } },
    ]);
    const [renamed] = given([created]).when(update({ key: 'RENAMED', description: 'd' })) as VaultEntryEvent[];
    expect(given([created, renamed!]).state).toMatchObject({ status: 'active', entry: { key: 'RENAMED', description: 'd', valueEncrypted: 'sealed-1' } });
  });

  it('refuses every change to an entry that does not exist or was deleted', () => {
    const deleted: VaultEntryEvent = { type: 'VaultEntryDeleted', data: { entryId, deletedAt: at } };
    for (const history of [[], [created, deleted]]) {
      expect(given(history).when({ type: 'UpdateEntry', entryId, changes: { isFavorite: true }, now })).toMatch(/^ENTRY_NOT_FOUND/);
      expect(given(history).when({ type: 'DeleteEntry', entryId, now })).toMatch(/^ENTRY_NOT_FOUND/);
      expect(given(history).when(add('a1'))).toBe('UPLOAD_FAILED: Entry not found');
    }
  });

  it('accepts ten attachments and refuses the eleventh', () => {
    const ten = Array.from({ length: 10 }, (_, i) => attachment(i + 1));
    expect(given([created, ...ten.slice(0, 9)]).when(add('a10'))).toEqual([expect.objectContaining({ type: 'VaultAttachmentAdded' })]);
    expect(given([created, ...ten]).when(add('a11'))).toBe('UPLOAD_FAILED: Max 10 attachments per entry');
    const removed: VaultEntryEvent = { type: 'VaultAttachmentRemoved', data: { entryId, attachmentId: 'a3', removedAt: at } };
    expect(given([created, ...ten, removed]).when(add('a11'))).toHaveLength(1);
  });

  it('removes only an attachment the entry has', () => {
    expect(given([created, attachment(1)]).when({ type: 'RemoveAttachment', entryId, attachmentId: 'a1', now })).toEqual([
      { type: 'VaultAttachmentRemoved', data: { entryId, attachmentId: 'a1', removedAt: at } },
    ]);
    expect(given([created, attachment(1)]).when({ type: 'RemoveAttachment', entryId, attachmentId: 'a2', now })).toMatch(/^ATTACHMENT_NOT_FOUND/);
  });

  it('keeps the attachments’ blob hashes in its state, for the clean-up of a deletion', () => {
    expect(given([created, attachment(1), attachment(2)]).state).toMatchObject({
      attachments: [
        { attachmentId: 'a1', blobHash: 'h1' },
        { attachmentId: 'a2', blobHash: 'h2' },
      ],
    });
  });
});

describe('Vault type decider', () => {
  const typeId = '01936d3c-0000-7000-8000-0000000000t1';
  const typeFields = { slug: 'server', name: 'Server', icon: null, fields: [{ name: 'host', label: 'Host', type: 'url' }] };
  const typeCreated: VaultTypeEvent = { type: 'VaultTypeCreated', data: { typeId, ...typeFields, createdByKinId: null, createdAt: at } };
  const decide = (events: VaultTypeEvent[], command: VaultTypeCommand) => {
    try {
      return decideVaultType(command, events.reduce(evolveVaultType, vaultTypeDecider.initialState()));
    } catch (error) {
      return (error as DomainError).code;
    }
  };

  it('creates a type, but never with a built-in slug', () => {
    expect(decide([], { type: 'CreateType', typeId, fields: typeFields, createdByKinId: null, now })).toEqual([typeCreated]);
    expect(decide([], { type: 'CreateType', typeId, fields: { ...typeFields, slug: 'credential' }, createdByKinId: null, now })).toBe('RESERVED_SLUG');
  });

  it('updates and deletes only a type that exists', () => {
    expect(decide([typeCreated], { type: 'UpdateType', typeId, changes: { name: 'Servers' }, now })).toEqual([
      { type: 'VaultTypeUpdated', data: { typeId, name: 'Servers', updatedAt: at } },
    ]);
    expect(decide([typeCreated], { type: 'UpdateType', typeId, changes: {}, now })).toEqual([]);
    const deleted: VaultTypeEvent = { type: 'VaultTypeDeleted', data: { typeId, deletedAt: at } };
    expect(decide([typeCreated, deleted], { type: 'UpdateType', typeId, changes: { name: 'x' }, now })).toBe('TYPE_NOT_FOUND');
    expect(decide([], { type: 'DeleteType', typeId, now })).toBe('TYPE_NOT_FOUND');
  });
});

describe('Vault name claims (entry keys, type slugs)', () => {
  const claimed: VaultClaimEvent = { type: 'VaultNameClaimed', data: { name: 'K', holder: 'e1', claimedAt: at } };
  const decide = (events: VaultClaimEvent[], command: VaultClaimCommand) => {
    try {
      return decideVaultClaim(command, events.reduce(evolveVaultClaim, vaultClaimDecider.initialState()));
    } catch (error) {
      return (error as DomainError).code;
    }
  };
  const claim = (holder: string, when = now, orphanOf?: { holder: string; deleted: boolean }): VaultClaimCommand => ({
    type: 'ClaimName',
    name: 'K',
    holder,
    now: when,
    ...(orphanOf ? { orphanOf } : {}),
  });

  it('gives a free name to the first holder, and is idempotent for that holder', () => {
    expect(decide([], claim('e1'))).toEqual([claimed]);
    expect(decide([claimed], claim('e1'))).toEqual([]);
    expect(decide([claimed], claim('e2'))).toBe('NAME_TAKEN');
  });

  it('frees a name only for its holder', () => {
    expect(decide([claimed], { type: 'ReleaseName', name: 'K', holder: 'e2' })).toEqual([]);
    const released = decide([claimed], { type: 'ReleaseName', name: 'K', holder: 'e1' }) as VaultClaimEvent[];
    expect(released).toEqual([{ type: 'VaultNameReleased', data: { name: 'K', holder: 'e1' } }]);
    expect(decide([claimed, ...released], claim('e2'))).toHaveLength(1);
  });

  it('lets a claim of a deleted holder be taken over at once, and one of a holder never created after a delay', () => {
    expect(decide([claimed], claim('e2', now, { holder: 'e1', deleted: true }))).toHaveLength(1);
    expect(decide([claimed], claim('e2', now, { holder: 'e1', deleted: false }))).toBe('NAME_TAKEN');
    expect(decide([claimed], claim('e2', new Date(now.getTime() + ORPHAN_CLAIM_MS + 1), { holder: 'e1', deleted: false }))).toHaveLength(1);
    expect(decide([claimed], claim('e2', now, { holder: 'someone-else', deleted: true }))).toBe('NAME_TAKEN');
  });
});

describe('Vault projection', () => {
  it('gives the same read models when every event is applied twice', async () => {
    const typeEvents: VaultTypeEvent[] = [
      { type: 'VaultTypeCreated', data: { typeId: 't1', slug: 's', name: 'S', icon: null, fields: [], createdByKinId: null, createdAt: at } },
      { type: 'VaultTypeUpdated', data: { typeId: 't1', name: 'S2', updatedAt: at } },
    ];
    const entryEvents: VaultEntryEvent[] = [
      created,
      { type: 'VaultEntryUpdated', data: { entryId, isFavorite: true, updatedAt: at } },
      attachment(1),
      attachment(2),
      { type: 'VaultAttachmentRemoved', data: { entryId, attachmentId: 'a1', removedAt: at } },
    ];
    const recorded = [...typeEvents, ...entryEvents].map((event, position) => ({ ...event, position }) as unknown as RecordedEvent);
    const snapshot = async (times: number) => {
      const store = createSqliteReadStore(openSqlite(':memory:'));
      await vaultProjection.setup?.(store);
      for (const event of recorded) for (let i = 0; i < times; i++) await vaultProjection.apply(event, store);
      return Promise.all([VAULT_ENTRIES, VAULT_ATTACHMENTS, VAULT_TYPES].map((name) => store.collection(name).find({}, { sort: { id: 1 } })));
    };
    const once = await snapshot(1);
    expect(await snapshot(2)).toEqual(once);
    expect(once[0]).toEqual([{ id: entryId, ...fields, isFavorite: true, createdByKinId: null, createdAt: at, updatedAt: at }]);
    expect(once[1]!.map((doc) => doc.id)).toEqual(['a2']);
    expect(once[2]).toMatchObject([{ id: 't1', name: 'S2' }]);
  });
});
