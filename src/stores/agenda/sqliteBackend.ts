import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import {
  computeJobState,
  type AgendaBackend,
  type JobParameters,
  type JobRepository,
  type JobRepositoryOptions,
  type JobsOverview,
  type JobsQueryOptions,
  type JobsResult,
  type JobWithState,
  type RemoveJobsOptions,
} from 'agenda';
import {
  clause,
  dataConditions,
  FIELDS,
  fromColumn,
  inList,
  isPlainObject,
  orderBy,
  sameValue,
  SCHEMA,
  selection,
  strings,
  toColumn,
  toJob,
  valueAt,
  type Row,
  type Where,
} from './sqliteJobRows.js';

/**
 * Agenda's job backend on better-sqlite3: the embedded counterpart of @agendajs/mongo-backend,
 * with the same contract (agenda's JobRepository) and the same observable behaviour:
 *
 * - a job is one row; dates are epoch ms, `data`, `repeatInterval` and `skipDays` are JSON;
 * - locking is one atomic statement (`UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING *` in an
 *   IMMEDIATE transaction), so a job locked by one worker (or process) is never handed to another
 *   until it is unlocked or its lock is older than the lock deadline agenda passes in;
 * - the next job is the earliest `nextRunAt`, then the highest priority (Mongo's default sort);
 * - `saveJob` writes the fields the caller gives: agenda's `Job.save()` leaves out the fields the
 *   processor owns (lockedAt, lastRunAt, failCount…), and a row keeps its values for those, so a
 *   save while the job runs does not unlock it;
 * - `single` jobs are upserted by name (an overdue `nextRunAt` is kept), `unique` jobs by their
 *   unique query (equality on field paths, e.g. `data.cronId`), with `insertOnly` and debounce.
 *
 * It has no notification channel (agenda polls, as with MongoDB) and no persistent job logger.
 * It should have a database file of its own: agenda polls and locks all the time, and those
 * writes must not queue behind (or join) the event and read stores' transactions.
 */

export class SqliteJobRepository implements JobRepository {
  private db: Database.Database | null = null;

  constructor(private readonly source: { path: string } | { database: Database.Database }) {}

