import type { Projection } from '../es/projections.js';
import type { Doc } from '../es/readStore.js';
import { parseVaultEntryEvent, parseVaultTypeEvent, vaultEntryEventTypes, vaultTypeEventTypes, type VaultField } from '../events/vault.js';

export const VAULT_ENTRIES = 'vault_entries';
export const VAULT_ATTACHMENTS = 'vault_attachments';
export const VAULT_TYPES = 'vault_types';

/** A secret or typed entry (one model backs both, platform.md §4). */
export type VaultEntryDoc = Doc & {
  id: string;
  key: string;
  /** Sealed with the entry's data key; decrypted only for GET /api/vault/entries/:id. */
  valueEncrypted: string;
  description: string | null;
  entryType: string;
  isFavorite: boolean;
  createdByKinId: string | null;
  createdAt: string;
  updatedAt: string;
};

export type VaultAttachmentDoc = Doc & {
  id: string;
  entryId: string;
  name: string;
  mimeType: string;
  size: number;
  /** Address of the encrypted bytes in the blob store. */
  blobHash: string;
  createdAt: string;
};

export type VaultTypeDoc = Doc & {
  id: string;
  slug: string;
  name: string;
  icon: string | null;
  fields: VaultField[];
  createdByKinId: string | null;
  createdAt: string;
  updatedAt: string;
};

export const vaultProjection: Projection = {
  name: 'vault',
  version: 1,
  handles: [...vaultEntryEventTypes, ...vaultTypeEventTypes],
  collections: [VAULT_ENTRIES, VAULT_ATTACHMENTS, VAULT_TYPES],
  async setup(store) {
    await store.collection(VAULT_ENTRIES).ensureIndex({ fields: { entryType: 1 } });
    await store.collection(VAULT_ATTACHMENTS).ensureIndex({ fields: { entryId: 1 } });
  },
  async apply(recorded, store) {
    const entries = store.collection<VaultEntryDoc>(VAULT_ENTRIES);
    const attachments = store.collection<VaultAttachmentDoc>(VAULT_ATTACHMENTS);
    const types = store.collection<VaultTypeDoc>(VAULT_TYPES);
    if ((vaultTypeEventTypes as readonly string[]).includes(recorded.type)) {
      const event = parseVaultTypeEvent(recorded);
      switch (event.type) {
        case 'VaultTypeCreated': {
          const { typeId, ...data } = event.data;
          await types.replace({ id: typeId, ...data, updatedAt: data.createdAt });
          return;
        }
        case 'VaultTypeUpdated': {
          const { typeId, ...changes } = event.data;
          await types.update({ id: typeId }, { $set: definedOnly(changes) });
          return;
        }
        case 'VaultTypeDeleted':
          await types.delete({ id: event.data.typeId });
          return;
      }
    }
    const event = parseVaultEntryEvent(recorded);
    switch (event.type) {
      case 'VaultEntryCreated': {
        const { entryId, ...data } = event.data;
        await entries.replace({ id: entryId, ...data, updatedAt: data.createdAt });
        return;
      }
      case 'VaultEntryUpdated': {
        const { entryId, ...changes } = event.data;
        await entries.update({ id: entryId }, { $set: definedOnly(changes) });
        return;
      }
      case 'VaultAttachmentAdded': {
        const { attachmentId, ...data } = event.data;
        await attachments.replace({ id: attachmentId, ...data });
        return;
      }
      case 'VaultAttachmentRemoved':
        await attachments.delete({ id: event.data.attachmentId });
        return;
      case 'VaultEntryDeleted':
        await entries.delete({ id: event.data.entryId });
        await attachments.delete({ entryId: event.data.entryId });
        return;
    }
  },
};

const definedOnly = (value: Record<string, unknown>) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
