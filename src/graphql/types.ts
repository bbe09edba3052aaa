import { z } from 'zod';

/**
 * JSON Schema → GraphQL SDL, for the zod schemas of the operation table. The JSON Schema zod emits
 * (`z.toJSONSchema`) is the one the OpenAPI document shows, so REST, OpenAPI and GraphQL read the
 * same description of every input and output.
 *
 * - objects → object types (output) or input types (input), named by their meta id (`.meta({ id })`,
 *   found in `$defs`), else by their parent's name + the field's name; an input type's name ends
 *   in `Input`, so the input and output versions of one schema never collide;
 * - arrays → lists; strings (and string enums) → String, or ID for a field named `id` / `…Id`;
 *   `integer` → Int only when its bounds fit in 32 bits, every other number → Float (epoch ms,
 *   positions and unbounded integers do not fit GraphQL's Int);
 * - null in a union or a type list → a nullable type; a required, non-nullable field → `!`;
 * - records, free-form objects, unions, tuples and anything unrepresentable → the `JSON` scalar.
 */

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema | JsonSchema[];
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  description?: string;
};

export type Io = 'input' | 'output';

/** A type reference without its outer `!` (`String`, `[Kin!]`), and whether null is one of its values. */
export type TypeRef = { type: string; nullable: boolean };

export type Field = { name: string; ref: TypeRef; required: boolean; description?: string };

/** `createKin` → `CreateKin`, `kin-tools` → `KinTools` */
export const pascal = (text: string): string =>
  text.replace(/(?:^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_match, letter: string) => letter.toUpperCase());

export const isGraphqlName = (name: string): boolean => /^[_A-Za-z][_0-9A-Za-z]*$/.test(name) && !name.startsWith('__');

/** A description in SDL; JSON string escapes are valid GraphQL string escapes. */
export const described = (text: string | undefined, indent = ''): string => (text ? `${indent}${JSON.stringify(text)}\n` : '');

const inputName = (name: string) => (name.endsWith('Input') ? name : `${name}Input`);
const baseName = (name: string, io: Io) => (io === 'input' ? name.replace(/Input$/, '') : name);

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function fitsInt32(schema: JsonSchema): boolean {
  const min = schema.minimum ?? schema.exclusiveMinimum;
  const max = schema.maximum ?? schema.exclusiveMaximum;
  return min !== undefined && max !== undefined && min >= INT32_MIN && max <= INT32_MAX;
}

const JSON_REF: TypeRef = { type: 'JSON', nullable: true };
const scalar = (type: string): TypeRef => ({ type, nullable: false });
const isNull = (schema: JsonSchema) => schema.type === 'null';

function scalarOfValues(values: unknown[]): TypeRef {
  const kinds = new Set(values.map((value) => typeof value));
  if (kinds.size !== 1) return JSON_REF;
  const [kind] = kinds;
  if (kind === 'string') return scalar('String');
  if (kind === 'number') return scalar('Float');
  if (kind === 'boolean') return scalar('Boolean');
  return JSON_REF;
}

/** One conversion: a root schema, its `$defs`, and the names given to anonymous `$defs` keys. */
type Scope = { io: Io; root: JsonSchema; rootName: string; defs: Record<string, JsonSchema>; names: Map<string, string> };

export type TypeRegistry = {
  /** The type of an operation's body, or of any input; `name` names its root object when it has no meta id. */
  input(schema: z.ZodType, name: string): TypeRef;
  /** The fields of an input object (path or query parameters), each named `<prefix><Field>` when anonymous. */
  inputFields(schema: z.ZodObject, prefix: string): Field[];
  /**
   * The type of an operation's result. An object with exactly one property (`{ kins: [...] }`,
   * `{ kin: {...} }`, `{ success: true }`) is unwrapped: the type is that property's, and
   * `unwrap` names the property the resolver returns.
   */
  output(schema: z.ZodType, operationName: string): { ref: TypeRef; unwrap?: string };
  /** Declares a hand-written type, so that a generated one cannot take its name. */
  reserve(name: string, sdl?: string): void;
  /** Every generated type definition. */
  sdl(): string;
};

