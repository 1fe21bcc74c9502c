/**
 * Checks a value against a CRD structural schema with ajv, the way the API server would:
 * - `x-kubernetes-*` keywords are known to ajv; `x-kubernetes-list-type` (set/map) is enforced,
 *   and each `x-kubernetes-validations` rule runs its TypeScript twin (cel-rules.ts);
 * - unknown fields are errors, as with kubectl's default `--validate=strict` (the API server
 *   would otherwise prune them silently, which hides typos);
 * - `null` in a non-nullable field is dropped first, as the API server prunes it.
 * Errors come back with Kubernetes-style paths (`spec.delivery.retry.maxAttempts`).
 */
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { findCelRule } from './cel-rules.js';
import { PATTERN_HINTS, type CelValidation, type StructuralSchema } from './schema-parts.js';

export interface FieldError {
  path: string;
  message: string;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** An ajv instance that understands the Kubernetes extensions of OpenAPI v3. */
export function createKubernetesAjv(): Ajv {
  // strictTypes is off: int-or-string nodes carry `pattern`/`minimum` without a `type`.
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, verbose: true });
  addFormats.default(ajv, ['date-time']);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  for (const keyword of [
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-int-or-string',
    'x-kubernetes-embedded-resource',
  ]) {
    ajv.addKeyword({ keyword, schemaType: 'boolean' });
  }
  ajv.addKeyword({ keyword: 'x-kubernetes-list-map-keys', schemaType: 'array' });
  ajv.addKeyword({ keyword: 'x-kubernetes-map-type', schemaType: 'string' });
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-type',
    schemaType: 'string',
    type: 'array',
    errors: true,
    compile(listType: string, parentSchema: AnySchemaObject) {
      const mapKeys = (parentSchema['x-kubernetes-list-map-keys'] ?? []) as string[];
      const identify = (item: unknown): string | undefined => {
        if (listType === 'set') return JSON.stringify(item);
        if (listType === 'map' && isObject(item))
          return JSON.stringify(mapKeys.map((k) => item[k]));
        return undefined;
      };
      const check = (data: unknown[]): boolean => {
        const seen = new Set<string>();
        check.errors = [];
        for (const item of data) {
          const id = identify(item);
          if (id === undefined) continue;
          if (seen.has(id)) {
            check.errors.push({
              keyword: 'x-kubernetes-list-type',
              message: `must not contain duplicates: ${describeValue(listType === 'set' ? item : JSON.parse(id))}`,
            });
          }
          seen.add(id);
        }
        return check.errors.length === 0;
      };
      check.errors = [] as Partial<ErrorObject>[];
      return check;
    },
  });
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    schemaType: 'array',
    errors: true,
    compile(validations: CelValidation[]) {
      const rules = validations.map((v) => {
        const twin = findCelRule(v.rule);
        if (!twin) throw new Error(`no TypeScript twin for CEL rule: ${v.rule}`);
        return twin;
      });
      const check = (data: unknown): boolean => {
        check.errors = rules
          .filter((rule) => !rule.holds(data))
          .map((rule) => ({
            keyword: 'x-kubernetes-validations',
            message: rule.message,
            params: { fieldPath: rule.fieldPath ?? '' },
          }));
        return check.errors.length === 0;
      };
      check.errors = [] as Partial<ErrorObject>[];
      return check;
    },
  });
  return ajv;
}

/** The schema as ajv should see it: objects with `properties` refuse unknown fields. */
export function closeObjectSchemas(schema: StructuralSchema): AnySchemaObject {
  const out: AnySchemaObject = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, closeObjectSchemas(v)]),
    );
    if (!schema['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  }
  if (schema.additionalProperties) {
    out.additionalProperties = closeObjectSchemas(schema.additionalProperties);
  }
  if (schema.items) out.items = closeObjectSchemas(schema.items);
  return out;
}

/** A deep copy of `value` without the `null` fields the API server would prune. */
export function pruneNulls(value: unknown, schema: StructuralSchema | undefined): unknown {
  if (!schema) return structuredClone(value);
  if (Array.isArray(value)) return value.map((item) => pruneNulls(item, schema.items));
  if (!isObject(value)) return value;
  if (!schema.properties && !schema.additionalProperties) return structuredClone(value);
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const itemSchema = schema.properties?.[key] ?? schema.additionalProperties;
    if (item === null && itemSchema && !itemSchema.nullable) continue;
    out[key] = pruneNulls(item, itemSchema);
  }
  return out;
}

/** Appends a JSON-pointer-ish list of keys to a Kubernetes field path, reading `data` for arrays. */
export function joinFieldPath(base: string, keys: readonly string[], data: unknown): string {
  let path = base;
  let current = data;
  for (const key of keys) {
    if (Array.isArray(current)) {
      path += `[${key}]`;
      current = current[Number(key)];
    } else {
      path += /^[A-Za-z0-9_-]+$/.test(key)
        ? `${path === '' ? '' : '.'}${key}`
        : `[${JSON.stringify(key)}]`;
      current = isObject(current) ? current[key] : undefined;
    }
  }
  return path;
}

