import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adoptLegacyDataKeys, createSecrets, DATA_KEYS, SecretDecryptionError } from '../../src/lib/secrets.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteKeyStore } from '../../src/stores/sqlite/keyStore.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';
import { signUp, startTestServer } from '../api/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const masterKey = randomBytes(32).toString('hex');
const keyStore = createSqliteKeyStore(join(dir, 'keys.db'));
const secrets = createSecrets(keyStore, masterKey);

/** Flips one bit of the byte at `index` of a base64 ciphertext. */
function flip(ciphertext: string, index: number): string {
  const bytes = Buffer.from(ciphertext, 'base64');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64');
}

describe('secrets', () => {
  it('round-trips a plaintext, with a fresh IV each time', async () => {
    const a = await secrets.encrypt('provider-1', 'sk-live-ünïcode');
    const b = await secrets.encrypt('provider-1', 'sk-live-ünïcode');
    expect(a).not.toBe(b);
    expect(await secrets.decrypt('provider-1', a)).toBe('sk-live-ünïcode');
    expect(await secrets.decrypt('provider-1', b)).toBe('sk-live-ünïcode');
  });

  it('writes base64(IV ‖ ciphertext ‖ tag): 12 + length + 16 bytes', async () => {
    const sealed = await secrets.encrypt('provider-1', 'abcdef');
    expect(Buffer.from(sealed, 'base64').length).toBe(12 + 6 + 16);
  });

  it('stores the data key wrapped, never in the clear', async () => {
    await secrets.encrypt('provider-wrapped', 'x');
    const wrapped = await keyStore.get('provider-wrapped');
    expect(Buffer.from(wrapped!, 'base64').length).toBe(12 + 32 + 16);
  });

  it('detects tampering with the IV, the body or the tag', async () => {
    const sealed = await secrets.encrypt('provider-2', 'the secret');
    const length = Buffer.from(sealed, 'base64').length;
    for (const index of [0, 12, length - 1]) {
      await expect(secrets.decrypt('provider-2', flip(sealed, index))).rejects.toBeInstanceOf(SecretDecryptionError);
    }
    await expect(secrets.decrypt('provider-2', sealed.slice(0, 8))).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('refuses a ciphertext presented for another owner', async () => {
    const sealed = await secrets.encrypt('provider-3', 'mine');
    await secrets.encrypt('provider-4', 'theirs');
    await expect(secrets.decrypt('provider-4', sealed)).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('makes decrypt return null once the owner is shredded, and shredding twice is harmless', async () => {
    const sealed = await secrets.encrypt('provider-5', 'gone soon');
    await secrets.shred('provider-5');
    await secrets.shred('provider-5');
    expect(await secrets.decrypt('provider-5', sealed)).toBeNull();
    expect(await keyStore.get('provider-5')).toBeNull();
    // A later encryption for the same owner gets a new key: the old ciphertext stays unreadable.
    await secrets.encrypt('provider-5', 'new life');
    await expect(secrets.decrypt('provider-5', sealed)).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('cannot unwrap data keys under another master key', async () => {
    const sealed = await secrets.encrypt('provider-6', 'x');
    const other = createSecrets(keyStore, randomBytes(32).toString('hex'));
    await expect(other.decrypt('provider-6', sealed)).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('agrees on one data key when first uses race', async () => {
    const sealed = await Promise.all(Array.from({ length: 10 }, (_, i) => secrets.encrypt('provider-race', `v${i}`)));
    const opened = await Promise.all(sealed.map((text) => secrets.decrypt('provider-race', text)));
    expect(opened).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
  });

  it('round-trips bytes as raw IV ‖ ciphertext ‖ tag, and gives null once shredded', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sealed = await secrets.encryptBytes('vault-bytes', bytes);
    expect(sealed.length).toBe(12 + 256 + 16);
    expect(sealed.includes(bytes.subarray(0, 32))).toBe(false);
    expect(await secrets.decryptBytes('vault-bytes', sealed)).toEqual(bytes);
    await expect(secrets.decryptBytes('vault-other', sealed)).resolves.toBeNull();
    await secrets.encryptBytes('vault-other', Buffer.from('x'));
    await expect(secrets.decryptBytes('vault-other', sealed)).rejects.toBeInstanceOf(SecretDecryptionError);
    await secrets.shred('vault-bytes');
    expect(await secrets.decryptBytes('vault-bytes', sealed)).toBeNull();
  });

  it('rejects a master key that is not 32 bytes of hex', () => {
    expect(() => createSecrets(keyStore, 'abc')).toThrow(/64 hex/);
  });
});

describe('keys kept by older versions in the read store', () => {
  it('are moved into the key store once, and no longer kept in the read store', async () => {
    const readStore = createSqliteReadStore(openSqlite(join(dir, 'legacy.db')));
    const target = createSqliteKeyStore(join(dir, 'legacy-keys.db'));
    const scratch = createSecrets(createSqliteKeyStore(join(dir, 'scratch-keys.db')), masterKey);
    const sealed = await scratch.encrypt('provider-legacy', 'old secret');
    // What an older version wrote: the same wrapped key, in a read-store collection.
    const scratchKeys = createSqliteKeyStore(join(dir, 'scratch-keys.db'));
    await readStore.collection(DATA_KEYS).insert({ id: 'provider-legacy', wrappedKey: (await scratchKeys.get('provider-legacy'))!, createdAt: 'x' });
    expect(await adoptLegacyDataKeys(readStore, target)).toBe(1);
    expect(await readStore.collection(DATA_KEYS).count()).toBe(0);
    expect(await adoptLegacyDataKeys(readStore, target)).toBe(0);
    expect(await createSecrets(target, masterKey).decrypt('provider-legacy', sealed)).toBe('old secret');
    await target.close();
    await scratchKeys.close();
    await readStore.close();
  });
});

describe('secrets in the event log', () => {
  it('never lets a provider key reach the event store or the read models in plaintext', async () => {
    const server = await startTestServer();
    try {
      const { api } = await signUp(server.url);
      const apiKey = `sk-plaintext-canary-${randomBytes(8).toString('hex')}`;
      // Nothing listens there: the provider is saved invalid, which is enough for this test.
      const created = await api.post('/api/providers', { name: 'Canary', type: 'openai', config: { apiKey, baseUrl: 'http://127.0.0.1:9/v1' } });
      expect(created.status).toBe(201);
      await api.patch(`/api/providers/${created.body.provider.id}`, { config: { apiKey: `${apiKey}-2` } });
      const events = await server.services.eventStore.readAll();
      expect(events.some((event) => event.type === 'ProviderCreated')).toBe(true);
      expect(JSON.stringify(events)).not.toContain(apiKey);
      const providers = await server.services.readStore.collection('providers').find({});
      expect(JSON.stringify(providers)).not.toContain(apiKey);
      const listed = await api.get('/api/providers');
      expect(JSON.stringify(listed.body)).not.toContain(apiKey);
      expect(JSON.stringify(listed.body)).not.toContain('configEncrypted');
    } finally {
      await server.cleanup();
    }
  });
});
