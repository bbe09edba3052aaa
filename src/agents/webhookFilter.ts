import { Script, createContext } from 'node:vm';

/**
 * The payload filter of incoming webhooks (tasks-crons-webhooks.md §3, "Filter evaluation"), shared
 * by ingestion and POST /api/webhooks/:id/test-filter, and the field suggestions of
 * POST /api/webhooks/:id/suggest-fields. Pure functions of their arguments.
 *
 * Evaluation errors let the payload through (`passed: true` with an `error`), as the original does:
 * a filter reduces noise, it is not an access control (the token is).
 */

export type FilterMode = 'simple' | 'advanced';

export type WebhookFilter = {
  filterMode: FilterMode | null;
  filterField: string | null;
  /** An array of strings; anything else is "invalid allowed values". null ⇒ empty allow-list. */
  filterAllowedValues: unknown;
  filterExpression: string | null;
};

export type FilterResult = { passed: boolean; extractedValue?: string | null; error?: string };

export const MAX_EXPRESSION_LENGTH = 500;
/** A pathological expression (catastrophic backtracking) is cut off after this long. */
export const REGEX_TIMEOUT_MS = 100;

/** Own properties only: a path like `constructor` must not reach into prototypes. */
function valueAt(root: unknown, path: string): unknown {
  let current = root;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

const allowedList = (value: unknown): string[] | null => {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : null;
};

function evaluateSimple(filter: WebhookFilter, payload: string): FilterResult {
  if (!filter.filterField) return { passed: true };
  const parsed = parseJson(payload);
  if (!parsed.ok) return { passed: true, error: 'non-json' };
  const value = valueAt(parsed.value, filter.filterField);
  const extractedValue = value === null || value === undefined ? null : String(value);
  const allowed = allowedList(filter.filterAllowedValues);
  if (allowed === null) return { passed: true, error: 'invalid-allowed-values' };
  if (allowed.length === 0) return { passed: false, extractedValue };
  if (extractedValue === null) return { passed: false, extractedValue: null };
  const wanted = extractedValue.toLowerCase();
  return { passed: allowed.some((candidate) => candidate.toLowerCase() === wanted), extractedValue };
}

/** null when the text is not a JavaScript regular expression (no flags). */
export function compileExpression(expression: string): RegExp | null {
  try {
    return new RegExp(expression);
  } catch {
    return null;
  }
}

/**
 * Why a filter cannot be saved as given (tasks-crons-webhooks.md §3, PATCH): simple needs a
 * field, advanced an expression of at most 500 characters that compiles. null when it can.
 */
export function filterProblem(filter: {
  filterMode?: FilterMode | null;
  filterField?: string | null;
  filterExpression?: string | null;
}): { field: 'filterField' | 'filterExpression'; message: string } | null {
  if (filter.filterMode === 'simple' && !filter.filterField?.trim()) {
    return { field: 'filterField', message: 'filterField is required for simple mode' };
  }
  if (filter.filterMode !== 'advanced') return null;
  const expression = filter.filterExpression?.trim() ?? '';
  if (!expression) return { field: 'filterExpression', message: 'filterExpression is required for advanced mode' };
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    return { field: 'filterExpression', message: `filterExpression must be at most ${MAX_EXPRESSION_LENGTH} characters` };
  }
  return compileExpression(expression) ? null : { field: 'filterExpression', message: 'Invalid regular expression' };
}

// The regular expression runs in a separate context only so that V8 can interrupt it at the
// timeout; it is compiled here and handed over, no code from the request is evaluated.
const regexContext = createContext({ input: { regex: /./, text: '' } });
const regexTest = new Script('input.regex.test(input.text)');

function testWithTimeout(regex: RegExp, text: string): boolean | 'timeout' {
  (regexContext as { input: { regex: RegExp; text: string } }).input = { regex, text };
  try {
    return regexTest.runInContext(regexContext, { timeout: REGEX_TIMEOUT_MS }) === true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'timeout';
    throw error;
  } finally {
    (regexContext as { input: { regex: RegExp; text: string } }).input = { regex: /./, text: '' };
  }
}

function evaluateAdvanced(filter: WebhookFilter, payload: string): FilterResult {
  const expression = filter.filterExpression;
  if (!expression) return { passed: true };
  if (expression.length > MAX_EXPRESSION_LENGTH) return { passed: true, error: 'expression-too-long' };
  const regex = compileExpression(expression);
  if (!regex) return { passed: true, error: 'invalid-regex' };
  const outcome = testWithTimeout(regex, payload);
  return outcome === 'timeout' ? { passed: true, error: 'regex-timeout' } : { passed: outcome };
}

/** Whether `payload` (the raw body text) passes the webhook's filter. */
export function evaluateFilter(filter: WebhookFilter, payload: string): FilterResult {
  switch (filter.filterMode) {
    case 'simple':
      return evaluateSimple(filter, payload);
    case 'advanced':
      return evaluateAdvanced(filter, payload);
    default:
      return { passed: true };
  }
}

export const MAX_SUGGESTED_FIELDS = 100;
/** Nesting levels listed: `a` is level 1, `a.b.c.d.e` level 5. */
export const MAX_SUGGESTED_DEPTH = 5;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Dot paths of a JSON object's fields, depth-first in key order: each key's path, then the paths
 * inside it when it holds an object (not an array), down to level 5, at most 100 paths. A payload
 * that is not a JSON object gives none.
 */
export function suggestFields(payload: string): string[] {
  const parsed = parseJson(payload);
  if (!parsed.ok || !isPlainObject(parsed.value)) return [];
  const paths: string[] = [];
  const walk = (object: Record<string, unknown>, prefix: string, level: number) => {
    for (const [key, value] of Object.entries(object)) {
      if (paths.length >= MAX_SUGGESTED_FIELDS) return;
      const path = prefix ? `${prefix}.${key}` : key;
      paths.push(path);
      if (isPlainObject(value) && level < MAX_SUGGESTED_DEPTH) walk(value, path, level + 1);
    }
  };
  walk(parsed.value, '', 1);
  return paths.slice(0, MAX_SUGGESTED_FIELDS);
}
