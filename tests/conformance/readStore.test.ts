import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { describe, it } from 'vitest';
import { createMongoReadStore } from '../../src/stores/mongodb/readStore.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteReadStore } from '../../src/stores/sqlite/readStore.js';
import { readStoreContract } from './readStoreContract.js';

readStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinbot-readstore-'));
  const handle = openSqlite(join(dir, 'kinbot.db'));
  const store = createSqliteReadStore(handle);
  return {
    store,
    cleanup: async () => {
      await store.close();
      handle.db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const mongoUri = process.env.MONGODB_URI;
if (mongoUri) {
  readStoreContract('mongodb', async () => {
    const dbName = `kinbot_test_${randomUUID().slice(0, 8)}`;
    const store = await createMongoReadStore(mongoUri, dbName);
    return {
      store,
      cleanup: async () => {
        await store.close();
        const client = await new MongoClient(mongoUri).connect();
        await client.db(dbName).dropDatabase();
        await client.close();
      },
    };
  });
} else {
  console.warn('MongoDB conformance skipped: MONGODB_URI is not set');
  describe.skip('ReadStore contract: mongodb (skipped: MONGODB_URI is not set)', () => {
    it('runs the whole contract against MongoDB when MONGODB_URI is set', () => {});
  });
}
