import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { createMongoKeyStore } from '../../src/stores/mongodb/keyStore.js';
import { createSqliteKeyStore } from '../../src/stores/sqlite/keyStore.js';
import { keyStoreContract } from './keyStoreContract.js';

const makeTempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kinbot-keys-'));

keyStoreContract('sqlite', async () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'keys.db');
  const store = createSqliteKeyStore(file);
  return {
    store,
    reopen: async () => createSqliteKeyStore(file),
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite key store', () => {
  it('keeps its file readable by its owner only, in WAL mode with full fsync', async () => {
    const dir = makeTempDir();
    try {
      const store = createSqliteKeyStore(path.join(dir, 'nested', 'keys.db'));
      await store.insertIfAbsent('provider-1', 'wrapped');
      expect(fs.statSync(path.join(dir, 'nested', 'keys.db')).mode & 0o777).toBe(0o600);
      expect(fs.existsSync(path.join(dir, 'nested', 'keys.db-wal'))).toBe(true);
      await store.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const mongoUri = process.env['MONGODB_URI'];
if (mongoUri) {
  keyStoreContract('mongodb', async () => {
    const dbName = `kinbot_test_keys_${randomBytes(6).toString('hex')}`;
    const store = await createMongoKeyStore(mongoUri, dbName);
    return {
      store,
      reopen: () => createMongoKeyStore(mongoUri, dbName),
      cleanup: async () => {
        await store.close();
        const client = await MongoClient.connect(mongoUri);
        await client.db(dbName).dropDatabase();
        await client.close();
      },
    };
  });
} else {
  console.warn('MongoDB key store conformance skipped: MONGODB_URI is not set');
  describe.skip('KeyStore contract: mongodb (skipped: MONGODB_URI is not set)', () => {
    it('runs the whole contract against MongoDB when MONGODB_URI is set', () => {});
  });
}
