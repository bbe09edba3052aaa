import type { Filter } from '../../es/readStore.js';
import { isOperatorObject, where } from './filterSql.js';

/**
 * The ReadStore filter subset over a search entry's flat fields, evaluated in JavaScript for the
 * vector search, which filters the in-memory vectors rather than rows. It must answer exactly as
 * the SQL of filterSql.ts does over `json_extract(fields, …)`: equality within one JSON type,
 * null matching missing, $ne/$nin matching missing, ranges within strings or numbers only.
 * (Strings compare by UTF-16 code units here and by UTF-8 bytes in SQLite: they differ only
 * between characters above U+FFFF and those in U+E000–U+FFFF.)
 *
 * A filter compiles to a tree whose leaves test one path's value; vectorCache.ts runs each leaf
 * once per distinct value of its field, then combines the leaves slot by slot.
 */

export type Fields = Record<string, string | number | boolean | null>;
/** A field's value; undefined when the entry does not have the field. */
export type FieldValue = string | number | boolean | null | undefined;

export type FilterTree =
  | { kind: 'and' | 'or'; children: FilterTree[] }
  | { kind: 'leaf'; path: string; test: (value: FieldValue) => boolean };

export function compileFieldFilter(filter: Filter): FilterTree {
  where(filter, [], 'fields'); // rejects what the SQL compiler rejects, with the same errors
  return compile(filter);
}

function compile(filter: Filter): FilterTree {
  const children: FilterTree[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === '$and' || key === '$or') children.push({ kind: key === '$and' ? 'and' : 'or', children: (value as Filter[]).map(compile) });
    else children.push({ kind: 'leaf', path: key, test: condition(value) });
  }
  return { kind: 'and', children };
}

type Test = (value: FieldValue) => boolean;

function condition(value: unknown): Test {
  if (!isOperatorObject(value)) return equals(value as FieldValue);
  const tests = Object.entries(value)
    .filter(([, operand]) => operand !== undefined)
    .map(([operator, operand]) => applyOperator(operator, operand));
  return (v) => tests.every((test) => test(v));
}

function applyOperator(operator: string, operand: unknown): Test {
  switch (operator) {
    case '$eq':
      return equals(operand as FieldValue);
    case '$ne':
      return not(equals(operand as FieldValue));
    case '$in':
      return oneOf(operand as FieldValue[]);
    case '$nin':
      return not(oneOf(operand as FieldValue[]));
    case '$exists':
      return (v) => (v !== undefined) === Boolean(operand);
    case '$gt':
      return compare(operand as string | number, (a, b) => a > b);
    case '$gte':
      return compare(operand as string | number, (a, b) => a >= b);
    case '$lt':
      return compare(operand as string | number, (a, b) => a < b);
    case '$lte':
      return compare(operand as string | number, (a, b) => a <= b);
    default:
      throw new Error(`Unsupported filter operator: ${operator}`);
  }
}

const not =
  (test: Test): Test =>
  (v) =>
    !test(v);

function equals(value: FieldValue): Test {
  if (value === null) return (v) => v === null || v === undefined;
  return (v) => v === value;
}

function oneOf(values: FieldValue[]): Test {
  const tests = values.map(equals);
  return (v) => tests.some((test) => test(v));
}

function compare<T extends string | number>(operand: T, holds: (a: T, b: T) => boolean): Test {
  return (v) => typeof v === typeof operand && holds(v as T, operand);
}
