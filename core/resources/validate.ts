/**
 * Herald's own admission check for resource documents: what `kubectl apply` with the CRDs of
 * crds/ would refuse, checked in-process so file mode (`herald run`) and the operator refuse
 * the same things. The spec is checked against the very schemas the CRDs are built from.
 *
 * Not checked here (the operator reports them as conditions, as it must for the cluster too):
 * references to EventTypes and Secrets, uniqueness of `spec.type`, whether `spec.schema`
 * compiles, and CESQL syntax. `status` is passed through unchecked: the status subresource
 * makes the API server ignore it on create and update, and only the operator writes it.
 */
import {
  compileSchemaValidator,
  createKubernetesAjv,
  joinFieldPath,
  type FieldError,
} from './schema-validator.js';
import {
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_PATTERN,
  Limits,
  PATTERN_HINTS,
  SECRET_KEY_PATTERN,
} from './schema-parts.js';
import { selectSpecSchema } from './schemas.js';
import { API_VERSION, Kind, type HeraldResource, type Secret } from './types.js';

export type { FieldError } from './schema-validator.js';

export type ValidationResult =
  | { ok: true; resource: HeraldResource | Secret }
  | { ok: false; kind?: string; name?: string; errors: FieldError[] };

type JsonObject = Record<string, unknown>;

const HERALD_KINDS: readonly string[] = Object.values(Kind);
const HERALD_TOP_LEVEL = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const SECRET_TOP_LEVEL = [
  'apiVersion',
  'kind',
  'metadata',
  'type',
  'immutable',
  'data',
  'stringData',
];
const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);
const DNS_SUBDOMAIN = new RegExp(DNS_SUBDOMAIN_PATTERN);
const SECRET_KEY = new RegExp(SECRET_KEY_PATTERN);
/** Standard base64 with padding, as the API server decodes Secret data. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// One ajv instance and one compiled validator per kind, made on first use.
let specValidators: Map<Kind, ReturnType<typeof compileSchemaValidator>> | undefined;

function selectSpecValidator(kind: Kind): ReturnType<typeof compileSchemaValidator> {
  if (!specValidators) {
    const ajv = createKubernetesAjv();
    specValidators = new Map(
      Object.values(Kind).map((k) => [k, compileSchemaValidator(ajv, selectSpecSchema(k))]),
    );
  }
  return specValidators.get(kind)!;
}

/** True for the documents Herald reads (its three kinds and v1 Secrets); file mode skips others. */
export function isHeraldDocument(obj: unknown): boolean {
  if (!isObject(obj)) return false;
  if (obj.apiVersion === 'v1' && obj.kind === 'Secret') return true;
  return obj.apiVersion === API_VERSION && HERALD_KINDS.includes(String(obj.kind));
}

function checkName(value: unknown, path: string, subdomain: boolean, errors: FieldError[]): void {
  const pattern = subdomain ? DNS_SUBDOMAIN_PATTERN : DNS_LABEL_PATTERN;
  const max = subdomain ? Limits.secretNameLength : Limits.nameLength;
  if (typeof value !== 'string' || value === '') {
    errors.push({
      path,
      message: value === undefined ? 'is required' : 'must be a non-empty string',
    });
  } else if (value.length > max) {
    errors.push({ path, message: `must be at most ${max} characters` });
  } else if (!(subdomain ? DNS_SUBDOMAIN : DNS_LABEL).test(value)) {
    errors.push({ path, message: `${PATTERN_HINTS[pattern]} (got ${JSON.stringify(value)})` });
  }
}

function checkStringMap(value: unknown, path: string, errors: FieldError[]): void {
  if (value === undefined || value === null) return;
  if (!isObject(value)) {
    errors.push({ path, message: 'must be a map of strings' });
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      errors.push({ path: joinFieldPath(path, [key], value), message: 'must be a string' });
    }
  }
}

function checkMetadata(metadata: unknown, isSecret: boolean, errors: FieldError[]): void {
  if (!isObject(metadata)) {
    errors.push({
      path: 'metadata',
      message: metadata === undefined ? 'is required' : 'must be an object',
    });
    return;
  }
  checkName(metadata.name, 'metadata.name', isSecret, errors);
  if (metadata.namespace !== undefined && metadata.namespace !== null) {
    checkName(metadata.namespace, 'metadata.namespace', false, errors);
  }
  checkStringMap(metadata.labels, 'metadata.labels', errors);
  checkStringMap(metadata.annotations, 'metadata.annotations', errors);
}

function checkTopLevelFields(
  obj: JsonObject,
  known: readonly string[],
  errors: FieldError[],
): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      errors.push({ path: key, message: `unknown field (known fields: ${known.join(', ')})` });
    }
  }
}

function checkSecretMap(value: unknown, field: 'data' | 'stringData', errors: FieldError[]): void {
  if (value === undefined || value === null) return;
  if (!isObject(value)) {
    errors.push({ path: field, message: 'must be a map of key to value' });
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const path = joinFieldPath(field, [key], value);
    if (key.length > 253 || !SECRET_KEY.test(key)) {
      errors.push({ path, message: PATTERN_HINTS[SECRET_KEY_PATTERN]! });
    }
    if (typeof item !== 'string') {
      errors.push({
        path,
        message:
          field === 'data'
            ? 'must be a base64 string'
            : 'must be a string (quote numbers and booleans)',
      });
    } else if (field === 'data' && !BASE64.test(item.replace(/[\r\n]/g, ''))) {
      errors.push({
        path,
        message: 'must be valid base64 (put plain text under stringData instead)',
      });
    }
  }
}

