/**
 * The server's recent log lines, kept in memory for the admins' logs page (GET /api/logs, SSE
 * `log:entry`). Fed by pino as one more destination: each write is one JSON line. Bounded: the
 * oldest entries fall out, and nothing survives a restart (the terminal or the log collector keeps
 * the full history).
 */

export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;
export const logLevelNames = Object.keys(LOG_LEVELS) as LogLevelName[];

/** The shape the web app's logs page reads (webapp.md §2). */
export type LogEntry = {
  level: LogLevelName;
  module: string;
  message: string;
  data?: Record<string, unknown>;
  /** Epoch ms. */
  timestamp: number;
};

export type LogQuery = {
  limit: number;
  /** This level and the more severe ones. */
  level?: LogLevelName;
  module?: string;
  /** Case-insensitive, in the message and the data. */
  search?: string;
};

export type LogBuffer = {
  /** A pino destination (`pino(options, buffer.stream)` or one stream of `pino.multistream`). */
  stream: { write(line: string): void };
  /** The newest `limit` entries that match, oldest first. */
  query(query: LogQuery): LogEntry[];
  /** Every module seen since start-up, sorted. */
  modules(): string[];
  /** Called with each new entry; returns the unsubscribe function. */
  subscribe(listener: (entry: LogEntry) => void): () => void;
};

export const LOG_BUFFER_CAPACITY = 1000;
/** Lines logged without a `module` binding. */
export const DEFAULT_LOG_MODULE = 'server';

const REDACTED = '[redacted]';
// By the end of the name: `botToken`, `apiKey`, `password` go; `inputTokens` or `tokenHash` stay.
const SENSITIVE_KEY = /(password|passwd|secret|token|api[-_]?key|authorization|cookie|credentials?)$|^key$/i;
/** Path segments that are credentials themselves: share links and invitation tokens. */
const SECRET_PATHS: readonly RegExp[] = [/^(\/s\/)[^/?#]+/, /^(\/api\/invitations\/)[^/?#]+(?=\/validate)/];
const PINO_FIELDS = new Set(['level', 'time', 'msg', 'module', 'pid', 'hostname', 'v']);
const MAX_DEPTH = 6;

/** A request URL without the credentials it may carry (`?token=`, `/s/<token>`). */
export function redactUrl(url: string): string {
  const [path = '', query] = url.split(/\?(.*)/s, 2);
  const safePath = SECRET_PATHS.reduce((current, pattern) => current.replace(pattern, `$1${REDACTED}`), path);
  if (query === undefined) return safePath;
  const params = query
    .split('&')
    .map((pair) => {
      const [name = ''] = pair.split('=', 1);
      return SENSITIVE_KEY.test(decodeURIComponent(name)) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return `${safePath}?${params}`;
}

function redact(value: unknown, key: string, depth: number): unknown {
  if (SENSITIVE_KEY.test(key)) return REDACTED;
  if (typeof value === 'string') return key === 'url' ? redactUrl(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((item) => redact(item, '', depth + 1));
  return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, redact(inner, name, depth + 1)]));
}

const levelName = (level: unknown): LogLevelName => {
  const byNumber = logLevelNames.find((name) => LOG_LEVELS[name] === level);
  return byNumber ?? (typeof level === 'string' && level in LOG_LEVELS ? (level as LogLevelName) : 'info');
};

/** One pino JSON line as an entry, credentials removed; null if the line is not JSON. */
export function toLogEntry(line: string): LogEntry | null {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    record = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const rest = Object.fromEntries(Object.entries(record).filter(([name]) => !PINO_FIELDS.has(name)));
  const data = redact(rest, '', 0) as Record<string, unknown>;
  return {
    level: levelName(record.level),
    module: typeof record.module === 'string' && record.module ? record.module : DEFAULT_LOG_MODULE,
    message: typeof record.msg === 'string' ? record.msg : '',
    ...(Object.keys(data).length ? { data } : {}),
    timestamp: typeof record.time === 'number' ? record.time : Date.now(),
  };
}

export function createLogBuffer(capacity = LOG_BUFFER_CAPACITY): LogBuffer {
  const entries: LogEntry[] = [];
  const modules = new Set<string>();
  const listeners = new Set<(entry: LogEntry) => void>();

  function add(entry: LogEntry) {
    entries.push(entry);
    if (entries.length > capacity) entries.splice(0, entries.length - capacity);
    modules.add(entry.module);
    for (const listener of listeners) {
      try {
        listener(entry);
      } catch {
        // A failing listener must not break logging (and logging its failure would loop).
      }
    }
  }

  const matches = (query: LogQuery) => {
    const floor = query.level ? LOG_LEVELS[query.level] : 0;
    const needle = query.search?.toLowerCase();
    return (entry: LogEntry) =>
      LOG_LEVELS[entry.level] >= floor &&
      (!query.module || entry.module === query.module) &&
      (!needle || entry.message.toLowerCase().includes(needle) || (entry.data !== undefined && JSON.stringify(entry.data).toLowerCase().includes(needle)));
  };

  return {
    stream: {
      write(chunk: string) {
        // pino writes one line per call; a multistream may hand over several at once.
        for (const line of chunk.split('\n')) {
          const entry = line.trim() ? toLogEntry(line) : null;
          if (entry) add(entry);
        }
      },
    },
    query(query) {
      const found = entries.filter(matches(query));
      return found.slice(Math.max(0, found.length - query.limit));
    },
    modules: () => [...modules].sort(),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
