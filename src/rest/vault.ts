import { z } from 'zod';
import {
  attachmentNotFound,
  BUILT_IN_VAULT_TYPES,
  addVaultAttachment,
  createVaultEntry,
  createVaultType,
  deleteVaultEntry,
  deleteVaultType,
  entryNotFound,
  MAX_VAULT_ATTACHMENT_BYTES,
  readVaultAttachment,
  readVaultValue,
  removeVaultAttachment,
  typeNotFound,
  updateVaultEntry,
  updateVaultType,
} from '../commands/vault.js';
import { badRequest, DomainError, notFound } from '../es/errors.js';
import { VAULT_ATTACHMENTS, VAULT_ENTRIES, VAULT_TYPES, type VaultAttachmentDoc, type VaultEntryDoc, type VaultTypeDoc } from '../projections/vault.js';
import type { Services } from '../services.js';
import { multipartUploadBody, singleFileUpload } from './multipart.js';
import { defineOperation, defineRawOperation, type Operation } from './operation.js';

// ── Input ─────────────────────────────────────────────────────────────────────────────────────

const INVALID_INPUT = 'INVALID_INPUT';

const keyField = (required: string) => z.string({ error: required }).trim().min(1, required).max(255, 'key must be at most 255 characters');
const descriptionField = z.string({ error: 'description must be a string' }).max(2000, 'description must be at most 2000 characters').nullable();
const entryTypeField = (required: string) =>
  z.string({ error: required }).trim().min(1, required).max(100, 'entryType must be at most 100 characters');
/** 1 MB of text is far more than any secret; the JSON body limit would refuse much more anyway. */
const MAX_VALUE_CHARS = 1_000_000;
const textValue = (required: string) => z.string({ error: required }).min(1, required).max(MAX_VALUE_CHARS, 'value is too long');
const entryValue = (required: string) =>
  z.union([textValue(required), z.record(z.string(), z.unknown())], { error: required }).meta({ description: 'A string, or an object (stored as JSON)' });

const SECRET_REQUIRED = 'Both key and value are required';
const createSecretInput = z.object({ key: keyField(SECRET_REQUIRED), value: textValue(SECRET_REQUIRED), description: descriptionField.optional() }).meta({ id: 'CreateVaultSecretInput' });
const updateSecretInput = z
  .object({ key: keyField('key cannot be empty').optional(), value: textValue('value cannot be empty').optional(), description: descriptionField.optional() })
  .meta({ id: 'UpdateVaultSecretInput' });

const ENTRY_REQUIRED = 'key, entryType, and value are required';
const createEntryInput = z
  .object({
    key: keyField(ENTRY_REQUIRED),
    entryType: entryTypeField(ENTRY_REQUIRED),
    value: entryValue(ENTRY_REQUIRED),
    description: descriptionField.optional(),
    isFavorite: z.boolean({ error: 'isFavorite must be a boolean' }).optional(),
  })
  .meta({ id: 'CreateVaultEntryInput' });
const updateEntryInput = z
  .object({
    key: keyField('key cannot be empty').optional(),
    value: entryValue('value cannot be empty').optional(),
    description: descriptionField.optional(),
    entryType: entryTypeField('entryType cannot be empty').optional(),
    isFavorite: z.boolean({ error: 'isFavorite must be a boolean' }).optional(),
  })
  .meta({ id: 'UpdateVaultEntryInput' });
const entryErrorCodes = { key: INVALID_INPUT, value: INVALID_INPUT, description: INVALID_INPUT, entryType: INVALID_INPUT, isFavorite: INVALID_INPUT };

const FIELD_TYPES = ['text', 'password', 'textarea', 'url', 'email', 'phone', 'date', 'number'] as const;
/** A slug is what entries name in `entryType` and what `?type=` filters on: kept to a plain alphabet. */
const SLUG = /^[a-z0-9](?:[a-z0-9_-]{0,48}[a-z0-9])?$/;

const typeFieldInput = z.object({
  name: z.string({ error: 'field name is required' }).trim().min(1, 'field name is required').max(100),
  label: z.string({ error: 'field label is required' }).trim().min(1, 'field label is required').max(200),
  type: z.enum(FIELD_TYPES, { error: `field type must be one of ${FIELD_TYPES.join(', ')}` }),
  required: z.boolean().optional(),
  placeholder: z.string().max(500).optional(),
});
const typeName = z.string({ error: 'name is required' }).trim().min(1, 'name is required').max(100, 'name must be at most 100 characters');
const typeIcon = z.string({ error: 'icon must be a string' }).trim().max(100, 'icon must be at most 100 characters').nullable();
const typeFields = z.array(typeFieldInput, { error: 'fields must be an array' }).min(1, 'fields must not be empty').max(50, 'at most 50 fields');
const createTypeInput = z
  .object({
    name: typeName,
    slug: z.string({ error: 'slug is required' }).trim().regex(SLUG, 'slug must be 1-50 lower-case letters, digits, "-" or "_"'),
    icon: typeIcon.optional(),
    fields: typeFields,
  })
  .meta({ id: 'CreateVaultTypeInput' });
