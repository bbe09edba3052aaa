import { toJobId, type JobParameters, type JobsSort, type RemoveJobsOptions } from 'agenda';

/**
 * How the SQLite agenda backend (./sqliteBackend.ts) stores a job: its table, the mapping between a
 * row and agenda's JobParameters, and the SQL conditions of agenda's selections (names, ids, a
 * partial match on `data`, sorts).
 */

export type Row = {
  id: string;
  name: string;
  priority: number;
  type: string;
  next_run_at: number | null;
  locked_at: number | null;
  last_run_at: number | null;
  last_finished_at: number | null;
  failed_at: number | null;
  fail_count: number | null;
  fail_reason: string | null;
  repeat_interval: string | null;
  repeat_timezone: string | null;
  repeat_at: string | null;
  data: string | null;
  disabled: number | null;
  progress: number | null;
  last_modified_by: string | null;
  fork: number | null;
  debounce_started_at: number | null;
  start_date: number | null;
  end_date: number | null;
  skip_days: string | null;
};

export type Kind = 'text' | 'number' | 'date' | 'json' | 'bool';
type Field = keyof Omit<JobParameters, '_id' | 'unique' | 'uniqueOpts'>;

/** Every persisted field of a job, its column and how it is stored. */
export const FIELDS: readonly (readonly [Field, keyof Row, Kind])[] = [
  ['name', 'name', 'text'],
  ['priority', 'priority', 'number'],
  ['type', 'type', 'text'],
  ['nextRunAt', 'next_run_at', 'date'],
  ['lockedAt', 'locked_at', 'date'],
  ['lastRunAt', 'last_run_at', 'date'],
  ['lastFinishedAt', 'last_finished_at', 'date'],
  ['failedAt', 'failed_at', 'date'],
  ['failCount', 'fail_count', 'number'],
  ['failReason', 'fail_reason', 'text'],
  ['repeatInterval', 'repeat_interval', 'json'],
  ['repeatTimezone', 'repeat_timezone', 'text'],
  ['repeatAt', 'repeat_at', 'text'],
  ['data', 'data', 'json'],
  ['disabled', 'disabled', 'bool'],
  ['progress', 'progress', 'number'],
  ['lastModifiedBy', 'last_modified_by', 'text'],
  ['fork', 'fork', 'bool'],
  ['debounceStartedAt', 'debounce_started_at', 'date'],
  ['startDate', 'start_date', 'date'],
  ['endDate', 'end_date', 'date'],
  ['skipDays', 'skip_days', 'json'],
];

export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS agenda_jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    type TEXT NOT NULL DEFAULT 'normal',
    next_run_at INTEGER,
    locked_at INTEGER,
    last_run_at INTEGER,
    last_finished_at INTEGER,
    failed_at INTEGER,
    fail_count INTEGER,
    fail_reason TEXT,
    repeat_interval TEXT,
    repeat_timezone TEXT,
    repeat_at TEXT,
    data TEXT,
    disabled INTEGER,
    progress REAL,
    last_modified_by TEXT,
    fork INTEGER,
    debounce_started_at INTEGER,
    start_date INTEGER,
    end_date INTEGER,
    skip_days TEXT
  );
  CREATE INDEX IF NOT EXISTS agenda_jobs_next ON agenda_jobs (name, next_run_at, priority DESC);
  CREATE INDEX IF NOT EXISTS agenda_jobs_locked ON agenda_jobs (name, locked_at);
  CREATE INDEX IF NOT EXISTS agenda_jobs_single ON agenda_jobs (name, type);