function checkSecret(obj: JsonObject, errors: FieldError[]): void {
  if (obj.type !== undefined && typeof obj.type !== 'string') {
    errors.push({ path: 'type', message: 'must be a string' });
  }
  if (obj.immutable !== undefined && typeof obj.immutable !== 'boolean') {
    errors.push({ path: 'immutable', message: 'must be true or false' });
  }
  checkSecretMap(obj.data, 'data', errors);
  checkSecretMap(obj.stringData, 'stringData', errors);
}

function checkApiVersionAndKind(
  obj: JsonObject,
  errors: FieldError[],
): 'herald' | 'secret' | undefined {
  const { apiVersion, kind } = obj;
  if (typeof kind !== 'string' || kind === '') {
    errors.push({
      path: 'kind',
      message: kind === undefined ? 'is required' : 'must be a non-empty string',
    });
    return undefined;
  }
  if (HERALD_KINDS.includes(kind)) {
    if (apiVersion === API_VERSION) return 'herald';
    errors.push({
      path: 'apiVersion',
      message: `must be ${API_VERSION} for kind ${kind} (got ${JSON.stringify(apiVersion ?? null)})`,
    });
    return undefined;
  }
  if (kind === 'Secret') {
    if (apiVersion === 'v1') return 'secret';
    errors.push({
      path: 'apiVersion',
      message: `must be v1 for kind Secret (got ${JSON.stringify(apiVersion ?? null)})`,
    });
    return undefined;
  }
  errors.push({
    path: 'kind',
    message: `${kind} is not a Herald resource: expected ${HERALD_KINDS.join(', ')} (${API_VERSION}) or Secret (v1)`,
  });
  return undefined;
}

/**
 * Validates one parsed YAML/JSON document. On success `resource` is a copy with `null` fields
 * pruned (as the API server stores it); on failure every error has a field path such as
 * `spec.delivery.retry.maxAttempts` (`""` when the document itself is not an object).
 */
export function validateResource(obj: unknown): ValidationResult {
  if (!isObject(obj)) {
    return {
      ok: false,
      errors: [{ path: '', message: 'must be an object (one Kubernetes resource)' }],
    };
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : undefined;
  const name =
    isObject(obj.metadata) && typeof obj.metadata.name === 'string' ? obj.metadata.name : undefined;
  const fail = (errors: FieldError[]): ValidationResult => ({ ok: false, kind, name, errors });
  const errors: FieldError[] = [];
  const family = checkApiVersionAndKind(obj, errors);
  if (!family) return fail(errors);

  checkTopLevelFields(obj, family === 'secret' ? SECRET_TOP_LEVEL : HERALD_TOP_LEVEL, errors);
  checkMetadata(obj.metadata, family === 'secret', errors);
  if (family === 'secret') {
    checkSecret(obj, errors);
    if (errors.length > 0) return fail(errors);
    const secret = structuredClone(obj);
    for (const field of ['data', 'stringData', 'type', 'immutable']) {
      if (secret[field] === null) delete secret[field];
    }
    return { ok: true, resource: secret as unknown as Secret };
  }

  let spec: unknown;
  if (obj.spec === undefined || obj.spec === null) {
    errors.push({ path: 'spec', message: 'is required' });
  } else if (!isObject(obj.spec)) {
    errors.push({ path: 'spec', message: 'must be an object (a map of fields)' });
  } else {
    const checked = selectSpecValidator(kind as Kind)(obj.spec, 'spec');
    errors.push(...checked.errors);
    spec = checked.value;
  }
  if (errors.length > 0) return fail(errors);
  const resource = { ...structuredClone(obj), spec };
  return { ok: true, resource: resource as unknown as HeraldResource };
}

/** One line per error, e.g. `Subscription shop/demo: spec.delivery.timeout: must be a duration…`. */
export function describeInvalidResource(
  failure: Extract<ValidationResult, { ok: false }>,
  namespace?: string,
): string {
  const subject = [
    failure.kind ?? 'document',
    namespace && failure.name ? `${namespace}/${failure.name}` : failure.name,
  ]
    .filter(Boolean)
    .join(' ');
  return failure.errors
    .map((e) => `${subject}: ${e.path === '' ? '' : `${e.path}: `}${e.message}`)
    .join('\n');
}

/**
 * The value of `key` in a Secret, as text. `stringData` wins over `data`, as the API server
 * merges them on write. Undefined when the key is in neither.
 */
export function readSecretValue(secret: Secret, key: string): string | undefined {
  if (secret.stringData && Object.hasOwn(secret.stringData, key)) return secret.stringData[key];
  if (secret.data && Object.hasOwn(secret.data, key)) {
    const encoded = secret.data[key];
    return typeof encoded === 'string'
      ? Buffer.from(encoded, 'base64').toString('utf8')
      : undefined;
  }
  return undefined;
}
