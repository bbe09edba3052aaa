import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** One line of a figures table: column name → value, printed in insertion order. */
export type Row = Record<string, string | number>;
export type Section = { title: string; rows: Row[] };

/** True when the module at `moduleUrl` is the script node was started with (`npx tsx bench/x.ts`). */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && moduleUrl === pathToFileURL(path.resolve(process.argv[1])).href;

/** Seconds per timed run: `BENCH_DURATION` shortens (or lengthens) every benchmark's time budget. */
export function benchDuration(defaultSeconds = 10): number {
  const raw = process.env.BENCH_DURATION;
  if (raw === undefined || raw === '') return defaultSeconds;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`BENCH_DURATION must be a positive number of seconds, not "${raw}"`);
  return seconds;
}

/** Runs `work` with a fresh temporary directory that is removed afterwards, whatever happens. */
export async function withTempDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kinbot-bench-${prefix}-`));
  try {
    return await work(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const round = (value: number, digits = 0): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

export const perSecond = (count: number, seconds: number): number => (seconds > 0 ? Math.round(count / seconds) : 0);

const fractionDigits = (value: number): number => (Number.isInteger(value) ? 0 : (String(value).split('.')[1]?.length ?? 0));

export function formatTable(section: Section): string {
  const columns = [...new Set(section.rows.flatMap((row) => Object.keys(row)))];
  // A column of figures shows every value with as many decimals as its most precise one.
  const digits = new Map(
    columns.map((column) => [
      column,
      Math.max(0, ...section.rows.map((row) => (typeof row[column] === 'number' ? fractionDigits(row[column] as number) : 0))),
    ]),
  );
  const cell = (column: string, value: string | number | undefined) => {
    if (value === undefined) return '';
    if (typeof value === 'string') return value;
    const fixed = digits.get(column) ?? 0;
    return value.toLocaleString('en-US', { minimumFractionDigits: fixed, maximumFractionDigits: fixed });
  };
  const widths = columns.map((column) =>
    Math.max(column.length, ...section.rows.map((row) => cell(column, row[column]).length)),
  );
  // Text columns are left-aligned, figures right-aligned.
  const numeric = columns.map((column) => section.rows.every((row) => typeof row[column] !== 'string'));
  const line = (values: string[]) =>
    values.map((value, i) => (numeric[i] ? value.padStart(widths[i]!) : value.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    section.title,
    line(columns),
    line(widths.map((width) => '-'.repeat(width))),
    ...section.rows.map((row) => line(columns.map((column) => cell(column, row[column])))),
  ].join('\n');
}

export function printSections(sections: Section[]): void {
  console.log(sections.map(formatTable).join('\n\n'));
}

/** Progress notes go to stderr so that stdout holds only the figures. */
export const note = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

/** The server under test: its base URL and the Origin Better Auth trusts. */
export type Target = { base: string; origin: string };

/** A JSON call that must succeed (anything else stops the benchmark with the server's answer). */
export async function callApi(target: Target, path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const response = await fetch(target.base + path, {
    method: init.method ?? 'POST',
    // Better Auth refuses state-changing calls without a trusted Origin (CSRF protection).
    headers: { 'content-type': 'application/json', origin: target.origin, ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'POST'} ${path} answered ${response.status}: ${text}`);
  return { response, body: JSON.parse(text) as Record<string, any> };
}

/** Signs up the first user (an admin); returns their session cookie and an API key of theirs. */
export async function adminCredentials(target: Target): Promise<{ apiKey: string; cookie: string }> {
  const signUp = await callApi(target, '/api/auth/sign-up/email', {
    body: { name: 'Bench', email: 'bench@example.com', password: 'bench-password-1' },
  });
  const cookie = signUp.response.headers
    .getSetCookie()
    .map((header) => header.split(';', 1)[0])
    .join('; ');
  const apiKey = (await callApi(target, '/api/auth/api-key/create', { headers: { cookie }, body: { name: 'bench' } })).body.key;
  if (typeof apiKey !== 'string') throw new Error('API key creation did not return a key');
  return { apiKey, cookie };
}

/** Signs up the first user (an admin) and returns an API key of theirs. */
export const adminApiKey = async (target: Target): Promise<string> => (await adminCredentials(target)).apiKey;
