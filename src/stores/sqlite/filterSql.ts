import { SAFE_NAME, type Filter } from '../../es/readStore.js';

/**
 * The ReadStore filter subset compiled to SQL over a JSON column: `doc` for read-model
 * collections, `fields` for search indexes. Values are parameters; paths are inlined so that
 * expression indexes on `json_extract(<column>, '$.<path>')` match.
 */

export type Param = string | number;

/** The JSON column a filter's paths live in; `id` is always the `id` column. */
export type JsonColumn = 'doc' | 'fields';

/** The SQL for a field's value and for its JSON type ('text', 'integer', 'real', 'true', …). */
export type Field = { value: string; type: string };

export function field(path: string, column: JsonColumn = 'doc'): Field {
  if (!SAFE_NAME.test(path)) throw new Error(`Invalid field path: ${path}`);
  if (path === 'id') return { value: 'id', type: `'text'` };
  return { value: `json_extract(${column}, '$.${path}')`, type: `json_type(${column}, '$.${path}')` };
}

/** The SQL condition for `filter` ('1' when empty), pushing its values onto `params`. */
export function where(filter: Filter, params: Param[], column: JsonColumn = 'doc'): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === '$and' || key === '$or') parts.push(logical(key, value, params, column));
    else if (key.startsWith('$')) throw new Error(`Unsupported filter operator: ${key}`);
    else parts.push(condition(field(key, column), value, params));
  }
  return parts.length > 0 ? parts.join(' AND ') : '1';
}

function logical(key: '$and' | '$or', filters: unknown, params: Param[], column: JsonColumn): string {
  if (!Array.isArray(filters) || filters.length === 0) throw new Error(`${key} needs a non-empty array of filters`);
  const parts = filters.map((filter: Filter) => `(${where(filter, params, column)})`);
  return `(${parts.join(key === '$and' ? ' AND ' : ' OR ')})`;
}

function condition(f: Field, value: unknown, params: Param[]): string {
  if (!isOperatorObject(value)) return equals(f, value, params);
  const parts = Object.entries(value)
    .filter(([, operand]) => operand !== undefined)
    .map(([operator, operand]) => applyOperator(f, operator, operand, params));
  return parts.join(' AND ');
}

const COMPARISONS: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };

function applyOperator(f: Field, operator: string, operand: unknown, params: Param[]): string {
  const comparison = COMPARISONS[operator];
  if (comparison) return compare(f, comparison, operand, params);
  switch (operator) {
    case '$eq':
      return equals(f, operand, params);
    case '$ne':
      return operand === null ? `${f.value} IS NOT NULL` : negate(equals(f, operand, params));
    case '$in':
      return oneOf(f, operand, params);
    case '$nin':
      return negate(oneOf(f, operand, params));
    case '$exists':
      return `${f.type} IS ${operand ? 'NOT ' : ''}NULL`;
    default:
      throw new Error(`Unsupported filter operator: ${operator}`);
  }
}

/** A missing field makes the comparison NULL; NOT must still count it as "not equal". */
function negate(sql: string): string {
  return `NOT ifnull(${sql}, 0)`;
}

// json_extract turns JSON true/false into 1/0, so every comparison also checks the JSON type,
// as MongoDB compares only within one type. The value comparison comes first so indexes apply.
function equals(f: Field, value: unknown, params: Param[]): string {
  if (value === null) return `${f.value} IS NULL`;
  if (typeof value === 'boolean') return `(${f.value} = ${value ? 1 : 0} AND ${f.type} = '${value}')`;
  const param = checkScalar(value);
  params.push(param);
  return `(${f.value} = ? AND ${sameType(f, param)})`;
}

function compare(f: Field, operator: string, value: unknown, params: Param[]): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error('Ranges compare strings or numbers only');
  params.push(checkScalar(value));
  return `(${f.value} ${operator} ? AND ${sameType(f, value)})`;
}

function oneOf(f: Field, values: unknown, params: Param[]): string {
  if (!Array.isArray(values)) throw new Error('$in and $nin need an array');
  const parts: string[] = [];
  if (values.includes(null)) parts.push(`${f.value} IS NULL`);
  for (const kind of ['string', 'number'] as const) {
    const group = values.filter((value) => typeof value === kind).map(checkScalar);
    if (group.length === 0) continue;
    params.push(...group);
    parts.push(`(${f.value} IN (${group.map(() => '?').join(', ')}) AND ${sameType(f, group[0] as Param)})`);
  }
  const booleans = values.filter((value): value is boolean => typeof value === 'boolean');
  if (booleans.length > 0) parts.push(`${f.type} IN (${booleans.map((value) => `'${value}'`).join(', ')})`);
  if (values.some((value) => value !== null && !['string', 'number', 'boolean'].includes(typeof value))) {
    throw new Error('$in and $nin take scalars only');
  }
  return parts.length > 0 ? `(${parts.join(' OR ')})` : '0';
}

function sameType(f: Field, value: Param): string {
  return typeof value === 'string' ? `${f.type} = 'text'` : `${f.type} IN ('integer', 'real')`;
}

function checkScalar(value: unknown): Param {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return value;
  throw new Error(`Filters compare scalars only, not ${JSON.stringify(value)}`);
}

export function isOperatorObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  if (Array.isArray(value) || keys.length === 0 || !keys.every((key) => key.startsWith('$'))) {
    throw new Error(`Equality on objects or arrays is not supported: ${JSON.stringify(value)}`);
  }
  return true;
}

