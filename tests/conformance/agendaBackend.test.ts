import { randomUUID } from 'node:crypto';
import { MongoBackend } from '@agendajs/mongo-backend';
import { MongoClient } from 'mongodb';
import { describe, it } from 'vitest';
import { agendaBackendContract } from './agendaBackendContract.js';

// The SQLite backend runs this contract in tests/unit/agendaSqliteBackend.test.ts.
const mongoUri = process.env.MONGODB_URI;
if (mongoUri) {
  agendaBackendContract('mongodb', async () => {
    const collection = `agenda_test_${randomUUID().slice(0, 8)}`;
    const opened: MongoBackend[] = [];
    const open = () => {
      const backend = new MongoBackend({ address: mongoUri, collection });
      opened.push(backend);
      return backend;
    };
    return {
      backend: open(),
      another: open,
      cleanup: async () => {
        for (const backend of opened) await backend.disconnect();
        const client = await new MongoClient(mongoUri).connect();
        await client.db().collection(collection).drop().catch(() => {});
        await client.close();
      },
    };
  });
} else {
  describe('agenda backend contract: mongodb', () => {
    it.skip('runs when MONGODB_URI is set', () => {});
  });
}
