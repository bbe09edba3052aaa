import { MongoClient, MongoServerError } from 'mongodb';
import type { KeyStore } from '../../es/keyStore.js';

type KeyDoc = { _id: string; wrappedKey: string; createdAt: string };

const DUPLICATE_KEY = 11000;

/**
 * The KeyStore in MongoDB: collection `data_keys` of a database of its own (`<db>-keys` beside the
 * read models' `<db>`), so dropping or rebuilding the read models never reaches it and it can be
 * backed up on its own. Writes wait for a journaled majority: a lost key cannot be rebuilt.
 */
export async function createMongoKeyStore(uri: string, dbName?: string): Promise<KeyStore> {
  const client = new MongoClient(uri);
  await client.connect();
  const db = client.db(dbName ?? `${client.db().databaseName}-keys`);
  const keys = db.collection<KeyDoc>('data_keys', { writeConcern: { w: 'majority', journal: true }, readConcern: { level: 'majority' } });

  const get = async (owner: string) => (await keys.findOne({ _id: owner }))?.wrappedKey ?? null;

  return {
    get,
    async insertIfAbsent(owner, wrappedKey) {
      try {
        await keys.updateOne({ _id: owner }, { $setOnInsert: { wrappedKey, createdAt: new Date().toISOString() } }, { upsert: true });
      } catch (error) {
        // Two concurrent upserts of a new _id: one inserts, the other fails; the winner is stored.
        if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
      }
      const stored = await get(owner);
      if (stored === null) throw new Error(`The data key of ${owner} was deleted while it was being created`);
      return stored;
    },
    async delete(owner) {
      return (await keys.deleteOne({ _id: owner })).deletedCount > 0;
    },
    close: () => client.close(),
  };
}
