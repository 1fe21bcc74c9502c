/**
 * Building blocks of the CRD schemas (schemas.ts): the structural-schema type, the patterns
 * shared with Herald's own validator, and small constructors that keep every node typed.
 *
 * Patterns are written for both engines that run them: the API server (Go RE2) and ajv
 * (ECMAScript). So: no look-around, no back-references, `[0-9]` rather than `\d`.
 */

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that Herald's CRDs use. */
export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, StructuralSchema>;
  additionalProperties?: StructuralSchema;
  items?: StructuralSchema;
  required?: string[];
  enum?: (string | number | boolean)[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  anyOf?: StructuralSchema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelValidation[];
}

/** One `x-kubernetes-validations` entry (a CEL rule the API server evaluates). */
export interface CelValidation {
  rule: string;
  message: string;
  /** Where the API server reports a failure, relative to the node holding the rule. */
  fieldPath?: string;
}

/** RFC 1123 label: names of EventTypes, Producers, Subscriptions, and namespaces. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** RFC 1123 subdomain: names of Secrets. */
export const DNS_SUBDOMAIN_PATTERN =
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** The same language as core/duration.ts `isDuration` ("10s", "1.5h", "1h30m", "2d"). */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$';
/** A zero duration however it is spelled ("0s", "0.0m", "0h0m"); see NONZERO_DURATION_RULE. */
export const ZERO_DURATION_PATTERN = '^([0.]+(ms|s|m|h|d))+$';
/** The byte sizes core/duration.ts `parseByteQuantity` accepts ("1Gi", "500M", "1024"). */
export const BYTE_QUANTITY_PATTERN = '^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$';
/** Keys of a Secret's data, as the API server allows them. */
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
/** An absolute http(s) URL without whitespace. */
export const HTTP_URL_PATTERN = '^https?://[^\\s/?#]+([/?#]\\S*)?$';
/** A CloudEvents `type`: any non-empty string without whitespace. */
export const EVENT_TYPE_PATTERN = '^\\S+$';
/** An allowed `source`: literal, optionally ending in one `*` (any suffix); `*` alone = any. */
export const SOURCE_PATTERN = '^[^*\\s]*\\*?$';
/** A media type such as `application/json` or `text/plain; charset=utf-8`. */
export const MEDIA_TYPE_PATTERN =
  '^[A-Za-z0-9][-A-Za-z0-9!#$&^_.+]*/[A-Za-z0-9][-A-Za-z0-9!#$&^_.+]*(\\s*;.*)?$';
/** An HTTP header field name (RFC 9110 token). */
export const HEADER_NAME_PATTERN = "^[-A-Za-z0-9!#$%&'*+.^_`|~]+$";
/**
 * `new`, `earliest`, or an RFC 3339 date-time. Month, day, hour, minute and second ranges are
 * in the pattern, so OpenAPI alone refuses nearly every bad time (only "Feb 30" gets through,
 * and the operator reports that), without a CEL rule.
 */
export const START_FROM_PATTERN =
  '^(new|earliest|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$';
/** metav1.Condition `type` and `reason`, as Kubernetes validates them. */
export const CONDITION_TYPE_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

/** Human wording for a value that fails one of the patterns above (used in error messages). */
export const PATTERN_HINTS: Readonly<Record<string, string>> = {
  [DNS_LABEL_PATTERN]:
    'must be a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, no dots',
  [DNS_SUBDOMAIN_PATTERN]:
    'must be a DNS subdomain: lowercase letters, digits, "-" and ".", each part starting and ending with a letter or digit',
  [DURATION_PATTERN]:
    'must be a duration: a number and a unit (ms, s, m, h, d), e.g. "10s", "2m", "168h" or "1h30m"',
  [BYTE_QUANTITY_PATTERN]:
    'must be a byte size: an integer with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T), e.g. "1Gi"',
  [SECRET_KEY_PATTERN]: 'must be a Secret key: letters, digits, "-", "_" and "."',
  [HTTP_URL_PATTERN]: 'must be an absolute http:// or https:// URL',
  [EVENT_TYPE_PATTERN]:
    'must be a CloudEvents type without whitespace, e.g. "com.example.order.created"',
  [SOURCE_PATTERN]: 'must be a source pattern: no whitespace, and "*" only as the last character',
  [MEDIA_TYPE_PATTERN]: 'must be a media type such as "application/json"',
  [HEADER_NAME_PATTERN]: 'must be an HTTP header name such as "X-Api-Key"',
  [START_FROM_PATTERN]:
    'must be "new", "earliest", or an RFC 3339 time such as "2024-05-01T00:00:00Z"',
};

