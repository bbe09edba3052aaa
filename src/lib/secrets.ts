import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DuplicateKeyError, type Doc, type ReadStore } from '../es/readStore.js';

/**
 * Envelope encryption with crypto-shredding. Each owner (`provider-<id>`, …) has its own random
 * data key, stored wrapped under the master key in the `data_keys` collection. Events carry only
 * ciphertext; deleting the owner's data key makes every ciphertext it ever wrote unreadable, which
 * is how a "delete" is honoured in a log that is never rewritten.
 *
 * `data_keys` is infrastructure, not a projection: it is not rebuilt from events (it cannot be —
 * the keys are not in the log) and no projection owns or drops it.
 *
 * Format of every ciphertext: base64(IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes)), AES-256-GCM.
 * The owner is the additional authenticated data, so a ciphertext moved to another owner fails.
 */
export type Secrets = {
  encrypt(owner: string, plaintext: string): Promise<string>;
  /** null when the owner's key was shredded (or never existed); throws when the ciphertext was tampered with. */
  decrypt(owner: string, ciphertext: string): Promise<string | null>;
  /** Destroys the owner's data key. Idempotent. */
  shred(owner: string): Promise<void>;
};

export const DATA_KEYS = 'data_keys';

type DataKeyDoc = Doc & { id: string; wrappedKey: string; createdAt: string };

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export class SecretDecryptionError extends Error {
  constructor(owner: string) {
    super(`Ciphertext for ${owner} failed authentication (tampered, truncated or encrypted for another owner)`);
    this.name = 'SecretDecryptionError';
  }
}

export function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
}

/** Throws SecretDecryptionError when the text is not what `seal` produced with this key and aad. */
export function open(key: Buffer, sealed: string, aad: string, owner: string): Buffer {
  const bytes = Buffer.from(sealed, 'base64');
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

export function createSecrets(readStore: ReadStore, masterKeyHex: string): Secrets {
  if (!/^[0-9a-fA-F]{64}$/.test(masterKeyHex)) throw new Error('The encryption key must be 64 hex characters (32 bytes)');
  const masterKey = Buffer.from(masterKeyHex, 'hex');
  const keys = () => readStore.collection<DataKeyDoc>(DATA_KEYS);
  const wrapAad = (owner: string) => `data-key:${owner}`;

  const unwrap = (doc: DataKeyDoc) => open(masterKey, doc.wrappedKey, wrapAad(doc.id), doc.id);

  /** The owner's key, created on first use; two concurrent first uses agree on one key. */
  async function dataKeyFor(owner: string): Promise<Buffer> {
    const existing = await keys().get(owner);
    if (existing) return unwrap(existing);
    const key = randomBytes(KEY_BYTES);
    try {
      await keys().insert({ id: owner, wrappedKey: seal(masterKey, key, wrapAad(owner)), createdAt: new Date().toISOString() });
      return key;
    } catch (error) {
      if (!(error instanceof DuplicateKeyError)) throw error;
      const winner = await keys().get(owner);
      if (!winner) throw error;
      return unwrap(winner);
    }
  }

  return {
    async encrypt(owner, plaintext) {
      return seal(await dataKeyFor(owner), Buffer.from(plaintext, 'utf8'), owner);
    },
    async decrypt(owner, ciphertext) {
      const doc = await keys().get(owner);
      if (!doc) return null;
      return open(unwrap(doc), ciphertext, owner, owner).toString('utf8');
    },
    async shred(owner) {
      await keys().delete({ id: owner });
    },
  };
}
