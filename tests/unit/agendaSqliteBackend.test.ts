import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Agenda, type JobParameters } from 'agenda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/stores/agenda/sqliteBackend.js';
import { agendaBackendContract } from '../conformance/agendaBackendContract.js';

agendaBackendContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinbot-agenda-'));
  const path = join(dir, 'jobs.db');
  const opened: SqliteBackend[] = [];
  const open = () => {
    const backend = new SqliteBackend({ path });
    opened.push(backend);
    return backend;
  };
  return {
    backend: open(),
    another: open,
    cleanup: async () => {
      for (const backend of opened) await backend.disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const job = (overrides: Partial<JobParameters> = {}): JobParameters => ({ name: 'job', priority: 0, nextRunAt: new Date(), type: 'normal', data: {}, ...overrides });

describe('SQLite agenda backend', () => {
  let dir: string;
  let backend: SqliteBackend;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kinbot-agenda-'));
    backend = new SqliteBackend({ path: join(dir, 'jobs.db') });
    await backend.connect();
  });

  afterEach(async () => {
    await backend.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps its jobs in its own file across a reopen', async () => {
    const saved = await backend.repository.saveJob(job({ name: 'kept', data: { cronId: 'c' }, repeatInterval: '0 9 * * *', repeatTimezone: 'Europe/Paris' }), undefined);
    await backend.disconnect();
    const reopened = new SqliteBackend({ path: join(dir, 'jobs.db') });
    await reopened.connect();
    expect(await reopened.repository.getJobById(String(saved._id))).toMatchObject({
      name: 'kept',
      data: { cronId: 'c' },
      repeatInterval: '0 9 * * *',
      repeatTimezone: 'Europe/Paris',
    });
    await reopened.disconnect();
  });

  it('reconnects after agenda stopped it (agenda disconnects a backend that owns its connection)', async () => {
    const agenda = new Agenda({ backend, processEvery: 100 });
    await agenda.ready;
    await agenda.start();
    await agenda.stop();
    expect(backend.ownsConnection).toBe(true);
    await expect(backend.repository.getDistinctJobNames()).rejects.toThrow(/not connected/);
    await backend.connect();
    expect(await backend.repository.getDistinctJobNames()).toEqual([]);
  });

  it('leaves a database it was given open', async () => {
    const database = new Database(':memory:');
    const given = new SqliteBackend({ database });
    await given.connect();
    await given.repository.saveJob(job(), undefined);
    await given.disconnect();
    expect(given.ownsConnection).toBe(false);
    expect(database.open).toBe(true);
    expect((database.prepare('SELECT COUNT(*) AS n FROM agenda_jobs').get() as { n: number }).n).toBe(1);
    database.close();
  });

  it('does not unlock a running job when it is saved (save leaves out the fields the processor owns)', async () => {
    const repo = backend.repository;
    const saved = await repo.saveJob(job({ nextRunAt: new Date(Date.now() - 1000), data: { cronId: 'c' } }), undefined);
    const locked = await repo.lockJob(saved, undefined);
    const { lockedAt: _l, lastRunAt: _r, ...withoutProcessorFields } = locked!;
    await repo.saveJob({ ...withoutProcessorFields, unique: { 'data.cronId': 'c' }, _id: undefined, data: { cronId: 'c', v: 2 } }, undefined);
    const read = await repo.getJobById(String(saved._id));
    expect(read!.lockedAt).toBeInstanceOf(Date);
    expect(read!.data).toEqual({ cronId: 'c', v: 2 });
  });

  it('refuses operators in a unique() constraint, which only supports equality', async () => {
    await expect(backend.repository.saveJob({ ...job(), unique: { 'data.n': { $gt: 1 } } }, undefined)).rejects.toThrow(/only equality/);
  });

  it('finds the next job with the index on (name, next_run_at)', () => {
    const db = new Database(join(dir, 'jobs.db'));
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN SELECT id FROM agenda_jobs WHERE name = ? AND (disabled IS NULL OR disabled = 0) AND ((locked_at IS NULL AND next_run_at <= ?) OR locked_at <= ?) ORDER BY next_run_at ASC, priority DESC, id LIMIT 1`)
      .all('x', 1, 1) as { detail: string }[];
    db.close();
    expect(plan.map((row) => row.detail).join('\n')).toMatch(/agenda_jobs_next|agenda_jobs_locked/);
  });
});
