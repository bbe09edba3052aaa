import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe } from 'vitest';
import { createEventStoreDbEventStore } from '../../src/stores/eventstoredb/eventStore.js';
import { openSqlite } from '../../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../../src/stores/sqlite/eventStore.js';
import { eventStoreContract } from './eventStoreContract.js';

eventStoreContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinbot-events-'));
  const handle = openSqlite(path.join(dir, 'kinbot.db'));
  return {
    store: createSqliteEventStore(handle),
    cleanup: async () => {
      handle.db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

const connectionString = process.env.EVENTSTORE_CONNECTION_STRING;
if (!connectionString) {
  console.warn('EventStoreDB conformance skipped: EVENTSTORE_CONNECTION_STRING is not set');
}
// Wrapped so that, without a server, every contract test is listed as skipped in the report.
describe.skipIf(!connectionString)('eventstoredb', () => {
  eventStoreContract('eventstoredb', async () => ({
    store: createEventStoreDbEventStore(connectionString ?? ''),
    cleanup: async () => {},
  }));
});
