import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyStore } from '../es/keyStore.js';
import type { Doc, ReadStore } from '../es/readStore.js';

/**
 * Envelope encryption with crypto-shredding. Each owner (`provider-<id>`, `vault-<entryId>`, …)
 * has its own random data key, stored wrapped under the master key (ENCRYPTION_KEY) in the
 * KeyStore (src/es/keyStore.ts). Events carry only ciphertext; deleting the owner's data key makes
 * every ciphertext it ever wrote unreadable, which is how a "delete" is honoured in a log that is
 * never rewritten.
 *
 * Format of every ciphertext: IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes), AES-256-GCM —
 * base64 for text, raw for bytes. The owner is the additional authenticated data, so a ciphertext
 * moved to another owner fails.
 */
export type Secrets = {
  encrypt(owner: string, plaintext: string): Promise<string>;
  /** null when the owner's key was shredded (or never existed); throws when the ciphertext was tampered with. */
  decrypt(owner: string, ciphertext: string): Promise<string | null>;
  /** The same, for bytes (file contents): raw IV ‖ ciphertext ‖ tag, no base64. */
  encryptBytes(owner: string, plaintext: Buffer): Promise<Buffer>;
  decryptBytes(owner: string, ciphertext: Buffer): Promise<Buffer | null>;
  /** Destroys the owner's data key. Idempotent. */
  shred(owner: string): Promise<void>;
};

/** Where older data dirs kept the wrapped keys: a read-store collection (see adoptLegacyDataKeys). */
export const DATA_KEYS = 'data_keys';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export class SecretDecryptionError extends Error {
  constructor(owner: string) {
    super(`Ciphertext for ${owner} failed authentication (tampered, truncated or encrypted for another owner)`);
    this.name = 'SecretDecryptionError';
  }
}

function sealBytes(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** Throws SecretDecryptionError when the bytes are not what `sealBytes` produced with this key and aad. */
function openBytes(key: Buffer, bytes: Buffer, aad: string, owner: string): Buffer {
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new SecretDecryptionError(owner);
  const iv = bytes.subarray(0, IV_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new SecretDecryptionError(owner);
  }
}

export const seal = (key: Buffer, plaintext: Buffer, aad: string): string => sealBytes(key, plaintext, aad).toString('base64');

export const open = (key: Buffer, sealed: string, aad: string, owner: string): Buffer => openBytes(key, Buffer.from(sealed, 'base64'), aad, owner);

export function createSecrets(keyStore: KeyStore, masterKeyHex: string): Secrets {
  if (!/^[0-9a-fA-F]{64}$/.test(masterKeyHex)) throw new Error('The encryption key must be 64 hex characters (32 bytes)');
  const masterKey = Buffer.from(masterKeyHex, 'hex');
  const wrapAad = (owner: string) => `data-key:${owner}`;
  const unwrap = (owner: string, wrapped: string) => open(masterKey, wrapped, wrapAad(owner), owner);

  /** The owner's key, created on first use; two concurrent first uses agree on one key. */
  async function dataKeyFor(owner: string): Promise<Buffer> {
    const existing = await keyStore.get(owner);
    if (existing) return unwrap(owner, existing);
    const stored = await keyStore.insertIfAbsent(owner, seal(masterKey, randomBytes(KEY_BYTES), wrapAad(owner)));
    return unwrap(owner, stored);
  }

  /** null when the owner has no key (any more). */
  async function existingKey(owner: string): Promise<Buffer | null> {
    const wrapped = await keyStore.get(owner);
    return wrapped ? unwrap(owner, wrapped) : null;
  }

  return {
    async encrypt(owner, plaintext) {
      return seal(await dataKeyFor(owner), Buffer.from(plaintext, 'utf8'), owner);
    },
    async decrypt(owner, ciphertext) {
      const key = await existingKey(owner);
      return key ? open(key, ciphertext, owner, owner).toString('utf8') : null;
    },
    async encryptBytes(owner, plaintext) {
      return sealBytes(await dataKeyFor(owner), plaintext, owner);
    },
    async decryptBytes(owner, ciphertext) {
      const key = await existingKey(owner);
      return key ? openBytes(key, ciphertext, owner, owner) : null;
    },
    async shred(owner) {
      await keyStore.delete(owner);
    },
  };
}

type LegacyDataKeyDoc = Doc & { id: string; wrappedKey: string };

/**
 * Older data dirs kept the wrapped keys in the read store's `data_keys` collection. Copies them
 * into the key store, then drops the collection: left there, a key shredded later would survive
 * in the read store. Runs at every start; after the first it finds nothing to copy.
 */
export async function adoptLegacyDataKeys(readStore: ReadStore, keyStore: KeyStore): Promise<number> {
  const legacy = await readStore.collection<LegacyDataKeyDoc>(DATA_KEYS).find({});
  if (legacy.length === 0) return 0;
  for (const doc of legacy) await keyStore.insertIfAbsent(doc.id, doc.wrappedKey);
  await readStore.dropCollection(DATA_KEYS);
  return legacy.length;
}
