import type { z } from 'zod';
import { DomainError } from '../es/errors.js';

/**
 * Parses one part of a request. The first failing field decides the error: its code comes from
 * the operation's `errorCodes` (e.g. name → INVALID_NAME, or content:too_big → MESSAGE_TOO_LONG
 * for one kind of failure), its message from the schema, so a
 * spec's "first failure wins" order is the schema's key order. All issues go in `details`.
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  errorCodes: Record<string, string> = {},
): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0]!;
  const field = typeof first.path[0] === 'string' ? first.path[0] : undefined;
  // `field:issue` (e.g. `content:too_big`) is more specific than `field`.
  const code = field !== undefined ? (errorCodes[`${field}:${first.code}`] ?? errorCodes[field]) : undefined;
  const details = issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message, code: issue.code }));
  if (code) throw new DomainError(400, code, first.message, details);
  const where = first.path.length ? `${first.path.join('.')}: ` : '';
  throw new DomainError(400, 'VALIDATION_ERROR', `${where}${first.message}`, details);
}
