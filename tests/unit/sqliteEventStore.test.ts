import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/es/eventStore.js';
import { openSqlite, type SqliteHandle } from '../../src/stores/sqlite/database.js';
import { createSqliteEventStore } from '../../src/stores/sqlite/eventStore.js';

const event = (type: string, data: unknown = {}): NewEvent => ({
  type,
  data,
  metadata: {
    actor: { kind: 'system', id: 'test' },
    correlationId: randomUUID(),
    causationId: randomUUID(),
    occurredAt: new Date().toISOString(),
    schemaVersion: 1,
  },
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('Timed out');
    await sleep(5);
  }
}

describe('SQLite event store', () => {
  const dirs: string[] = [];
  const handles: SqliteHandle[] = [];
  const stores: EventStore[] = [];

  function open(file?: string) {
    const dbPath = file ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kinbot-sqlite-es-')), 'kinbot.db');
    dirs.push(path.dirname(dbPath));
    const handle = openSqlite(dbPath);
    const store = createSqliteEventStore(handle);
    handles.push(handle);
    stores.push(store);
    return { handle, store, dbPath };
  }

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const handle of handles.splice(0)) if (handle.db.open) handle.db.close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('numbers positions from 1 and reports -1 as the head of an empty store', async () => {
    const { store } = open();
    expect(await store.headPosition()).toBe(-1);
    const result = await store.append('kin-1', [event('KinCreated'), event('KinRenamed')], 'no_stream');
    expect(result).toEqual({ nextRevision: 1, position: 2 });
    expect(await store.headPosition()).toBe(2);
  });

  it('keeps the events after the file is closed and opened again', async () => {
    const first = open();
    await first.store.append('kin-1', [event('KinCreated', { name: 'Ada' })], 'no_stream');
    await first.store.setStreamMetadata('kin-1', { maxAge: 60 });
    await first.store.close();
    first.handle.db.close();

    const { store } = open(first.dbPath);
    const [read] = await store.readStream('kin-1');
    expect(read).toMatchObject({ type: 'KinCreated', data: { name: 'Ada' }, revision: 0, position: 1 });
    expect(await store.getStreamMetadata('kin-1')).toEqual({ maxAge: 60 });
    expect((await store.append('kin-1', [event('KinRenamed')], 0)).nextRevision).toBe(1);
  });

  it('rolls back the whole batch when one of its events cannot be stored', async () => {
    const { store } = open();
    const id = randomUUID();
    await store.append('kin-1', [{ ...event('KinCreated'), id }], 'no_stream');
    await expect(store.append('kin-1', [event('A'), event('B'), { ...event('C'), id }], 0)).rejects.toThrow();
    expect((await store.readStream('kin-1')).map((e) => e.type)).toEqual(['KinCreated']);
    expect(await store.headPosition()).toBe(1);
  });

  it('lets a second instance on the same file (another process) see appends by polling', async () => {
    const writer = open();
    const reader = open(writer.dbPath);
    const received: RecordedEvent[] = [];
    const subscription = reader.store.subscribeToAll({}, (e) => {
      received.push(e);
    });
    await writer.store.append('kin-1', [event('KinCreated')], 'no_stream');
    await waitUntil(() => received.length === 1, 2000);
    await writer.store.append('kin-1', [event('KinRenamed')], 0);
    await waitUntil(() => received.length === 2, 2000);
    await subscription.stop();
    expect(received.map((e) => e.revision)).toEqual([0, 1]);
  });

  it('checks the expected revision against appends made through another connection', async () => {
    const first = open();
    const second = open(first.dbPath);
    await first.store.append('kin-1', [event('KinCreated')], 'no_stream');
    const outcomes = await Promise.allSettled([
      first.store.append('kin-1', [event('FromFirst')], 0),
      second.store.append('kin-1', [event('FromSecond')], 0),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(await second.store.readStream('kin-1')).toHaveLength(2);
  });

  it('wakes in-process subscribers on append, well before the poll interval', async () => {
    const { store } = open();
    const received: RecordedEvent[] = [];
    const subscription = store.subscribeToAll({}, (e) => {
      received.push(e);
    });
    const delays: number[] = [];
    for (let revision = -1; revision < 19; revision++) {
      const started = performance.now();
      await store.append('kin-1', [event('Ticked')], revision < 0 ? 'no_stream' : revision);
      await waitUntil(() => received.length === revision + 2);
      delays.push(performance.now() - started);
      // Lands the next append at various points of the subscriber's read/wait cycle.
      await sleep(revision % 3);
    }
    await subscription.stop();
    expect(Math.max(...delays)).toBeLessThan(200);
  });

  it('commits appends made together in one transaction, with consecutive positions in call order', async () => {
    const { store, dbPath } = open();
    await store.append('warm-up', [event('Started')], 'no_stream');
    const walSize = () => fs.statSync(`${dbPath}-wal`).size;

    const beforeGroup = walSize();
    const grouped = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.append(`grouped-${i}`, [event('Happened')], 'no_stream')),
    );
    const groupGrowth = walSize() - beforeGroup;
    expect(grouped.map((r) => r.position)).toEqual(grouped.map((_, i) => grouped[0]!.position + i));

    const beforeOneByOne = walSize();
    for (let i = 0; i < 20; i++) await store.append(`alone-${i}`, [event('Happened')], 'no_stream');
    // Every commit writes its changed pages to the WAL again: 20 commits write far more than one.
    expect(groupGrowth * 5).toBeLessThan(walSize() - beforeOneByOne);
  });

  it('keeps each append of a group to itself: a refused or failing one leaves the others stored', async () => {
    const { store } = open();
    const id = randomUUID();
    await store.append('kin-1', [{ ...event('KinCreated'), id }], 'no_stream');
    const [refused, stored, failing, alsoStored] = await Promise.allSettled([
      store.append('kin-1', [event('Stale')], 5),
      store.append('kin-2', [event('KinCreated')], 'no_stream'),
      store.append('kin-1', [event('A'), event('B'), { ...event('Duplicate'), id }], 0),
      store.append('kin-3', [event('KinCreated'), event('KinRenamed')], 'no_stream'),
    ]);
    expect(refused).toMatchObject({ status: 'rejected', reason: { code: 'WRONG_EXPECTED_REVISION', actual: 0 } });
    expect(failing.status).toBe('rejected');
    expect(stored).toEqual({ status: 'fulfilled', value: { nextRevision: 0, position: 2 } });
    expect(alsoStored).toEqual({ status: 'fulfilled', value: { nextRevision: 1, position: 4 } });
    expect((await store.readStream('kin-1')).map((e) => e.type)).toEqual(['KinCreated']);
    expect((await store.readAll()).map((e) => e.position)).toEqual([1, 2, 3, 4]);
  });

  it('commits the appends still queued before a delete made after them, and on close', async () => {
    const { handle, store } = open();
    const appended = store.append('kin-1', [event('KinCreated')], 'no_stream');
    await store.deleteStream('kin-1', 0);
    await appended;
    expect(await store.streamVersion('kin-1')).toEqual({ revision: -1, truncated: true });

    const late = store.append('kin-2', [event('KinCreated')], 'no_stream');
    await store.close();
    await expect(late).resolves.toEqual({ nextRevision: 0, position: 2 });
    expect(handle.db.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: 2 });
  });

  it('does not read rows of a transaction that holds the write lock', async () => {
    const { handle, store } = open();
    await store.append('kin-1', [event('KinCreated')], 'no_stream');
    let release!: () => void;
    const held = handle.writeLock.run(async () => {
      handle.db.exec('BEGIN');
      handle.db
        .prepare(
          `INSERT INTO events (id, stream, revision, type, data, metadata, recorded_at)
           VALUES (?, 'kin-2', 0, 'Uncommitted', '{}', '{}', ?)`,
        )
        .run(randomUUID(), new Date().toISOString());
      await new Promise<void>((resolve) => (release = resolve));
      handle.db.exec('ROLLBACK');
    });
    await sleep(5);
    const reading = store.readAll();
    release();
    await held;
    expect((await reading).map((e) => e.type)).toEqual(['KinCreated']);
  });
});