export const STORAGE_TYPES = ['file', 'memory'] as const;
export const DELETION_POLICIES = ['Retain', 'Delete'] as const;
export const DELIVERY_MODES = ['binary', 'structured'] as const;
export const BACKOFF_KINDS = ['exponential', 'linear'] as const;
export const ORDERINGS = ['none', 'ordered'] as const;
export const VERIFICATIONS = ['none', 'handshake'] as const;
/** How the dispatcher authenticates to an OAuth 2.0 token endpoint (sink.auth.oauth2). */
export const OAUTH2_CLIENT_AUTHENTICATIONS = ['basic', 'post', 'privateKeyJwt'] as const;
/** JWS algorithms of a privateKeyJwt client assertion. */
export const OAUTH2_ASSERTION_ALGORITHMS = ['RS256', 'ES256'] as const;
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

/** Upper bounds keep objects small and, where CEL runs, the API server's cost estimate low. */
export const Limits = {
  nameLength: 63,
  secretNameLength: 253,
  referencedNames: 64,
  sources: 64,
  apiKeys: 8,
  /** Signing secrets of one Subscription (secretRef and secretRefs together). */
  signingSecrets: 5,
  /** Extra token-request parameters of sink.auth.oauth2 (`audience`, `resource`, …). */
  oauth2Parameters: 16,
  filters: 16,
  filterOperands: 8,
  urlLength: 2048,
  textLength: 4096,
  replicas: 5,
  maxAttempts: 1000,
  maxInFlight: 10000,
  eventsPerSecond: 1_000_000,
} as const;

type Options = Omit<StructuralSchema, 'type'>;

export function describeDefault(text: string, value: string | number | boolean): string {
  return `${text} Default: ${String(value)}.`;
}

export function stringSchema(description: string, options: Options = {}): StructuralSchema {
  return { type: 'string', description, ...options };
}

export function enumSchema(
  description: string,
  values: readonly string[],
  options: Options = {},
): StructuralSchema {
  return { type: 'string', description, enum: [...values], ...options };
}

export function integerSchema(description: string, options: Options = {}): StructuralSchema {
  return { type: 'integer', description, ...options };
}

export function booleanSchema(description: string): StructuralSchema {
  return { type: 'boolean', description };
}

export function durationSchema(description: string, options: Options = {}): StructuralSchema {
  return stringSchema(description, { maxLength: 64, pattern: DURATION_PATTERN, ...options });
}

export function urlSchema(description: string): StructuralSchema {
  return stringSchema(description, { maxLength: Limits.urlLength, pattern: HTTP_URL_PATTERN });
}

export function objectSchema(
  description: string,
  properties: Record<string, StructuralSchema>,
  options: Options = {},
): StructuralSchema {
  return { type: 'object', description, properties, ...options };
}

/** A list of EventType names in the same namespace; a set, so duplicates are refused. */
export function eventTypeNamesSchema(description: string): StructuralSchema {
  return {
    type: 'array',
    description,
    minItems: 1,
    maxItems: Limits.referencedNames,
    items: stringSchema('An EventType name (a DNS label).', {
      maxLength: Limits.nameLength,
      pattern: DNS_LABEL_PATTERN,
    }),
    'x-kubernetes-list-type': 'set',
  };
}

export function secretKeyRefSchema(description: string): StructuralSchema {
  return objectSchema(
    description,
    {
      name: stringSchema('Name of a Secret in the same namespace.', {
        maxLength: Limits.secretNameLength,
        pattern: DNS_SUBDOMAIN_PATTERN,
      }),
      key: stringSchema('Key within the Secret.', { maxLength: 253, pattern: SECRET_KEY_PATTERN }),
    },
    { required: ['name', 'key'] },
  );
}

export function eventsPerSecondSchema(description: string): StructuralSchema {
  return integerSchema(description, { minimum: 1, maximum: Limits.eventsPerSecond });
}

const conditionSchema: StructuralSchema = objectSchema(
  'A Kubernetes condition (metav1.Condition).',
  {
    type: stringSchema('Condition type, e.g. Ready.', {
      maxLength: 316,
      pattern: CONDITION_TYPE_PATTERN,
    }),
    status: enumSchema('True, False or Unknown.', CONDITION_STATUSES),
    reason: stringSchema('CamelCase reason for the last transition.', {
      minLength: 1,
      maxLength: 1024,
      pattern: CONDITION_REASON_PATTERN,
    }),
    message: stringSchema('Human-readable details.', { maxLength: 32768 }),
    lastTransitionTime: stringSchema('When the status last changed.', { format: 'date-time' }),
    observedGeneration: integerSchema('The .metadata.generation the condition was set for.', {
      minimum: 0,
    }),
  },
  { required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'] },
);

/** A status with observedGeneration and conditions, plus the kind's own fields. */
export function statusSchema(
  conditionTypes: readonly string[],
  properties: Record<string, StructuralSchema> = {},
): StructuralSchema {
  return objectSchema('Observed state, written by the operator.', {
    observedGeneration: integerSchema('The .metadata.generation the operator last acted on.', {
      minimum: 0,
    }),
    conditions: {
      type: 'array',
      description: `Conditions: ${conditionTypes.join(', ')}.`,
      maxItems: 16,
      items: conditionSchema,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
    ...properties,
  });
}
