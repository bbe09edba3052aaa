import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyStore } from '../../es/keyStore.js';

/**
 * The KeyStore in a SQLite file of its own (`<data>/keys.db`), apart from the event store and the
 * read models, so that rebuilding or wiping those never loses a key. `synchronous = FULL`: a key is
 * irreplaceable, so every commit is fsynced (writes are rare: one per new owner or shred). The file
 * is readable by its owner only (SQLite gives its WAL the same mode).
 */
export function createSqliteKeyStore(path: string): KeyStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  if (path !== ':memory:') chmodSync(path, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS data_keys (owner TEXT PRIMARY KEY, wrapped_key TEXT NOT NULL, created_at TEXT NOT NULL) WITHOUT ROWID');
  const select = db.prepare<[string], { wrapped_key: string }>('SELECT wrapped_key FROM data_keys WHERE owner = ?');
  const insert = db.prepare<[string, string, string]>('INSERT INTO data_keys (owner, wrapped_key, created_at) VALUES (?, ?, ?) ON CONFLICT (owner) DO NOTHING');
  const remove = db.prepare<[string]>('DELETE FROM data_keys WHERE owner = ?');
  // better-sqlite3 is synchronous: the insert and the read of the winner cannot interleave with another call.
  const insertIfAbsent = db.transaction((owner: string, wrappedKey: string) => {
    insert.run(owner, wrappedKey, new Date().toISOString());
    return select.get(owner)!.wrapped_key;
  });

  return {
    async get(owner) {
      return select.get(owner)?.wrapped_key ?? null;
    },
    async insertIfAbsent(owner, wrappedKey) {
      return insertIfAbsent(owner, wrappedKey);
    },
    async delete(owner) {
      return remove.run(owner).changes > 0;
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
