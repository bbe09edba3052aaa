import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RecordedEvent } from '../es/eventStore.js';

/**
 * The vault (platform.md §4). One aggregate backs both the seed's "secrets" and the typed
 * entries, as one table does in the original: `vaultentry-<id>`, with its attachments.
 * Custom entry types are `vaulttype-<id>`.
 */
export const vaultEntryStream = (entryId: string) => `vaultentry-${entryId}`;
export const vaultTypeStream = (typeId: string) => `vaulttype-${typeId}`;

/**
 * Uniqueness by construction: each entry key and each type slug is a stream of its own, claimed
 * with an expected revision before it is used and released when it no longer is. Keys are free
 * text, so their stream is named by the key's sha256.
 */
export const vaultKeyStream = (key: string) => `vaultkey-${createHash('sha256').update(key, 'utf8').digest('hex')}`;
export const vaultTypeSlugStream = (slug: string) => `vaulttypeslug-${slug}`;

/** The owner of an entry's data key (src/lib/secrets.ts): shredding it makes the value and the attachments unreadable. */
export const vaultSecretOwner = (entryId: string) => `vault-${entryId}`;

export const vaultFieldSchema = z.object({
  name: z.string(),
  label: z.string(),
  type: z.string(),
  required: z.boolean().optional(),
  placeholder: z.string().optional(),
});
export type VaultField = z.infer<typeof vaultFieldSchema>;

/**
 * `valueEncrypted` is the value (a string, or an object as JSON) sealed with the entry's data key;
 * `blobHash` addresses the attachment's encrypted bytes in the blob store. No plaintext value or
 * file content ever enters the log.
 */
export const vaultEntryEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('VaultEntryCreated'),
    data: z.object({
      entryId: z.string(),
      key: z.string(),
      valueEncrypted: z.string(),
      description: z.string().nullable(),
      entryType: z.string(),
      isFavorite: z.boolean(),
      createdByKinId: z.string().nullable(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('VaultEntryUpdated'),
    data: z.object({
      entryId: z.string(),
      key: z.string().optional(),
      valueEncrypted: z.string().optional(),
      description: z.string().nullable().optional(),
      entryType: z.string().optional(),
      isFavorite: z.boolean().optional(),
      updatedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('VaultAttachmentAdded'),
    data: z.object({
      entryId: z.string(),
      attachmentId: z.string(),
      name: z.string(),
      mimeType: z.string(),
      /** Of the plaintext file, as the client sees it. */
      size: z.number().int().nonnegative(),
      blobHash: z.string(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('VaultAttachmentRemoved'),
    data: z.object({ entryId: z.string(), attachmentId: z.string(), removedAt: z.string() }),
  }),
  z.object({
    type: z.literal('VaultEntryDeleted'),
    data: z.object({ entryId: z.string(), deletedAt: z.string() }),
  }),
]);

export type VaultEntryEvent = z.infer<typeof vaultEntryEventSchema>;
export const vaultEntryEventTypes = ['VaultEntryCreated', 'VaultEntryUpdated', 'VaultAttachmentAdded', 'VaultAttachmentRemoved', 'VaultEntryDeleted'] as const;
export const parseVaultEntryEvent = (recorded: RecordedEvent): VaultEntryEvent =>
  vaultEntryEventSchema.parse({ type: recorded.type, data: recorded.data });

export const vaultTypeEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('VaultTypeCreated'),
    data: z.object({
      typeId: z.string(),
      slug: z.string(),
      name: z.string(),
      icon: z.string().nullable(),
      fields: z.array(vaultFieldSchema),
      createdByKinId: z.string().nullable(),
      createdAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('VaultTypeUpdated'),
    data: z.object({
      typeId: z.string(),
      name: z.string().optional(),
      icon: z.string().nullable().optional(),
      fields: z.array(vaultFieldSchema).optional(),
      updatedAt: z.string(),
    }),
  }),
  z.object({
    type: z.literal('VaultTypeDeleted'),
    data: z.object({ typeId: z.string(), deletedAt: z.string() }),
  }),
]);

export type VaultTypeEvent = z.infer<typeof vaultTypeEventSchema>;
export const vaultTypeEventTypes = ['VaultTypeCreated', 'VaultTypeUpdated', 'VaultTypeDeleted'] as const;
export const parseVaultTypeEvent = (recorded: RecordedEvent): VaultTypeEvent =>
  vaultTypeEventSchema.parse({ type: recorded.type, data: recorded.data });

/** A claim on an entry key or a type slug; `holder` is the entry or type id. */
export const vaultClaimEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('VaultNameClaimed'), data: z.object({ name: z.string(), holder: z.string(), claimedAt: z.string() }) }),
  z.object({ type: z.literal('VaultNameReleased'), data: z.object({ name: z.string(), holder: z.string() }) }),
]);

export type VaultClaimEvent = z.infer<typeof vaultClaimEventSchema>;
export const parseVaultClaimEvent = (recorded: RecordedEvent): VaultClaimEvent =>
  vaultClaimEventSchema.parse({ type: recorded.type, data: recorded.data });