const updateTypeInput = z.object({ name: typeName.optional(), icon: typeIcon.optional(), fields: typeFields.optional() }).meta({ id: 'UpdateVaultTypeInput' });

const ref = z.object({ id: z.string().min(1).max(100) });

// ── Output ────────────────────────────────────────────────────────────────────────────────────

const secretOut = z
  .object({
    id: z.string(),
    key: z.string(),
    description: z.string().nullable(),
    entryType: z.string(),
    isFavorite: z.boolean(),
    createdByKinId: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'VaultSecret' });
const entryOut = secretOut.extend({ attachmentCount: z.number().int() }).meta({ id: 'VaultEntry' });
const attachmentOut = z.object({ id: z.string(), name: z.string(), mimeType: z.string(), size: z.number().int(), createdAt: z.string() }).meta({ id: 'VaultAttachment' });
const typeOut = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    icon: z.string().nullable(),
    fields: z.array(z.object({ name: z.string(), label: z.string(), type: z.string(), required: z.boolean().optional(), placeholder: z.string().optional() })),
    isBuiltIn: z.boolean(),
    createdByKinId: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'VaultType' });
const success = z.object({ success: z.literal(true) });

// ── Presentation ──────────────────────────────────────────────────────────────────────────────

const presentSecret = (doc: VaultEntryDoc): z.input<typeof secretOut> => ({
  id: doc.id,
  key: doc.key,
  description: doc.description,
  entryType: doc.entryType,
  isFavorite: doc.isFavorite,
  createdByKinId: doc.createdByKinId,
  createdAt: doc.createdAt,
  updatedAt: doc.updatedAt,
});

const presentAttachment = (doc: VaultAttachmentDoc) => ({ id: doc.id, name: doc.name, mimeType: doc.mimeType, size: doc.size, createdAt: doc.createdAt });

/** Built-in types are not stored; they carry a fixed date so that every type has the same shape. */
const BUILT_IN_DATE = new Date(0).toISOString();
const builtInTypes: z.input<typeof typeOut>[] = BUILT_IN_VAULT_TYPES.map((type) => ({
  id: type.slug,
  ...type,
  isBuiltIn: true,
  createdByKinId: null,
  createdAt: BUILT_IN_DATE,
  updatedAt: BUILT_IN_DATE,
}));

const presentType = (doc: VaultTypeDoc): z.input<typeof typeOut> => ({
  id: doc.id,
  slug: doc.slug,
  name: doc.name,
  icon: doc.icon,
  fields: doc.fields,
  isBuiltIn: false,
  createdByKinId: doc.createdByKinId,
  createdAt: doc.createdAt,
  updatedAt: doc.updatedAt,
});

/** Objects are stored as their JSON. */
const storedValue = (value: string | Record<string, unknown>) => (typeof value === 'string' ? value : JSON.stringify(value));

/** platform.md §4: `text` → the string; other types → the parsed object, else the string. */
function presentValue(entryType: string, plaintext: string): unknown {
  if (entryType === 'text') return plaintext;
  try {
    const parsed: unknown = JSON.parse(plaintext);
    return parsed !== null && typeof parsed === 'object' ? parsed : plaintext;
  } catch {
    return plaintext;
  }
}

/** The secret routes address the same rows as the entry routes, under their own error code. */
async function asSecret<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof DomainError && error.code === 'ENTRY_NOT_FOUND') throw notFound('SECRET_NOT_FOUND', 'Secret not found');
    throw error;
  }
}

// ── Operations ────────────────────────────────────────────────────────────────────────────────

