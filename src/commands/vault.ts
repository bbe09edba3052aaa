import { v7 as uuidv7 } from 'uuid';
import type { BlobStore } from '../es/blobStore.js';
import { DEFAULT_CONTENT_TYPE } from '../es/blobStore.js';
import type { RunCommand } from '../es/commandRunner.js';
import type { CommandMetadata, Decider } from '../es/decider.js';
import { badRequest, conflict, DomainError, notFound } from '../es/errors.js';
import type { EventStore } from '../es/eventStore.js';
import type { ReadStore } from '../es/readStore.js';
import {
  parseVaultClaimEvent,
  parseVaultEntryEvent,
  parseVaultTypeEvent,
  vaultEntryStream,
  vaultKeyStream,
  vaultSecretOwner,
  vaultTypeSlugStream,
  vaultTypeStream,
  type VaultClaimEvent,
  type VaultEntryEvent,
  type VaultField,
  type VaultTypeEvent,
} from '../events/vault.js';
import type { Secrets } from '../lib/secrets.js';
import { VAULT_ENTRIES } from '../projections/vault.js';
import { cleanFileName, normalizeMimeType } from './files.js';

export const MAX_VAULT_ATTACHMENT_BYTES = 50 * 1024 * 1024;
export const MAX_VAULT_ATTACHMENTS_PER_ENTRY = 10;

export const entryNotFound = () => notFound('ENTRY_NOT_FOUND', 'Entry not found');
export const attachmentNotFound = () => notFound('ATTACHMENT_NOT_FOUND', 'Attachment not found');
export const typeNotFound = () => notFound('TYPE_NOT_FOUND', 'Type not found');
const duplicateKey = () => conflict('DUPLICATE_KEY', 'A secret with this key already exists');
const uploadFailed = (message: string) => badRequest('UPLOAD_FAILED', message);

// ── Built-in entry types (platform.md §4: not stored; values are not validated server-side) ──────

const field = (name: string, label: string, type: string, required = false): VaultField => ({ name, label, type, ...(required ? { required } : {}) });

export const BUILT_IN_VAULT_TYPES: readonly { slug: string; name: string; icon: string; fields: VaultField[] }[] = [
  { slug: 'text', name: 'Text', icon: 'key', fields: [field('value', 'Value', 'password', true)] },
  {
    slug: 'credential',
    name: 'Credential',
    icon: 'lock',
    fields: [field('url', 'URL', 'url'), field('username', 'Username', 'text', true), field('password', 'Password', 'password', true), field('notes', 'Notes', 'textarea')],
  },
  {
    slug: 'card',
    name: 'Card',
    icon: 'credit-card',
    fields: [
      field('number', 'Card number', 'text', true),
      field('expiry', 'Expiry', 'text', true),
      field('cvv', 'CVV', 'password', true),
      field('holderName', 'Cardholder name', 'text'),
      field('notes', 'Notes', 'textarea'),
    ],
  },
  { slug: 'note', name: 'Secure note', icon: 'file-text', fields: [field('title', 'Title', 'text'), field('content', 'Content', 'textarea', true)] },
  {
    slug: 'identity',
    name: 'Identity',
    icon: 'user',
    fields: [field('fullName', 'Full name', 'text', true), field('email', 'Email', 'email'), field('phone', 'Phone', 'phone'), field('address', 'Address', 'textarea'), field('notes', 'Notes', 'textarea')],
  },
];

export const isBuiltInVaultType = (slug: string) => BUILT_IN_VAULT_TYPES.some((type) => type.slug === slug);

// ── The entry stream ──────────────────────────────────────────────────────────────────────────

export type VaultEntryFields = { key: string; valueEncrypted: string; description: string | null; entryType: string; isFavorite: boolean };
export type VaultAttachmentRef = { attachmentId: string; blobHash: string };

export type VaultEntryState =
  | { status: 'none' }
  | { status: 'active'; entry: VaultEntryFields; attachments: VaultAttachmentRef[] }
  | { status: 'deleted' };

