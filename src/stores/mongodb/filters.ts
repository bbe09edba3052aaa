import type { Document, Filter as MongoFilter } from 'mongodb';
import { SAFE_NAME, type Filter } from '../../es/readStore.js';

/**
 * The ReadStore filter subset passed through to MongoDB, with the same checks as the SQLite
 * adapter so that both reject the same input. `path` maps a filter path to the document's:
 * `id` is `_id`; a search index keeps its fields under `fields.`.
 */

const FILTER_OPERATORS = new Set(['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists']);

export function checkPath(path: string): string {
  if (!SAFE_NAME.test(path)) throw new Error(`Invalid field path: ${path}`);
  return path === 'id' ? '_id' : path;
}

export function toMongoFilter<T extends Document>(filter: Filter, path: (path: string) => string = checkPath): MongoFilter<T> {
  const result: Document = {};
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) throw new Error(`${key} needs a non-empty array of filters`);
      result[key] = value.map((inner: Filter) => toMongoFilter(inner, path));
    } else if (key.startsWith('$')) {
      throw new Error(`Unsupported filter operator: ${key}`);
    } else {
      result[path(key)] = checkCondition(value);
    }
  }
  return result as MongoFilter<T>;
}

function checkCondition(condition: unknown): unknown {
  if (typeof condition !== 'object' || condition === null) return checkScalar(condition);
  const operators = Object.entries(condition);
  if (Array.isArray(condition) || operators.length === 0 || !operators.every(([op]) => op.startsWith('$'))) {
    throw new Error(`Equality on objects or arrays is not supported: ${JSON.stringify(condition)}`);
  }
  for (const [op, operand] of operators) {
    if (!FILTER_OPERATORS.has(op)) throw new Error(`Unsupported filter operator: ${op}`);
    if (op === '$in' || op === '$nin') {
      if (!Array.isArray(operand)) throw new Error('$in and $nin need an array');
      operand.forEach(checkScalar);
    } else if (op !== '$exists') {
      checkScalar(operand);
    }
  }
  return condition;
}

function checkScalar(value: unknown): unknown {
  const scalar = value === null || ['string', 'boolean'].includes(typeof value) || (typeof value === 'number' && Number.isFinite(value));
  if (!scalar && value !== undefined) throw new Error(`Filters compare scalars only, not ${JSON.stringify(value)}`);
  return value;
}
