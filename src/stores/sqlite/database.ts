import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Mutex } from '../../lib/mutex.js';

/**
 * One SQLite connection shared by the event store and the read store (one database file, as
 * ARCHITECTURE.md asks). better-sqlite3 is synchronous, but the ports are async: a read-store
 * transaction may await between statements, and any statement issued on the same connection in
 * the meantime would silently join that transaction. So every write (appends, read-model writes,
 * transactions) runs under `writeLock`, and reads wait while a transaction holds it.
 */
export type SqliteHandle = {
  db: Database.Database;
  writeLock: Mutex;
  /** Path of the database file, or ':memory:'. */
  path: string;
};

export function openSqlite(path: string): SqliteHandle {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash or power
  // loss can drop the last transactions. FULL would fsync every commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return { db, writeLock: new Mutex(), path };
}