export function createTypeRegistry(): TypeRegistry {
  /** name → SDL; null for built-in or reserved names without a definition here. */
  const types = new Map<string, string | null>();
  const building = new Set<string>();

  function define(name: string, build: () => string): void {
    if (building.has(name)) return; // a recursive type refers to itself by name
    building.add(name);
    const sdl = build();
    building.delete(name);
    const existing = types.get(name);
    if (existing !== undefined && existing !== sdl) {
      throw new Error(`GraphQL type ${name} would be generated twice with different shapes; give one of the zod schemas its own .meta({ id })`);
    }
    types.set(name, sdl);
  }

  function scopeOf(schema: z.ZodType, io: Io, rootName: string): Scope {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema & { $schema?: string };
    const { $defs = {}, $schema: _schema, ...root } = json;
    return { io, root, rootName, defs: $defs, names: new Map() };
  }

  function objectRef(schema: JsonSchema, scope: Scope, hint: string): TypeRef {
    const properties = schema.properties ?? {};
    const names = Object.keys(properties);
    const closed = schema.additionalProperties === undefined || schema.additionalProperties === false;
    if (names.length === 0 || !closed || !names.every(isGraphqlName)) return scalar('JSON');
    const name = scope.io === 'input' ? inputName(hint) : hint;
    define(name, () => {
      const lines = names.map((field) => {
        const property = properties[field]!;
        const ref = typeOf(property, scope, baseName(name, scope.io) + pascal(field), field);
        const required = (schema.required ?? []).includes(field) && !ref.nullable;
        return `${described(property.description, '  ')}  ${field}: ${ref.type}${required ? '!' : ''}`;
      });
      return `${described(schema.description)}${scope.io === 'input' ? 'input' : 'type'} ${name} {\n${lines.join('\n')}\n}`;
    });
    return scalar(name);
  }

  function refTo(pointer: string, scope: Scope, hint: string, field?: string): TypeRef {
    if (pointer === '#') return typeOf(scope.root, scope, scope.rootName, field);
    const key = pointer.replace(/^#\/\$defs\//, '');
    const def = scope.defs[key];
    if (!def) return JSON_REF;
    // zod names the $defs it had to invent (`__schema0`); those take the name of their first use.
    const name = isGraphqlName(key) ? key : (scope.names.get(key) ?? hint);
    scope.names.set(key, name);
    return typeOf(def, scope, name, field);
  }

  function typeOf(schema: JsonSchema, scope: Scope, hint: string, field?: string): TypeRef {
    const variants = schema.anyOf ?? schema.oneOf;
    if (variants) {
      const present = variants.filter((variant) => !isNull(variant));
      if (present.length !== 1) return JSON_REF;
      const ref = typeOf(present[0]!, scope, hint, field);
      return { ...ref, nullable: ref.nullable || present.length < variants.length };
    }
    if (Array.isArray(schema.type)) {
      const present = schema.type.filter((type) => type !== 'null');
      if (present.length !== 1) return JSON_REF;
      const ref = typeOf({ ...schema, type: present[0] }, scope, hint, field);
      return { ...ref, nullable: ref.nullable || present.length < schema.type.length };
    }
    if (schema.$ref) return refTo(schema.$ref, scope, hint, field);
    switch (schema.type) {
      case 'object':
        return objectRef(schema, scope, hint);
      case 'array': {
        if (!schema.items || Array.isArray(schema.items) || schema.prefixItems) return scalar('JSON');
        const item = typeOf(schema.items, scope, hint);
        return scalar(`[${item.type}${item.nullable ? '' : '!'}]`);
      }
      case 'string':
        return scalar(field !== undefined && /^(id|.+Id)$/.test(field) ? 'ID' : 'String');
      case 'integer':
        return scalar(fitsInt32(schema) ? 'Int' : 'Float');
      case 'number':
        return scalar('Float');
      case 'boolean':
        return scalar('Boolean');
    }
    if (schema.enum) return scalarOfValues(schema.enum);
    if ('const' in schema) return scalarOfValues([schema.const]);
    return JSON_REF;
  }

  /** Follows `$ref`s to the schema they name. */
  function resolved(schema: JsonSchema, scope: Scope): JsonSchema {
    if (!schema.$ref) return schema;
    const target = schema.$ref === '#' ? scope.root : scope.defs[schema.$ref.replace(/^#\/\$defs\//, '')];
    return target && target !== schema ? resolved(target, scope) : schema;
  }

  for (const name of ['String', 'Int', 'Float', 'Boolean', 'ID', 'JSON', 'Query', 'Mutation', 'Subscription']) types.set(name, null);

  return {
    input(schema, name) {
      const scope = scopeOf(schema, 'input', name);
      return typeOf(scope.root, scope, name);
    },
    inputFields(schema, prefix) {
      const scope = scopeOf(schema, 'input', prefix);
      const root = resolved(scope.root, scope);
      return Object.entries(root.properties ?? {}).map(([name, property]) => ({
        name,
        ref: typeOf(property, scope, prefix + pascal(name), name),
        required: (root.required ?? []).includes(name),
        description: property.description,
      }));
    },
    output(schema, operationName) {
      const scope = scopeOf(schema, 'output', `${pascal(operationName)}Result`);
      const root = resolved(scope.root, scope);
      const keys = root.type === 'object' && !root.additionalProperties ? Object.keys(root.properties ?? {}) : [];
      const only = keys.length === 1 ? keys[0]! : undefined;
      if (only !== undefined && isGraphqlName(only)) {
        const ref = typeOf(root.properties![only]!, scope, pascal(operationName) + pascal(only), only);
        return { ref: { ...ref, nullable: ref.nullable || !(root.required ?? []).includes(only) }, unwrap: only };
      }
      return { ref: typeOf(scope.root, scope, scope.rootName) };
    },
    reserve(name, sdl) {
      if (types.has(name)) throw new Error(`GraphQL type ${name} is declared twice`);
      types.set(name, sdl ?? null);
    },
    sdl: () => [...types.values()].filter((sdl): sdl is string => sdl !== null).join('\n\n'),
  };
}