function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object (a map of fields)',
  array: 'a list',
  null: 'null',
};

function listKnownFields(parentSchema: AnySchemaObject | undefined): string[] {
  return Object.keys((parentSchema?.properties ?? {}) as JsonObject);
}

/** Turns one ajv error into a field error, or undefined for noise (anyOf branches). */
function translateAjvError(
  error: ErrorObject,
  base: string,
  data: unknown,
): FieldError | undefined {
  if (/\/anyOf\/\d+\//.test(error.schemaPath)) return undefined;
  const keys = splitPointer(error.instancePath);
  const at = (...more: string[]): string => joinFieldPath(base, [...keys, ...more], data);
  const params = error.params as Record<string, unknown>;
  const parentSchema = error.parentSchema;
  switch (error.keyword) {
    case 'required':
      return { path: at(String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = listKnownFields(parentSchema);
      const nestingHint =
        ['all', 'any', 'not'].includes(field) && known.includes('sql')
          ? '; filters nest at most two levels of all/any/not: use a sql filter for deeper logic'
          : '';
      return {
        path: at(field),
        message: `unknown field (known fields: ${known.join(', ')})${nestingHint}`,
      };
    }
    case 'type': {
      const types = String(params.type).split(',');
      return {
        path: at(),
        message: `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`,
      };
    }
    case 'enum':
      return {
        path: at(),
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => String(v)).join(', ')} (got ${describeValue(error.data)})`,
      };
    case 'pattern': {
      const hint = PATTERN_HINTS[String(params.pattern)] ?? `must match ${String(params.pattern)}`;
      return { path: at(), message: `${hint} (got ${describeValue(error.data)})` };
    }
    case 'minimum':
    case 'maximum':
      return {
        path: at(),
        message: `must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${String(params.limit)} (got ${describeValue(error.data)})`,
      };
    case 'minLength':
      return {
        path: at(),
        message:
          params.limit === 1
            ? 'must not be empty'
            : `must be at least ${String(params.limit)} characters`,
      };
    case 'maxLength':
      return { path: at(), message: `must be at most ${String(params.limit)} characters` };
    case 'minItems':
      return { path: at(), message: `must list at least ${String(params.limit)} item(s)` };
    case 'maxItems':
      return { path: at(), message: `must list at most ${String(params.limit)} items` };
    case 'minProperties':
    case 'maxProperties':
      return { path: at(), message: describePropertyCount(error, parentSchema) };
    case 'anyOf':
      return parentSchema?.['x-kubernetes-int-or-string']
        ? { path: at(), message: 'must be an integer or a string' }
        : { path: at(), message: error.message ?? 'is invalid' };
    case 'format':
      return { path: at(), message: `must be a valid ${String(params.format)}` };
    case 'x-kubernetes-validations': {
      const fieldPath = String(params.fieldPath ?? '').replace(/^\./, '');
      return { path: at(...(fieldPath ? fieldPath.split('.') : [])), message: error.message ?? '' };
    }
    default:
      return { path: at(), message: error.message ?? 'is invalid' };
  }
}

function describePropertyCount(
  error: ErrorObject,
  parentSchema: AnySchemaObject | undefined,
): string {
  const known = listKnownFields(parentSchema);
  const present = isObject(error.data) ? Object.keys(error.data) : [];
  const exactlyOne = parentSchema?.minProperties === 1 && parentSchema?.maxProperties === 1;
  if (known.length === 0) {
    return exactlyOne
      ? `must have exactly one entry (has ${present.length})`
      : (error.message ?? 'has the wrong number of entries');
  }
  if (exactlyOne) {
    return present.length === 0
      ? `must set exactly one of: ${known.join(', ')}`
      : `must set exactly one of: ${known.join(', ')} (found ${present.join(', ')})`;
  }
  if (error.keyword === 'minProperties') return `must set at least one of: ${known.join(', ')}`;
  return `must set at most ${String(error.params.limit)} of: ${known.join(', ')}`;
}

/** Compiles `schema` once; the returned function checks a value and returns field errors. */
export function compileSchemaValidator(
  ajv: Ajv,
  schema: StructuralSchema,
): (value: unknown, basePath: string) => { value: unknown; errors: FieldError[] } {
  const validate: ValidateFunction = ajv.compile(closeObjectSchemas(schema));
  return (value, basePath) => {
    const pruned = pruneNulls(value, schema);
    if (validate(pruned)) return { value: pruned, errors: [] };
    const seen = new Set<string>();
    const errors: FieldError[] = [];
    for (const ajvError of validate.errors ?? []) {
      const fieldError = translateAjvError(ajvError, basePath, pruned);
      if (!fieldError) continue;
      const id = `${fieldError.path}\u0000${fieldError.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      errors.push(fieldError);
    }
    return { value: pruned, errors };
  };
}