`;

type SqlValue = string | number | null;

export function toColumn(kind: Kind, value: unknown): SqlValue {
  if (value === undefined || value === null) return kind === 'json' ? 'null' : null;
  switch (kind) {
    case 'date':
      return new Date(value as Date | string | number).getTime();
    case 'json':
      return JSON.stringify(value);
    case 'bool':
      return value ? 1 : 0;
    case 'number':
      return Number(value);
    case 'text':
      return String(value);
  }
}

export function fromColumn(kind: Kind, value: SqlValue): unknown {
  if (value === null) return undefined;
  switch (kind) {
    case 'date':
      return new Date(value as number);
    case 'json':
      return JSON.parse(value as string);
    case 'bool':
      return value === 1;
    default:
      return value;
  }
}

/** A row as agenda sees a job: absent values are `undefined`, except `nextRunAt` and `data` (null). */
export function toJob(row: Row): JobParameters & { _id: NonNullable<JobParameters['_id']> } {
  const job: Record<string, unknown> = { _id: toJobId(row.id) };
  for (const [field, column, kind] of FIELDS) job[field] = fromColumn(kind, row[column]);
  job.nextRunAt ??= null;
  job.data ??= null;
  return job as unknown as JobParameters & { _id: NonNullable<JobParameters['_id']> };
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

export const sameValue = (a: unknown, b: unknown): boolean => {
  if (a instanceof Date || b instanceof Date) return new Date(a as Date).getTime() === new Date(b as Date).getTime();
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
};

/** A dotted path into a job as agenda names it (`name`, `data.userId`, `data.a.b`…). */
export function valueAt(job: JobParameters, path: string): unknown {
  let value: unknown = job;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** `{ a: { b: 1 } }` → `[['a','b'], 1]`: the partial match on `data` that Mongo's dot notation gives. */
function flatten(value: Record<string, unknown>, prefix: string[] = []): [string[], unknown][] {
  return Object.entries(value).flatMap(([key, child]) =>
    isPlainObject(child) && Object.keys(child).length > 0 ? flatten(child, [...prefix, key]) : [[[...prefix, key], child] as [string[], unknown]],
  );
}

function jsonPath(keys: string[]): string {
  for (const key of keys) if (key.includes('"')) throw new Error(`Unsupported key in a data filter: ${key}`);
  return '$' + keys.map((key) => `."${key}"`).join('');
}

export type Where = { sql: string[]; params: SqlValue[] };

/** Conditions on `data`: equality of every leaf (null also matches a missing field, as in Mongo). */
export function dataConditions(data: unknown, where: Where): void {
  if (data === undefined) return;
  if (!isPlainObject(data)) {
    where.sql.push('data = ?');
    where.params.push(JSON.stringify(data ?? null));
    return;
  }
  for (const [keys, value] of flatten(data)) {
    const path = jsonPath(keys);
    if (value === null || value === undefined) {
      where.sql.push(`json_extract(data, ?) IS NULL`);
      where.params.push(path);
    } else if (typeof value === 'object') {
      // Arrays and empty objects: compare their JSON text (SQLite stores it minified, as JSON.stringify does).
      where.sql.push(`json_extract(data, ?) = json(?)`);
      where.params.push(path, JSON.stringify(value));
    } else if (typeof value === 'boolean') {
      where.sql.push(`json_type(data, ?) = ?`);
      where.params.push(path, value ? 'true' : 'false');
    } else {
      where.sql.push(`json_extract(data, ?) = ?`);
      where.params.push(path, value as string | number);
    }
  }
}

export const inList = (column: string, values: readonly unknown[], where: Where, negate = false) => {
  where.sql.push(`${column} ${negate ? 'NOT IN' : 'IN'} (${values.map(() => '?').join(', ')})`);
  where.params.push(...values.map((value) => String(value)));
};

export const strings = (values: readonly unknown[] | undefined) => (values ?? []).filter((value): value is string => typeof value === 'string');

/** The selection of removeJobs / disableJobs / enableJobs; null when it names nothing (then nothing is touched). */
export function selection(options: RemoveJobsOptions): Where | null {
  const where: Where = { sql: [], params: [] };
  if (options.id) inList('id', [options.id], where);
  else if (options.ids?.length) inList('id', options.ids, where);
  if (typeof options.name === 'string' && options.name) inList('name', [options.name], where);
  else if (strings(options.names).length) inList('name', strings(options.names), where);
  else if (strings(options.notNames).length) inList('name', strings(options.notNames), where, true);
  dataConditions(options.data, where);
  return where.sql.length ? where : null;
}

const SORT_COLUMNS: Record<keyof JobsSort, string> = {
  nextRunAt: 'next_run_at',
  lastRunAt: 'last_run_at',
  lastFinishedAt: 'last_finished_at',
  priority: 'priority',
  name: 'name',
  data: 'data',
};

export function orderBy(sort: JobsSort | undefined): string {
  const terms = Object.entries(sort ?? {})
    .filter(([key, direction]) => key in SORT_COLUMNS && direction !== undefined)
    .map(([key, direction]) => `${SORT_COLUMNS[key as keyof JobsSort]} ${direction === 'asc' ? 'ASC' : 'DESC'}`);
  // Mongo's default when no sort is given; the id keeps pages stable.
  return `ORDER BY ${(terms.length ? terms : ['next_run_at DESC', 'last_run_at DESC']).join(', ')}, id`;
}

export const clause = (where: Where) => (where.sql.length ? `WHERE ${where.sql.join(' AND ')}` : '');

