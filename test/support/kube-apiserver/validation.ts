/**
 * Validation of custom resources against their CRD's `openAPIV3Schema`, the way the API server
 * does it (after pruning and defaults, see schema.ts): every violation becomes a cause with a
 * field path (`spec.eventTypes`) and apimachinery's wording, and the request fails with 422
 * Invalid listing them all.
 */
import { CelError } from './cel.js';
import type { StatusCause } from './errors.js';
import { equalJson, isMap, type JsonMap } from './objects.js';
import { childPath, findCelProgram, type Schema } from './schema.js';

const patterns = new Map<string, RegExp>();
function matchesPattern(pattern: string, value: string): boolean {
  let re = patterns.get(pattern);
  if (!re) {
    re = new RegExp(pattern, 'u');
    patterns.set(pattern, re);
  }
  return re.test(value);
}

function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return '"null"';
  if (typeof value === 'object') return JSON.stringify(Array.isArray(value) ? 'array' : 'object');
  return String(value);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  const actual = jsonType(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const FORMATS: Record<string, (v: string) => boolean> = {
  'date-time': (v) => RFC3339.test(v),
  date: (v) => /^\d{4}-\d{2}-\d{2}$/.test(v),
  byte: (v) => /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0,
  uuid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
};

interface Context {
  causes: StatusCause[];
}

function fail(ctx: Context, reason: string, field: string, message: string): void {
  ctx.causes.push({ reason, field, message });
}

/** Validates `value` at `path`; `old` is the stored value there (for CEL transition rules). */
function validateNode(
  ctx: Context,
  value: unknown,
  schema: Schema,
  path: string,
  old: unknown,
): void {
  const where = path || '<root>';
  if (value === null) {
    if (schema.nullable) return;
    if (schema.type) {
      fail(
        ctx,
        'FieldValueTypeInvalid',
        where,
        `Invalid value: "null": ${where} in body must be of type ${schema.type}: "null"`,
      );
    }
    return;
  }
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (intOrString && !hasType(value, 'integer') && !hasType(value, 'string')) {
    fail(
      ctx,
      'FieldValueTypeInvalid',
      where,
      `Invalid value: ${quote(value)}: ${where} in body must be of type integer,string: ${quote(jsonType(value))}`,
    );
    return;
  }
  if (schema.type && !intOrString && !hasType(value, schema.type)) {
    fail(
      ctx,
      'FieldValueTypeInvalid',
      where,
      `Invalid value: ${quote(jsonType(value))}: ${where} in body must be of type ${schema.type}: ${quote(jsonType(value))}`,
    );
    return;
  }
  if (schema.enum && !schema.enum.some((e) => equalJson(e, value))) {
    const supported = schema.enum.map((e) => JSON.stringify(e)).join(', ');
    fail(
      ctx,
      'FieldValueNotSupported',
      where,
      `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported}`,
    );
  }
  if (typeof value === 'string') validateString(ctx, value, schema, where);
  if (typeof value === 'number') validateNumber(ctx, value, schema, where);
  if (Array.isArray(value)) validateArray(ctx, value, schema, path, old);
  if (isMap(value)) validateObject(ctx, value, schema, path, old);
  for (const sub of schema.allOf ?? []) validateNode(ctx, value, sub, path, old);
  if (schema.anyOf && !schema.anyOf.some((sub) => collectCauses(value, sub, path).length === 0)) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${quote(value)}: ${where} in body must validate at least one schema (anyOf)`,
    );
  }
  if (
    schema.oneOf &&
    schema.oneOf.filter((sub) => collectCauses(value, sub, path).length === 0).length !== 1
  ) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${quote(value)}: ${where} in body must validate one and only one schema (oneOf)`,
    );
  }
  if (schema.not && collectCauses(value, schema.not, path).length === 0) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${quote(value)}: ${where} in body should not validate the schema (not)`,
    );
  }
  validateRules(ctx, value, schema, path, old);
}

function collectCauses(value: unknown, schema: Schema, path: string): StatusCause[] {
  const ctx: Context = { causes: [] };
  validateNode(ctx, value, schema, path, undefined);
  return ctx.causes;
}

function validateString(ctx: Context, value: string, s: Schema, where: string): void {
  const length = [...value].length;
  if (s.maxLength !== undefined && length > s.maxLength) {
    fail(ctx, 'FieldValueTooLong', where, `Too long: may not be more than ${s.maxLength} bytes`);
  }
  if (s.minLength !== undefined && length < s.minLength) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${JSON.stringify(value)}: ${where} in body should be at least ${s.minLength} chars long`,
    );
  }
  if (s.pattern !== undefined && !matchesPattern(s.pattern, value)) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${JSON.stringify(value)}: ${where} in body should match '${s.pattern}'`,
    );
  }
  const check = s.format ? FORMATS[s.format] : undefined;
  if (check && !check(value)) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${JSON.stringify(value)}: ${where} in body must be of type ${s.format}: ${JSON.stringify(value)}`,
    );
  }
}