export type VaultEntryChanges = Partial<VaultEntryFields>;

/** Ciphertexts arrive on the command: encryption is I/O (the key store), `decide` stays pure. */
export type VaultEntryCommand =
  | { type: 'CreateEntry'; entryId: string; fields: VaultEntryFields; createdByKinId: string | null; now: Date }
  | { type: 'UpdateEntry'; entryId: string; changes: VaultEntryChanges; now: Date }
  | { type: 'AddAttachment'; entryId: string; attachmentId: string; name: string; mimeType: string; size: number; blobHash: string; now: Date }
  | { type: 'RemoveAttachment'; entryId: string; attachmentId: string; now: Date }
  | { type: 'DeleteEntry'; entryId: string; now: Date };

export const initialVaultEntryState = (): VaultEntryState => ({ status: 'none' });

export function evolveVaultEntry(state: VaultEntryState, event: VaultEntryEvent): VaultEntryState {
  switch (event.type) {
    case 'VaultEntryCreated': {
      const { key, valueEncrypted, description, entryType, isFavorite } = event.data;
      return { status: 'active', entry: { key, valueEncrypted, description, entryType, isFavorite }, attachments: [] };
    }
    case 'VaultEntryUpdated': {
      if (state.status !== 'active') return state;
      const { entryId: _id, updatedAt: _at, ...changes } = event.data;
      return { ...state, entry: { ...state.entry, ...definedOnly(changes) } };
    }
    case 'VaultAttachmentAdded':
      if (state.status !== 'active') return state;
      return { ...state, attachments: [...state.attachments, { attachmentId: event.data.attachmentId, blobHash: event.data.blobHash }] };
    case 'VaultAttachmentRemoved':
      if (state.status !== 'active') return state;
      return { ...state, attachments: state.attachments.filter((a) => a.attachmentId !== event.data.attachmentId) };
    case 'VaultEntryDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

function definedOnly<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function decideVaultEntry(command: VaultEntryCommand, state: VaultEntryState): VaultEntryEvent[] {
  const { entryId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreateEntry') {
    if (state.status !== 'none') throw conflict('ENTRY_EXISTS', 'An entry with this id already exists');
    return [{ type: 'VaultEntryCreated', data: { entryId, ...command.fields, createdByKinId: command.createdByKinId, createdAt: at } }];
  }
  if (command.type === 'AddAttachment') assertAttachmentFits(state);
  if (state.status !== 'active') throw entryNotFound();
  switch (command.type) {
    case 'UpdateEntry': {
      // A new value is always a change: it was sealed with a fresh IV, whatever the plaintext.
      const changes = definedOnly(command.changes);
      const changed = Object.fromEntries(
        Object.entries(changes).filter(([name, value]) => name === 'valueEncrypted' || state.entry[name as keyof VaultEntryFields] !== value),
      ) as VaultEntryChanges;
      if (Object.keys(changed).length === 0) return [];
      return [{ type: 'VaultEntryUpdated', data: { entryId, ...changed, updatedAt: at } }];
    }
    case 'AddAttachment': {
      const { attachmentId, name, mimeType, size, blobHash } = command;
      if (state.attachments.some((a) => a.attachmentId === attachmentId)) return [];
      return [{ type: 'VaultAttachmentAdded', data: { entryId, attachmentId, name, mimeType, size, blobHash, createdAt: at } }];
    }
    case 'RemoveAttachment':
      if (!state.attachments.some((a) => a.attachmentId === command.attachmentId)) throw attachmentNotFound();
      return [{ type: 'VaultAttachmentRemoved', data: { entryId, attachmentId: command.attachmentId, removedAt: at } }];
    case 'DeleteEntry':
      return [{ type: 'VaultEntryDeleted', data: { entryId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

/** Why an attachment cannot be added (platform.md §4: both are 400 UPLOAD_FAILED). */
export function assertAttachmentFits(state: VaultEntryState): asserts state is Extract<VaultEntryState, { status: 'active' }> {
  if (state.status !== 'active') throw uploadFailed('Entry not found');
  if (state.attachments.length >= MAX_VAULT_ATTACHMENTS_PER_ENTRY) throw uploadFailed(`Max ${MAX_VAULT_ATTACHMENTS_PER_ENTRY} attachments per entry`);
}

export const vaultEntryDecider: Decider<VaultEntryState, VaultEntryCommand, VaultEntryEvent> = {
  initialState: initialVaultEntryState,
  evolve: evolveVaultEntry,
  decide: decideVaultEntry,
};

// ── The type stream ───────────────────────────────────────────────────────────────────────────

export type VaultTypeFields = { slug: string; name: string; icon: string | null; fields: VaultField[] };
export type VaultTypeState = { status: 'none' } | { status: 'active'; type: VaultTypeFields } | { status: 'deleted' };

export type VaultTypeCommand =
  | { type: 'CreateType'; typeId: string; fields: VaultTypeFields; createdByKinId: string | null; now: Date }
  | { type: 'UpdateType'; typeId: string; changes: Partial<Pick<VaultTypeFields, 'name' | 'icon' | 'fields'>>; now: Date }
  | { type: 'DeleteType'; typeId: string; now: Date };

export function evolveVaultType(state: VaultTypeState, event: VaultTypeEvent): VaultTypeState {
  switch (event.type) {
    case 'VaultTypeCreated': {
      const { slug, name, icon, fields } = event.data;
      return { status: 'active', type: { slug, name, icon, fields } };
    }
    case 'VaultTypeUpdated': {
      if (state.status !== 'active') return state;
      const { typeId: _id, updatedAt: _at, ...changes } = event.data;
      return { status: 'active', type: { ...state.type, ...definedOnly(changes) } };
    }
    case 'VaultTypeDeleted':
      return { status: 'deleted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideVaultType(command: VaultTypeCommand, state: VaultTypeState): VaultTypeEvent[] {
  const { typeId } = command;
  const at = command.now.toISOString();
  if (command.type === 'CreateType') {
    if (isBuiltInVaultType(command.fields.slug)) throw conflict('RESERVED_SLUG', `"${command.fields.slug}" is a built-in type`);
    if (state.status !== 'none') throw badRequest('CREATE_FAILED', 'A type with this id already exists');
    return [{ type: 'VaultTypeCreated', data: { typeId, ...command.fields, createdByKinId: command.createdByKinId, createdAt: at } }];
  }
  if (state.status !== 'active') throw typeNotFound();
  switch (command.type) {
    case 'UpdateType': {
      const changes = definedOnly(command.changes);
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'VaultTypeUpdated', data: { typeId, ...changes, updatedAt: at } }];
    }
    case 'DeleteType':
      return [{ type: 'VaultTypeDeleted', data: { typeId, deletedAt: at } }];
    default: {
      const unhandled: never = command;
      return unhandled;
    }
  }
}

export const vaultTypeDecider: Decider<VaultTypeState, VaultTypeCommand, VaultTypeEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve: evolveVaultType,
  decide: decideVaultType,
};

// ── Claims on entry keys and type slugs ───────────────────────────────────────────────────────

/** A claim whose holder never came to exist (a crash between the two appends) can be taken over
 * after this long; a younger one may belong to a creation still in progress. */
export const ORPHAN_CLAIM_MS = 60_000;

export type VaultClaimState = { holder: string | null; claimedAt: number };

/** `orphanOf`: the current holder, found gone (deleted, or never created) by the handler. */
export type VaultClaimCommand =
  | { type: 'ClaimName'; name: string; holder: string; now: Date; orphanOf?: { holder: string; deleted: boolean } }
  | { type: 'ReleaseName'; name: string; holder: string };

export class NameTaken extends DomainError {
  constructor(readonly holder: string) {
    super(409, 'NAME_TAKEN', 'This name is already in use');
  }
}

export function evolveVaultClaim(state: VaultClaimState, event: VaultClaimEvent): VaultClaimState {
  switch (event.type) {
    case 'VaultNameClaimed':
      return { holder: event.data.holder, claimedAt: Date.parse(event.data.claimedAt) };
    case 'VaultNameReleased':
      return state.holder === event.data.holder ? { holder: null, claimedAt: 0 } : state;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function decideVaultClaim(command: VaultClaimCommand, state: VaultClaimState): VaultClaimEvent[] {
  const { name, holder } = command;
  if (command.type === 'ReleaseName') return state.holder === holder ? [{ type: 'VaultNameReleased', data: { name, holder } }] : [];
  if (state.holder === holder) return [];
  const orphan = command.orphanOf;
  const takeover =
    state.holder !== null && orphan?.holder === state.holder && (orphan.deleted || command.now.getTime() - state.claimedAt > ORPHAN_CLAIM_MS);
  if (state.holder !== null && !takeover) throw new NameTaken(state.holder);
  return [{ type: 'VaultNameClaimed', data: { name, holder, claimedAt: command.now.toISOString() } }];
}

export const vaultClaimDecider: Decider<VaultClaimState, VaultClaimCommand, VaultClaimEvent> = {
  initialState: () => ({ holder: null, claimedAt: 0 }),
  evolve: evolveVaultClaim,
  decide: decideVaultClaim,
};

// ── Handlers: the decisions above, run against the stores ──────────────────────────────────────

export type VaultDeps = { runCommand: RunCommand; eventStore: EventStore; readStore: ReadStore; blobs: BlobStore; secrets: Secrets };

const runEntry = (deps: VaultDeps, command: VaultEntryCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: vaultEntryStream(command.entryId), decider: vaultEntryDecider, parse: parseVaultEntryEvent, command, metadata });

const runType = (deps: VaultDeps, command: VaultTypeCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: vaultTypeStream(command.typeId), decider: vaultTypeDecider, parse: parseVaultTypeEvent, command, metadata });

async function loadEntry(deps: VaultDeps, entryId: string): Promise<VaultEntryState> {
  const history = await deps.eventStore.readStream(vaultEntryStream(entryId));
  return history.map(parseVaultEntryEvent).reduce(evolveVaultEntry, initialVaultEntryState());
}

async function loadType(deps: VaultDeps, typeId: string): Promise<VaultTypeState> {
  const history = await deps.eventStore.readStream(vaultTypeStream(typeId));
  return history.map(parseVaultTypeEvent).reduce(evolveVaultType, vaultTypeDecider.initialState());
}

type Claims = { stream: (name: string) => string; holderStatus: (deps: VaultDeps, holder: string) => Promise<'none' | 'active' | 'deleted'> };

const keyClaims: Claims = { stream: vaultKeyStream, holderStatus: async (deps, holder) => (await loadEntry(deps, holder)).status };
const slugClaims: Claims = { stream: vaultTypeSlugStream, holderStatus: async (deps, holder) => (await loadType(deps, holder)).status };

const runClaim = (deps: VaultDeps, claims: Claims, command: VaultClaimCommand, metadata: CommandMetadata) =>
  deps.runCommand({ stream: claims.stream(command.name), decider: vaultClaimDecider, parse: parseVaultClaimEvent, command, metadata });

/** Claims `name` for `holder`; takes over a claim whose holder was deleted or never came to exist. */
async function claim(deps: VaultDeps, claims: Claims, name: string, holder: string, metadata: CommandMetadata): Promise<void> {
  const command = { type: 'ClaimName', name, holder, now: metadata.now } as const;
  try {
    await runClaim(deps, claims, command, metadata);
  } catch (error) {
    if (!(error instanceof NameTaken)) throw error;
    const status = await claims.holderStatus(deps, error.holder);
    if (status === 'active') throw error;
    await runClaim(deps, claims, { ...command, orphanOf: { holder: error.holder, deleted: status === 'deleted' } }, metadata);
  }
}

const release = (deps: VaultDeps, claims: Claims, name: string, holder: string, metadata: CommandMetadata) =>
  runClaim(deps, claims, { type: 'ReleaseName', name, holder }, metadata);

const claimKey = async (deps: VaultDeps, key: string, entryId: string, metadata: CommandMetadata) => {
  try {
    await claim(deps, keyClaims, key, entryId, metadata);
  } catch (error) {
    throw error instanceof NameTaken ? duplicateKey() : error;
  }
};

const createdByKinId = (metadata: CommandMetadata) => (metadata.actor.kind === 'kin' ? metadata.actor.id : null);

/** `value` is the plaintext as stored: a string, or an object's JSON. */
export type NewVaultEntry = { key: string; value: string; description: string | null; entryType: string; isFavorite: boolean };

export async function createVaultEntry(deps: VaultDeps, input: NewVaultEntry, metadata: CommandMetadata) {
  const entryId = uuidv7();
  await claimKey(deps, input.key, entryId, metadata);
  const owner = vaultSecretOwner(entryId);
  try {
    const { value, ...rest } = input;
    const fields = { ...rest, valueEncrypted: await deps.secrets.encrypt(owner, value) };
    const result = await runEntry(deps, { type: 'CreateEntry', entryId, fields, createdByKinId: createdByKinId(metadata), now: metadata.now }, metadata);
    return { entryId, position: result.position };
  } catch (error) {
    await deps.secrets.shred(owner);
    await release(deps, keyClaims, input.key, entryId, metadata);
    throw error;
  }
}

export type VaultEntryPatch = { key?: string; value?: string; description?: string | null; entryType?: string; isFavorite?: boolean };

/** A new value is sealed with the entry's own data key, like the first one. */
export async function updateVaultEntry(deps: VaultDeps, entryId: string, patch: VaultEntryPatch, metadata: CommandMetadata) {
  const state = await loadEntry(deps, entryId);
  if (state.status !== 'active') throw entryNotFound();
  const newKey = patch.key !== undefined && patch.key !== state.entry.key ? patch.key : null;
  if (newKey !== null) await claimKey(deps, newKey, entryId, metadata);
  try {
    const { value, ...rest } = patch;
    const valueEncrypted = value !== undefined ? await deps.secrets.encrypt(vaultSecretOwner(entryId), value) : undefined;
    const result = await runEntry(deps, { type: 'UpdateEntry', entryId, changes: { ...rest, valueEncrypted }, now: metadata.now }, metadata);
    if (newKey !== null) await release(deps, keyClaims, state.entry.key, entryId, metadata);
    return result;
  } catch (error) {
    if (newKey !== null) await release(deps, keyClaims, newKey, entryId, metadata);
    throw error;
  }
}

/** The entry's value in clear, or null once its key is gone. */
export async function readVaultValue(deps: Pick<VaultDeps, 'secrets'>, entryId: string, valueEncrypted: string): Promise<string | null> {
  return deps.secrets.decrypt(vaultSecretOwner(entryId), valueEncrypted);
}

/**
 * Shreds the entry's data key first, then records the deletion, removes the encrypted attachment
 * blobs and frees the key. In that order a failure midway never leaves a "deleted" secret readable:
 * at worst the entry stays listed with an unreadable value, and deleting it again finishes the job.
 */
export async function deleteVaultEntry(deps: VaultDeps, entryId: string, metadata: CommandMetadata) {
  const state = await loadEntry(deps, entryId);
  if (state.status !== 'active') throw entryNotFound();
  await deps.secrets.shred(vaultSecretOwner(entryId));
  const result = await runEntry(deps, { type: 'DeleteEntry', entryId, now: metadata.now }, metadata);
  for (const attachment of state.attachments) await deps.blobs.delete(attachment.blobHash);
  await release(deps, keyClaims, state.entry.key, entryId, metadata);
  return result;
}

export type NewVaultAttachment = { name: string; mimeType: string | undefined; bytes: Buffer };

/**
 * Seals the file with the entry's data key and stores only that ciphertext in the blob store
 * (its hash goes in the event). A random IV makes every stored blob unique to its attachment.
 */
export async function addVaultAttachment(deps: VaultDeps, entryId: string, file: NewVaultAttachment, metadata: CommandMetadata) {
  if (file.bytes.length === 0) throw uploadFailed('File is empty');
  if (file.bytes.length > MAX_VAULT_ATTACHMENT_BYTES) throw uploadFailed('File too large: max 50 MB');
  // Checked before encrypting and storing anything; the decider checks again against the stream.
  assertAttachmentFits(await loadEntry(deps, entryId));
  const sealed = await deps.secrets.encryptBytes(vaultSecretOwner(entryId), file.bytes);
  const blob = await deps.blobs.put(sealed, DEFAULT_CONTENT_TYPE);
  const attachmentId = uuidv7();
  const command = {
    type: 'AddAttachment',
    entryId,
    attachmentId,
    name: cleanFileName(file.name),
    mimeType: normalizeMimeType(file.mimeType),
    size: file.bytes.length,
    blobHash: blob.hash,
    now: metadata.now,
  } as const;
  try {
    const result = await runEntry(deps, command, metadata);
    return { attachmentId, position: result.position };
  } catch (error) {
    await deps.blobs.delete(blob.hash);
    throw error;
  }
}

/** The attachment's bytes in clear; null when the blob or the entry's key is gone. */
export async function readVaultAttachment(deps: Pick<VaultDeps, 'secrets' | 'blobs'>, entryId: string, blobHash: string): Promise<Buffer | null> {
  const stored = await deps.blobs.get(blobHash);
  return stored ? deps.secrets.decryptBytes(vaultSecretOwner(entryId), stored.bytes) : null;
}

export async function removeVaultAttachment(deps: VaultDeps, entryId: string, attachmentId: string, metadata: CommandMetadata) {
  const state = await loadEntry(deps, entryId);
  const attachment = state.status === 'active' ? state.attachments.find((a) => a.attachmentId === attachmentId) : undefined;
  if (!attachment) throw attachmentNotFound();
  const result = await runEntry(deps, { type: 'RemoveAttachment', entryId, attachmentId, now: metadata.now }, metadata);
  await deps.blobs.delete(attachment.blobHash);
  return result;
}

export async function createVaultType(deps: VaultDeps, fields: VaultTypeFields, metadata: CommandMetadata) {
  if (isBuiltInVaultType(fields.slug)) throw conflict('RESERVED_SLUG', `"${fields.slug}" is a built-in type`);
  const typeId = uuidv7();
  try {
    await claim(deps, slugClaims, fields.slug, typeId, metadata);
  } catch (error) {
    throw error instanceof NameTaken ? badRequest('CREATE_FAILED', 'A type with this slug already exists') : error;
  }
  try {
    const result = await runType(deps, { type: 'CreateType', typeId, fields, createdByKinId: createdByKinId(metadata), now: metadata.now }, metadata);
    return { typeId, position: result.position };
  } catch (error) {
    await release(deps, slugClaims, fields.slug, typeId, metadata);
    throw error;
  }
}

export const updateVaultType = (deps: VaultDeps, typeId: string, changes: Partial<Pick<VaultTypeFields, 'name' | 'icon' | 'fields'>>, metadata: CommandMetadata) =>
  runType(deps, { type: 'UpdateType', typeId, changes, now: metadata.now }, metadata);

/**
 * Refused while entries use the type. That check reads the read model: an entry created with the
 * type at the same moment could slip through, and would then show a type the list no longer has.
 */
export async function deleteVaultType(deps: VaultDeps, typeId: string, metadata: CommandMetadata) {
  const state = await loadType(deps, typeId);
  if (state.status !== 'active') throw typeNotFound();
  const inUse = await deps.readStore.collection(VAULT_ENTRIES).count({ entryType: state.type.slug });
  if (inUse > 0) throw badRequest('DELETE_FAILED', `This type is used by ${inUse} entr${inUse === 1 ? 'y' : 'ies'}`);
  const result = await runType(deps, { type: 'DeleteType', typeId, now: metadata.now }, metadata);
  await release(deps, slugClaims, state.type.slug, typeId, metadata);
  return result;
}