  /** Opens (or reopens, after a disconnect) the database and creates the table. Idempotent. */
  async connect(): Promise<void> {
    if (this.db?.open) return;
    if ('database' in this.source) {
      this.db = this.source.database;
    } else {
      if (this.source.path !== ':memory:') mkdirSync(dirname(this.source.path), { recursive: true });
      this.db = new Database(this.source.path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Another process on the same file (a second server, a CLI) waits instead of failing.
      this.db.pragma('busy_timeout = 5000');
    }
    this.db.exec(SCHEMA);
  }

  async disconnect(): Promise<void> {
    if ('path' in this.source && this.db?.open) this.db.close();
    this.db = null;
  }

  private get database(): Database.Database {
    if (!this.db?.open) throw new Error('The agenda SQLite backend is not connected');
    return this.db;
  }

  /** Read-then-write sequences take the write lock first, so they are atomic across connections. */
  private write<T>(work: (db: Database.Database) => T): T {
    const db = this.database;
    return db.transaction(() => work(db)).immediate();
  }

  private row(id: string): Row | undefined {
    return this.database.prepare('SELECT * FROM agenda_jobs WHERE id = ?').get(id) as Row | undefined;
  }

  private insert(db: Database.Database, props: Partial<JobParameters>): Row {
    const id = uuidv7();
    const columns = FIELDS.map(([, column]) => column);
    const values = FIELDS.map(([field, , kind]) => toColumn(kind, props[field]));
    db.prepare(`INSERT INTO agenda_jobs (id, ${columns.join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`).run(id, ...values);
    return this.row(id)!;
  }

  /** Sets the fields present in `props` (an own key set to undefined clears the field). */
  private update(db: Database.Database, id: string, props: Partial<JobParameters>): Row {
    const present = FIELDS.filter(([field]) => Object.prototype.hasOwnProperty.call(props, field));
    if (present.length) {
      const assignments = present.map(([, column]) => `${column} = ?`).join(', ');
      db.prepare(`UPDATE agenda_jobs SET ${assignments} WHERE id = ?`).run(...present.map(([field, , kind]) => toColumn(kind, props[field])), id);
    }
    return this.row(id)!;
  }

  async getJobById(id: string): Promise<JobParameters | null> {
    const row = this.row(String(id));
    return row ? toJob(row) : null;
  }

  async queryJobs(options: JobsQueryOptions = {}): Promise<JobsResult> {
    const { name, names, state, id, ids, search, data, includeDisabled = true, sort, skip = 0, limit = 0 } = options;
    const where: Where = { sql: [], params: [] };
    if (typeof search === 'string' && search.length > 0) {
      // As in the Mongo backend, a search replaces the name filter.
      where.sql.push(`name LIKE ? ESCAPE '\\'`);
      where.params.push(`%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    } else if (typeof name === 'string' && name) {
      inList('name', [name], where);
    } else if (strings(names).length) {
      inList('name', strings(names), where);
    }
    if (typeof id === 'string' && id) inList('id', [id], where);
    else if (strings(ids).length) inList('id', strings(ids), where);
    dataConditions(data, where);
    if (!includeDisabled) where.sql.push('(disabled IS NULL OR disabled = 0)');
    const now = new Date();
    const withState = (row: Row): JobWithState => {
      const job = toJob(row);
      return { ...job, state: computeJobState(job, now) };
    };
    const select = `SELECT * FROM agenda_jobs ${clause(where)} ${orderBy(sort)}`;
    if (!state) {
      // The state is computed from the row, so without a state filter the page is the database's.
      const page = limit > 0 || skip > 0 ? `${select} LIMIT ? OFFSET ?` : select;
      const pageParams = limit > 0 || skip > 0 ? [...where.params, limit > 0 ? limit : -1, skip] : where.params;
      const rows = this.database.prepare(page).all(...pageParams) as Row[];
      const { total } = this.database.prepare(`SELECT COUNT(*) AS total FROM agenda_jobs ${clause(where)}`).get(...where.params) as { total: number };
      return { jobs: rows.map(withState), total };
    }
    const matching = (this.database.prepare(select).all(...where.params) as Row[])
      .map(withState)
      .filter((job) => (state === 'paused' ? job.disabled === true : job.state === state));
    const end = limit > 0 ? skip + limit : undefined;
    return { jobs: matching.slice(skip, end), total: matching.length };
  }

  async getJobsOverview(): Promise<JobsOverview[]> {
    const now = new Date();
    const overviews = new Map<string, JobsOverview>();
    for (const row of this.database.prepare('SELECT * FROM agenda_jobs ORDER BY name').all() as Row[]) {
      const job = toJob(row);
      const overview = overviews.get(job.name) ?? {
        name: job.name,
        total: 0,
        running: 0,
        scheduled: 0,
        queued: 0,
        completed: 0,
        failed: 0,
        repeating: 0,
        paused: 0,
      };
      overview.total++;
      overview[computeJobState(job, now)]++;
      if (job.disabled === true) overview.paused++;
      overviews.set(job.name, overview);
    }
    return [...overviews.values()];
  }

  async getDistinctJobNames(): Promise<string[]> {
    return (this.database.prepare('SELECT DISTINCT name FROM agenda_jobs ORDER BY name').all() as { name: string }[]).map((row) => row.name);
  }

  async getQueueSize(): Promise<number> {
    const { size } = this.database.prepare('SELECT COUNT(*) AS size FROM agenda_jobs WHERE next_run_at < ?').get(Date.now()) as { size: number };
    return size;
  }

  async removeJobs(options: RemoveJobsOptions): Promise<number> {
    const where = selection(options);
    if (!where) return 0;
    return this.database.prepare(`DELETE FROM agenda_jobs ${clause(where)}`).run(...where.params).changes;
  }

  /** Counts the jobs that changed (Mongo's modifiedCount): disabling a disabled job counts 0. */
  async disableJobs(options: RemoveJobsOptions): Promise<number> {
    const where = selection(options);
    if (!where) return 0;
    where.sql.push('disabled IS NOT 1');
    return this.database.prepare(`UPDATE agenda_jobs SET disabled = 1 ${clause(where)}`).run(...where.params).changes;
  }

  async enableJobs(options: RemoveJobsOptions): Promise<number> {
    const where = selection(options);
    if (!where) return 0;
    where.sql.push('disabled IS NOT 0');
    return this.database.prepare(`UPDATE agenda_jobs SET disabled = 0 ${clause(where)}`).run(...where.params).changes;
  }

  async purgeAllJobs(): Promise<number> {
    return this.database.prepare('DELETE FROM agenda_jobs').run().changes;
  }

  async saveJob<DATA = unknown>(job: JobParameters<DATA>, options: JobRepositoryOptions | undefined): Promise<JobParameters<DATA>> {
    const { _id, unique, uniqueOpts, ...fields } = job;
    const props: Partial<JobParameters> = { ...(fields as Partial<JobParameters>), lastModifiedBy: options?.lastModifiedBy };
    const saved = this.write((db): Row | null => {
      const now = Date.now();
      if (_id) {
        const existing = db.prepare('SELECT id FROM agenda_jobs WHERE id = ? AND name = ?').get(String(_id), props.name) as { id: string } | undefined;
        // A job removed meanwhile is not brought back; the caller gets its own data.
        return existing ? this.update(db, existing.id, props) : null;
      }
      if (props.type === 'single') {
        const existing = db.prepare(`SELECT id FROM agenda_jobs WHERE name = ? AND type = 'single' LIMIT 1`).get(props.name) as { id: string } | undefined;
        if (!existing) return this.insert(db, props);
        // An overdue run of a `single` job is kept rather than moved (Mongo's $setOnInsert).
        const overdue = props.nextRunAt && new Date(props.nextRunAt).getTime() <= now;
        const { nextRunAt: _kept, ...rest } = props;
        return this.update(db, existing.id, overdue ? rest : props);
      }
      if (unique) return this.saveUnique(db, props, unique, uniqueOpts, now);
      return this.insert(db, props);
    });
    return (saved ? toJob(saved) : job) as JobParameters<DATA>;
  }

  private saveUnique(
    db: Database.Database,
    props: Partial<JobParameters>,
    unique: Record<string, unknown>,
    uniqueOpts: JobParameters['uniqueOpts'],
    now: number,
  ): Row {
    for (const [path, expected] of Object.entries(unique)) {
      if (isPlainObject(expected) && Object.keys(expected).some((key) => key.startsWith('$'))) {
        throw new Error(`Unsupported operator in a unique() constraint on ${path}: only equality is supported`);
      }
    }
    const candidates = db.prepare('SELECT * FROM agenda_jobs WHERE name = ? ORDER BY id').all(props.name) as Row[];
    const existing = candidates.find((row) => {
      const job = toJob(row);
      return Object.entries(unique).every(([path, expected]) => sameValue(valueAt(job, path), expected));
    });
    const debounce = uniqueOpts?.debounce;
    if (!debounce) {
      if (!existing) return this.insert(db, props);
      return uniqueOpts?.insertOnly ? existing : this.update(db, existing.id, props);
    }
    if (!existing) {
      // A new job opens a debounce window: at once (leading) or after the delay (trailing).
      const trailing = debounce.strategy !== 'leading';
      const nextRunAt = trailing ? new Date(now + debounce.delay) : props.nextRunAt;
      return this.insert(db, { ...props, nextRunAt: nextRunAt ?? null, debounceStartedAt: new Date(now) });
    }
    const startedAt = existing.debounce_started_at ?? now;
    if (debounce.strategy === 'leading') {
      // The job keeps its original run time; only its data changes.
      const nextRunAt = existing.next_run_at === null ? null : new Date(existing.next_run_at);
      return this.update(db, existing.id, { ...props, nextRunAt, debounceStartedAt: new Date(startedAt) });
    }
    const waitedTooLong = debounce.maxWait !== undefined && now - startedAt >= debounce.maxWait;
    return this.update(db, existing.id, {
      ...props,
      nextRunAt: new Date(waitedTooLong ? now : now + debounce.delay),
      debounceStartedAt: waitedTooLong ? undefined : new Date(startedAt),
    });
  }

  async saveJobState(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<void> {
    if (!job._id) throw new Error('Cannot save job state without job ID');
    const result = this.database
      .prepare(
        `UPDATE agenda_jobs SET locked_at = ?, next_run_at = ?, last_run_at = ?, progress = ?, fail_reason = ?, fail_count = ?,
           failed_at = ?, last_finished_at = ?, last_modified_by = ? WHERE id = ? AND name = ?`,
      )
      .run(
        toColumn('date', job.lockedAt),
        toColumn('date', job.nextRunAt),
        toColumn('date', job.lastRunAt),
        toColumn('number', job.progress),
        toColumn('text', job.failReason),
        toColumn('number', job.failCount),
        toColumn('date', job.failedAt),
        toColumn('date', job.lastFinishedAt),
        toColumn('text', options?.lastModifiedBy),
        String(job._id),
        job.name,
      );
    if (result.changes !== 1) {
      throw new Error(`job ${String(job._id)} (name: ${job.name}) cannot be updated in the database, maybe it does not exist anymore?`);
    }
  }

  /** Locks this job if it is still unlocked, enabled and due when the caller saw it. */
  async lockJob(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<JobParameters | undefined> {
    if (!job._id) return undefined;
    const row = this.write(
      (db) =>
        db
          .prepare(
            `UPDATE agenda_jobs SET locked_at = ?, last_modified_by = ?
             WHERE id = ? AND name = ? AND locked_at IS NULL AND next_run_at IS ? AND (disabled IS NULL OR disabled = 0)
             RETURNING *`,
          )
          .get(Date.now(), toColumn('text', options?.lastModifiedBy), String(job._id), job.name, toColumn('date', job.nextRunAt)) as Row | undefined,
    );
    return row ? toJob(row) : undefined;
  }

  /** Unlocks a job unless it is a one-time job that has started (its nextRunAt is null). */
  async unlockJob(job: JobParameters): Promise<void> {
    if (!job._id) return;
    this.database.prepare('UPDATE agenda_jobs SET locked_at = NULL WHERE id = ? AND next_run_at IS NOT NULL').run(String(job._id));
  }

  async unlockJobs(jobIds: readonly unknown[]): Promise<void> {
    if (jobIds.length === 0) return;
    const where: Where = { sql: [], params: [] };
    inList('id', jobIds, where);
    this.database.prepare(`UPDATE agenda_jobs SET locked_at = NULL ${clause(where)}`).run(...where.params);
  }

  /**
   * Finds and locks, in one statement, the next job of this name to run: unlocked and due before
   * the next scan, or locked before `lockDeadline` (its worker is presumed dead).
   */
  async getNextJobToRun(
    jobName: string,
    nextScanAt: Date,
    lockDeadline: Date,
    now: Date | undefined,
    options: JobRepositoryOptions | undefined,
  ): Promise<JobParameters | undefined> {
    const row = this.write(
      (db) =>
        db
          .prepare(
            `UPDATE agenda_jobs SET locked_at = ?, last_modified_by = ?
             WHERE id = (
               SELECT id FROM agenda_jobs
               WHERE name = ? AND (disabled IS NULL OR disabled = 0)
                 AND ((locked_at IS NULL AND next_run_at <= ?) OR locked_at <= ?)
               ORDER BY next_run_at ASC, priority DESC, id
               LIMIT 1)
             RETURNING *`,
          )
          .get(
            (now ?? new Date()).getTime(),
            toColumn('text', options?.lastModifiedBy),
            jobName,
            nextScanAt.getTime(),
            lockDeadline.getTime(),
          ) as Row | undefined,
    );
    return row ? toJob(row) : undefined;
  }
}

export type SqliteBackendOptions = { path: string } | { database: Database.Database };

/** The embedded agenda backend: `new Agenda({ backend: new SqliteBackend({ path }) })`. */
export class SqliteBackend implements AgendaBackend {
  readonly name = 'SQLite';
  readonly repository: SqliteJobRepository;
  readonly notificationChannel = undefined;
  readonly logger = undefined;
  /** A backend opened from a path closes its database when agenda stops; a given database is the caller's. */
  readonly ownsConnection: boolean;

  constructor(options: SqliteBackendOptions) {
    this.repository = new SqliteJobRepository(options);
    this.ownsConnection = 'path' in options;
  }

  connect(): Promise<void> {
    return this.repository.connect();
  }

  disconnect(): Promise<void> {
    return this.repository.disconnect();
  }
}
