import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecrets, DATA_KEYS, SecretDecryptionError } from '../../src/lib/secrets.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';
import { signUp, startTestServer } from '../api/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kinbot-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const masterKey = randomBytes(32).toString('hex');
const readStore = createSqliteReadStore(openSqlite(join(dir, 'secrets.db')));
const secrets = createSecrets(readStore, masterKey);

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
    const doc = await readStore.collection(DATA_KEYS).get('provider-wrapped');
    expect(doc).toMatchObject({ id: 'provider-wrapped', wrappedKey: expect.any(String) });
    expect(Buffer.from(String(doc!.wrappedKey), 'base64').length).toBe(12 + 32 + 16);
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
    expect(await readStore.collection(DATA_KEYS).get('provider-5')).toBeNull();
    // A later encryption for the same owner gets a new key: the old ciphertext stays unreadable.
    await secrets.encrypt('provider-5', 'new life');
    await expect(secrets.decrypt('provider-5', sealed)).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('cannot unwrap data keys under another master key', async () => {
    const sealed = await secrets.encrypt('provider-6', 'x');
    const other = createSecrets(readStore, randomBytes(32).toString('hex'));
    await expect(other.decrypt('provider-6', sealed)).rejects.toBeInstanceOf(SecretDecryptionError);
  });

  it('agrees on one data key when first uses race', async () => {
    const sealed = await Promise.all(Array.from({ length: 10 }, (_, i) => secrets.encrypt('provider-race', `v${i}`)));
    const opened = await Promise.all(sealed.map((text) => secrets.decrypt('provider-race', text)));
    expect(opened).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
  });

  it('rejects a master key that is not 32 bytes of hex', () => {
    expect(() => createSecrets(readStore, 'abc')).toThrow(/64 hex/);
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