function validateNumber(ctx: Context, value: number, s: Schema, where: string): void {
  if (s.minimum !== undefined && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum)) {
    const op = s.exclusiveMinimum ? 'greater than' : 'greater than or equal to';
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${value}: ${where} in body should be ${op} ${s.minimum}`,
    );
  }
  if (s.maximum !== undefined && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum)) {
    const op = s.exclusiveMaximum ? 'less than' : 'less than or equal to';
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${value}: ${where} in body should be ${op} ${s.maximum}`,
    );
  }
  if (s.multipleOf !== undefined && value % s.multipleOf !== 0) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${value}: ${where} in body should be a multiple of ${s.multipleOf}`,
    );
  }
}

function validateArray(
  ctx: Context,
  value: unknown[],
  s: Schema,
  path: string,
  old: unknown,
): void {
  const where = path || '<root>';
  if (s.maxItems !== undefined && value.length > s.maxItems) {
    fail(
      ctx,
      'FieldValueTooMany',
      where,
      `Too many: ${value.length}: must have at most ${s.maxItems} items`,
    );
  }
  if (s.minItems !== undefined && value.length < s.minItems) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${value.length}: ${where} in body should have at least ${s.minItems} items`,
    );
  }
  const listType = s['x-kubernetes-list-type'];
  if (listType === 'set' || s.uniqueItems) {
    value.forEach((item, i) => {
      if (value.findIndex((other) => equalJson(other, item)) < i) {
        fail(
          ctx,
          'FieldValueDuplicate',
          `${path}[${i}]`,
          `Duplicate value: ${JSON.stringify(item)}`,
        );
      }
    });
  }
  const mapKeys = s['x-kubernetes-list-map-keys'];
  if (listType === 'map' && mapKeys) {
    const keyOf = (item: unknown): string =>
      JSON.stringify(mapKeys.map((k) => (isMap(item) ? item[k] : undefined)));
    value.forEach((item, i) => {
      if (value.findIndex((other) => keyOf(other) === keyOf(item)) < i) {
        const shown = Object.fromEntries(
          mapKeys.map((k) => [k, isMap(item) ? item[k] : undefined]),
        );
        fail(
          ctx,
          'FieldValueDuplicate',
          `${path}[${i}]`,
          `Duplicate value: ${JSON.stringify(shown)}`,
        );
      }
    });
  }
  if (s.items) {
    const oldItems = Array.isArray(old) ? old : [];
    value.forEach((item, i) => {
      // Transition rules on list items compare by map key (or set value), like the API server.
      const previous =
        listType === 'map' && mapKeys
          ? oldItems.find((o) =>
              mapKeys.every((k) => isMap(o) && isMap(item) && equalJson(o[k], item[k])),
            )
          : listType === 'set'
            ? oldItems.find((o) => equalJson(o, item))
            : undefined;
      validateNode(ctx, item, s.items as Schema, `${path}[${i}]`, previous);
    });
  }
}

function validateObject(ctx: Context, value: JsonMap, s: Schema, path: string, old: unknown): void {
  const where = path || '<root>';
  const count = Object.keys(value).length;
  if (s.maxProperties !== undefined && count > s.maxProperties) {
    fail(
      ctx,
      'FieldValueTooMany',
      where,
      `Too many: ${count}: must have at most ${s.maxProperties} items`,
    );
  }
  if (s.minProperties !== undefined && count < s.minProperties) {
    fail(
      ctx,
      'FieldValueInvalid',
      where,
      `Invalid value: ${count}: ${where} in body should have at least ${s.minProperties} properties`,
    );
  }
  for (const key of s.required ?? []) {
    if (value[key] === undefined)
      fail(ctx, 'FieldValueRequired', childPath(path, key), 'Required value');
  }
  const oldMap = isMap(old) ? old : undefined;
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue;
    const declared = s.properties?.[key];
    if (path === '' && key === 'metadata') continue;
    if (declared) validateNode(ctx, child, declared, childPath(path, key), oldMap?.[key]);
    else if (isMap(s.additionalProperties)) {
      validateNode(ctx, child, s.additionalProperties as Schema, `${path}[${key}]`, oldMap?.[key]);
    }
  }
}

function validateRules(ctx: Context, value: unknown, s: Schema, path: string, old: unknown): void {
  for (const v of s['x-kubernetes-validations'] ?? []) {
    const program = findCelProgram(v.rule);
    if (!program) continue;
    // Transition rules (oldSelf) only run on updates where an old value exists.
    if (program.usesOldSelf && old === undefined) continue;
    const field = v.fieldPath ? `${path}${v.fieldPath}` : path || '<root>';
    // Like the API server, CEL failures name the schema type, not the value.
    const shown = JSON.stringify(s.type ?? jsonType(value));
    try {
      if (program.evaluate(value, old) !== true) {
        const message = v.message ?? `failed rule: ${v.rule}`;
        fail(ctx, v.reason ?? 'FieldValueInvalid', field, `Invalid value: ${shown}: ${message}`);
      }
    } catch (err) {
      if (!(err instanceof CelError)) throw err;
      fail(
        ctx,
        'FieldValueInvalid',
        field,
        `Invalid value: ${shown}: ${err.message} evaluating rule: ${v.rule}`,
      );
    }
  }
}

/** Every violation of `schema` by `obj` (the whole object; metadata.name is checked too). */
export function validateAgainstSchema(obj: JsonMap, schema: Schema, old?: JsonMap): StatusCause[] {
  const ctx: Context = { causes: [] };
  validateNode(ctx, obj, schema, '', old);
  // The schema may constrain metadata.name and generateName, nothing else of ObjectMeta.
  const metaSchema = schema.properties?.metadata;
  const meta = obj.metadata;
  if (metaSchema && isMap(meta)) {
    for (const key of ['name', 'generateName']) {
      const propSchema = metaSchema.properties?.[key];
      if (propSchema && meta[key] !== undefined) {
        validateNode(ctx, meta[key], propSchema, `metadata.${key}`, undefined);
      }
    }
  }
  return ctx.causes;
}