/** platform.md §4: the vault, open to every signed-in user (no admin check, no live events). */
export function vaultOperations(services: Services): Operation[] {
  const { readStore } = services;
  const entries = () => readStore.collection<VaultEntryDoc>(VAULT_ENTRIES);
  const attachments = () => readStore.collection<VaultAttachmentDoc>(VAULT_ATTACHMENTS);
  const types = () => readStore.collection<VaultTypeDoc>(VAULT_TYPES);
  const byCreation = { sort: { createdAt: 1, id: 1 } as const };
  const parseUpload = singleFileUpload(MAX_VAULT_ATTACHMENT_BYTES);

  async function findEntry(id: string): Promise<VaultEntryDoc> {
    const doc = await entries().get(id);
    if (!doc) throw entryNotFound();
    return doc;
  }

  const secretTags = ['Vault'];
  const secretOperations: Operation[] = [
    defineOperation({
      name: 'vaultSecrets',
      summary: 'List the vault secrets (never their values)',
      method: 'get',
      path: '/api/vault',
      auth: 'user',
      tags: secretTags,
      output: z.object({ secrets: z.array(secretOut) }),
      async handler() {
        return { secrets: (await entries().find({}, byCreation)).map(presentSecret) };
      },
    }),
    defineOperation({
      name: 'createVaultSecret',
      summary: 'Store a secret (encrypted with a key of its own)',
      method: 'post',
      path: '/api/vault',
      auth: 'user',
      tags: secretTags,
      body: createSecretInput,
      errorCodes: entryErrorCodes,
      status: 201,
      output: z.object({ secret: z.object({ id: z.string(), key: z.string(), createdAt: z.string() }) }),
      async handler({ body }, ctx) {
        const input = { key: body.key, value: body.value, description: body.description ?? null, entryType: 'text', isFavorite: false };
        const { entryId, position } = await createVaultEntry(services, input, ctx.commandMetadata());
        await services.settle(position);
        const doc = await findEntry(entryId);
        return { secret: { id: doc.id, key: doc.key, createdAt: doc.createdAt } };
      },
    }),
    defineOperation({
      name: 'updateVaultSecret',
      summary: 'Rename a secret, replace its value or its description',
      method: 'patch',
      path: '/api/vault/:id',
      auth: 'user',
      tags: secretTags,
      params: ref,
      body: updateSecretInput,
      errorCodes: entryErrorCodes,
      output: z.object({ secret: z.object({ id: z.string(), key: z.string(), updatedAt: z.string() }) }),
      async handler({ params, body }, ctx) {
        const result = await asSecret(updateVaultEntry(services, params.id, body, ctx.commandMetadata()));
        await services.settle(result.position);
        const doc = await asSecret(findEntry(params.id));
        return { secret: { id: doc.id, key: doc.key, updatedAt: doc.updatedAt } };
      },
    }),
    defineOperation({
      name: 'deleteVaultSecret',
      summary: 'Delete a secret: its data key is destroyed, so its value can never be read again',
      method: 'delete',
      path: '/api/vault/:id',
      auth: 'user',
      tags: secretTags,
      params: ref,
      output: success,
      async handler({ params }, ctx) {
        const result = await asSecret(deleteVaultEntry(services, params.id, ctx.commandMetadata()));
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];

  const entryTags = ['Vault entries'];
  const entryOperations: Operation[] = [
    defineOperation({
      name: 'vaultEntries',
      summary: 'List entries, optionally of one type or by favourite flag (never their values)',
      method: 'get',
      path: '/api/vault/entries',
      auth: 'user',
      tags: entryTags,
      query: z.object({ type: z.string().optional(), favorite: z.enum(['true', 'false']).optional() }),
      output: z.object({ entries: z.array(entryOut) }),
      async handler({ query }) {
        const filter = {
          ...(query.type ? { entryType: query.type } : {}),
          ...(query.favorite ? { isFavorite: query.favorite === 'true' } : {}),
        };
        const docs = await entries().find(filter, byCreation);
        const attached = docs.length ? await attachments().find({ entryId: { $in: docs.map((doc) => doc.id) } }) : [];
        const counts = new Map<string, number>();
        for (const attachment of attached) counts.set(attachment.entryId, (counts.get(attachment.entryId) ?? 0) + 1);
        return { entries: docs.map((doc) => ({ ...presentSecret(doc), attachmentCount: counts.get(doc.id) ?? 0 })) };
      },
    }),
    defineOperation({
      name: 'createVaultEntry',
      summary: 'Store a typed entry; an object value is stored as JSON (encrypted with a key of its own)',
      method: 'post',
      path: '/api/vault/entries',
      auth: 'user',
      tags: entryTags,
      body: createEntryInput,
      errorCodes: entryErrorCodes,
      status: 201,
      output: z.object({ entry: z.object({ id: z.string(), key: z.string(), entryType: z.string(), createdAt: z.string() }) }),
      async handler({ body }, ctx) {
        const input = {
          key: body.key,
          value: storedValue(body.value),
          description: body.description ?? null,
          entryType: body.entryType,
          isFavorite: body.isFavorite ?? false,
        };
        const { entryId, position } = await createVaultEntry(services, input, ctx.commandMetadata());
        await services.settle(position);
        const doc = await findEntry(entryId);
        return { entry: { id: doc.id, key: doc.key, entryType: doc.entryType, createdAt: doc.createdAt } };
      },
    }),
    defineOperation({
      name: 'vaultEntry',
      summary: 'An entry’s decrypted value (`text`: a string; other types: the object)',
      method: 'get',
      path: '/api/vault/entries/:id',
      auth: 'user',
      tags: entryTags,
      params: ref,
      output: z.object({ entryType: z.string(), value: z.unknown().describe('null when the value can no longer be decrypted') }),
      async handler({ params }) {
        const doc = await findEntry(params.id);
        const plaintext = await readVaultValue(services, doc.id, doc.valueEncrypted);
        return { entryType: doc.entryType, value: plaintext === null ? null : presentValue(doc.entryType, plaintext) };
      },
    }),
    defineOperation({
      name: 'updateVaultEntry',
      summary: 'Change an entry’s key, value, description, type or favourite flag',
      method: 'patch',
      path: '/api/vault/entries/:id',
      auth: 'user',
      tags: entryTags,
      params: ref,
      body: updateEntryInput,
      errorCodes: entryErrorCodes,
      output: z.object({ entry: z.object({ id: z.string(), key: z.string(), entryType: z.string(), updatedAt: z.string() }) }),
      async handler({ params, body }, ctx) {
        const { value, ...rest } = body;
        const patch = { ...rest, ...(value !== undefined ? { value: storedValue(value) } : {}) };
        const result = await updateVaultEntry(services, params.id, patch, ctx.commandMetadata());
        await services.settle(result.position);
        const doc = await findEntry(params.id);
        return { entry: { id: doc.id, key: doc.key, entryType: doc.entryType, updatedAt: doc.updatedAt } };
      },
    }),
    defineOperation({
      name: 'deleteVaultEntry',
      summary: 'Delete an entry and its attachments: its data key is destroyed, so nothing of it can be read again',
      method: 'delete',
      path: '/api/vault/entries/:id',
      auth: 'user',
      tags: entryTags,
      params: ref,
      output: success,
      async handler({ params }, ctx) {
        const result = await deleteVaultEntry(services, params.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];

  const attachmentTags = ['Vault attachments'];
  const attachmentOperations: Operation[] = [
    defineOperation({
      name: 'vaultAttachments',
      summary: 'List an entry’s attachments',
      method: 'get',
      path: '/api/vault/entries/:id/attachments',
      auth: 'user',
      tags: attachmentTags,
      params: ref,
      output: z.object({ attachments: z.array(attachmentOut) }),
      async handler({ params }) {
        await findEntry(params.id);
        return { attachments: (await attachments().find({ entryId: params.id }, byCreation)).map(presentAttachment) };
      },
    }),
    defineRawOperation({
      name: 'uploadVaultAttachment',
      summary: `Attach a file to an entry (multipart \`file\`, at most 50 MB, 10 per entry; stored encrypted)`,
      method: 'post',
      path: '/api/vault/entries/:id/attachments',
      auth: 'user',
      tags: attachmentTags,
      params: ref,
      openapi: {
        requestBody: multipartUploadBody(),
        responses: {
          '201': {
            description: 'The attachment',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    attachment: {
                      type: 'object',
                      properties: { id: { type: 'string' }, name: { type: 'string' }, mimeType: { type: 'string' }, size: { type: 'integer' } },
                    },
                  },
                },
              },
            },
          },
        },
      },
      async raw(req, res, ctx) {
        await parseUpload(req, res).catch((error: unknown) => {
          if (!(error instanceof DomainError)) throw error;
          if (error.code === 'FILE_TOO_LARGE') throw badRequest('UPLOAD_FAILED', 'File too large: max 50 MB');
          if (error.code === 'INVALID_FILE') throw badRequest(INVALID_INPUT, 'File is required');
          throw badRequest('UPLOAD_FAILED', error.message);
        });
        const file = req.file;
        if (!file) throw badRequest(INVALID_INPUT, 'File is required');
        const entryId = String(req.params.id);
        const input = { name: file.originalname, mimeType: file.mimetype, bytes: file.buffer };
        const { attachmentId, position } = await addVaultAttachment(services, entryId, input, ctx.commandMetadata());
        await services.settle(position);
        const doc = await attachments().get(attachmentId);
        if (!doc) throw new Error(`Attachment ${attachmentId} is not in the read model after its upload`);
        res.status(201).json({ attachment: { id: doc.id, name: doc.name, mimeType: doc.mimeType, size: doc.size } });
      },
    }),
    defineRawOperation({
      name: 'vaultAttachment',
      summary: 'Download an attachment, decrypted',
      method: 'get',
      path: '/api/vault/attachments/:id',
      auth: 'user',
      tags: attachmentTags,
      params: ref,
      openapi: { responses: { '200': { description: 'The file, with its MIME type, as an attachment', content: { '*/*': {} } } } },
      async raw(req, res) {
        const doc = await attachments().get(String(req.params.id));
        const bytes = doc ? await readVaultAttachment(services, doc.entryId, doc.blobHash) : null;
        if (!doc || !bytes) throw attachmentNotFound();
        res.setHeader('Content-Type', doc.mimeType);
        res.setHeader('Content-Disposition', `attachment; filename="${encodeURIComponent(doc.name)}"`);
        res.setHeader('Content-Length', String(bytes.length));
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Cache-Control', 'private, no-store');
        res.end(bytes);
      },
    }),
    defineOperation({
      name: 'deleteVaultAttachment',
      summary: 'Delete an attachment and its encrypted bytes',
      method: 'delete',
      path: '/api/vault/attachments/:id',
      auth: 'user',
      tags: attachmentTags,
      params: ref,
      output: success,
      async handler({ params }, ctx) {
        const doc = await attachments().get(params.id);
        if (!doc) throw attachmentNotFound();
        const result = await removeVaultAttachment(services, doc.entryId, doc.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];

  const typeTags = ['Vault types'];
  const typeOperations: Operation[] = [
    defineOperation({
      name: 'vaultTypes',
      summary: 'The entry types: the five built-in ones, then the custom ones',
      method: 'get',
      path: '/api/vault/types',
      auth: 'user',
      tags: typeTags,
      output: z.object({ types: z.array(typeOut) }),
      async handler() {
        return { types: [...builtInTypes, ...(await types().find({}, byCreation)).map(presentType)] };
      },
    }),
    defineOperation({
      name: 'createVaultType',
      summary: 'Define a custom entry type (a built-in slug is reserved)',
      method: 'post',
      path: '/api/vault/types',
      auth: 'user',
      tags: typeTags,
      body: createTypeInput,
      errorCodes: { name: INVALID_INPUT, slug: INVALID_INPUT, icon: INVALID_INPUT, fields: INVALID_INPUT },
      status: 201,
      output: z.object({ type: typeOut.pick({ id: true, slug: true, name: true, fields: true, createdAt: true }) }),
      async handler({ body }, ctx) {
        const fields = { slug: body.slug, name: body.name, icon: body.icon ?? null, fields: body.fields };
        const { typeId, position } = await createVaultType(services, fields, ctx.commandMetadata());
        await services.settle(position);
        const doc = await types().get(typeId);
        if (!doc) throw typeNotFound();
        return { type: { id: doc.id, slug: doc.slug, name: doc.name, fields: doc.fields, createdAt: doc.createdAt } };
      },
    }),
    defineOperation({
      name: 'updateVaultType',
      summary: 'Rename a custom type, change its icon or its fields',
      method: 'patch',
      path: '/api/vault/types/:id',
      auth: 'user',
      tags: typeTags,
      params: ref,
      body: updateTypeInput,
      errorCodes: { name: 'UPDATE_FAILED', icon: 'UPDATE_FAILED', fields: 'UPDATE_FAILED' },
      output: z.object({ type: typeOut }),
      async handler({ params, body }, ctx) {
        const result = await updateVaultType(services, params.id, body, ctx.commandMetadata());
        await services.settle(result.position);
        const doc = await types().get(params.id);
        if (!doc) throw typeNotFound();
        return { type: presentType(doc) };
      },
    }),
    defineOperation({
      name: 'deleteVaultType',
      summary: 'Delete a custom type that no entry uses',
      method: 'delete',
      path: '/api/vault/types/:id',
      auth: 'user',
      tags: typeTags,
      params: ref,
      output: success,
      async handler({ params }, ctx) {
        const result = await deleteVaultType(services, params.id, ctx.commandMetadata());
        await services.settle(result.position);
        return { success: true as const };
      },
    }),
  ];

  return [...secretOperations, ...entryOperations, ...attachmentOperations, ...typeOperations];
}
