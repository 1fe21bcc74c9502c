/**
 * The OpenAPI v3 structural schemas of Herald's custom resources (DESIGN.md §2): the single
 * source of the CRDs in crds/ (via crds.ts) and of Herald's own validator (validate.ts).
 *
 * Defaults are documented in descriptions but not set with `default:`: the operator applies
 * `Defaults` from types.ts, so the API server (cluster) and the file loader (`herald run`)
 * see the same objects and a default can change without rewriting stored resources.
 */
import {
  BYTE_QUANTITY_PATTERN,
  DELETION_POLICIES,
  DNS_LABEL_PATTERN,
  EVENT_TYPE_PATTERN,
  Limits,
  MEDIA_TYPE_PATTERN,
  SOURCE_PATTERN,
  STORAGE_TYPES,
  booleanSchema,
  describeDefault,
  enumSchema,
  eventTypeNamesSchema,
  eventsPerSecondSchema,
  integerSchema,
  objectSchema,
  secretKeyRefSchema,
  statusSchema,
  stringSchema,
  urlSchema,
  type StructuralSchema,
} from './schema-parts.js';
import { durationFieldSchema } from './duration-ranges.js';
import { subscriptionSpecSchema, subscriptionStatusSchema } from './subscription-schema.js';
import { API_VERSION, Defaults, type Kind } from './types.js';

export type { StructuralSchema } from './schema-parts.js';

export const eventTypeSpecSchema: StructuralSchema = objectSchema(
  'A CloudEvents type that producers may publish: its data schema and how its stream keeps events.',
  {
    type: stringSchema(
      'The CloudEvents `type` attribute, e.g. com.example.order.created; unique among the EventTypes of the namespace.',
      { minLength: 1, maxLength: 255, pattern: EVENT_TYPE_PATTERN },
    ),
    description: stringSchema('What the event means, for people.', {
      maxLength: Limits.textLength,
    }),
    schema: {
      type: 'object',
      description:
        'JSON Schema (2020-12) for the event `data`, compiled by the operator (condition SchemaValid). Omit to accept any data.',
      // The one place arbitrary JSON is needed: a JSON Schema has no fixed shape.
      'x-kubernetes-preserve-unknown-fields': true,
    },
    dataContentType: stringSchema(
      describeDefault('Media type of `data`.', Defaults.dataContentType),
      { maxLength: 256, pattern: MEDIA_TYPE_PATTERN },
    ),
    retention: objectSchema('How the JetStream stream of this type keeps events.', {
      maxAge: durationFieldSchema('Oldest event kept.', 'retentionMaxAge'),
      maxBytes: {
        description: 'Size bound of the stream, e.g. 1Gi or 1073741824. Default: unlimited.',
        'x-kubernetes-int-or-string': true,
        anyOf: [{ type: 'integer' }, { type: 'string' }],
        pattern: BYTE_QUANTITY_PATTERN,
        minimum: 1,
      },
      replicas: integerSchema(
        describeDefault('Stream replicas (3 for HA on a NATS cluster).', Defaults.replicas),
        { minimum: 1, maximum: Limits.replicas },
      ),
      storage: enumSchema(describeDefault('JetStream storage.', Defaults.storage), STORAGE_TYPES),
    }),
    duplicateWindow: durationFieldSchema(
      'How long a (source, id) pair is remembered to refuse duplicates; at most retention.maxAge.',
      'duplicateWindow',
    ),
    deprecated: booleanSchema('Still accepted, but flagged in the registry and to producers.'),
    deletionPolicy: enumSchema(
      describeDefault(
        'What happens to the stream when this EventType is deleted.',
        Defaults.deletionPolicy,
      ),
      DELETION_POLICIES,
    ),
  },
  { required: ['type'] },
);

export const eventTypeStatusSchema: StructuralSchema = statusSchema(
  ['SchemaValid', 'StreamReady', 'Ready'],
  {
    stream: stringSchema('The JetStream stream holding this type.'),
    subject: stringSchema('The subject events are stored under.'),
    schemaDigest: stringSchema('sha256 of the canonical schema.'),
  },
);

export const producerSpecSchema: StructuralSchema = objectSchema(
  'A partner or service allowed to publish some EventTypes, and its credentials.',
  {
    displayName: stringSchema('Name shown to people.', { maxLength: 256 }),
    eventTypes: eventTypeNamesSchema('Names of EventTypes in this namespace it may publish.'),
    sources: {
      type: 'array',
      description: 'Allowed `source` values; a trailing * matches any suffix. Default: any source.',
      maxItems: Limits.sources,
      items: stringSchema('A source pattern.', {
        minLength: 1,
        maxLength: Limits.urlLength,
        pattern: SOURCE_PATTERN,
      }),
      'x-kubernetes-list-type': 'set',
    },
    auth: objectSchema(
      'How the producer authenticates; at least one method.',
      {
        apiKeys: {
          type: 'array',
          description:
            'API keys accepted as `Authorization: Bearer` or `X-API-Key`; several during rotation.',
          minItems: 1,
          maxItems: Limits.apiKeys,
          items: objectSchema(
            'One API key.',
            { secretRef: secretKeyRefSchema('The Secret key holding the API key.') },
            { required: ['secretRef'] },
          ),
        },
        hmac: objectSchema(
          'Request signatures in the Standard Webhooks scheme.',
          { secretRef: secretKeyRefSchema('The Secret key holding the whsec_… secret.') },
          { required: ['secretRef'] },
        ),
        jwt: objectSchema(
          'Bearer JWTs from an identity provider.',
          {
            issuer: stringSchema('Expected `iss`.', { minLength: 1, maxLength: Limits.urlLength }),
            audience: stringSchema('Expected `aud`.', { minLength: 1, maxLength: 1024 }),
            jwksUri: urlSchema('Where the signing keys are published.'),
            subject: stringSchema(
              'The only `sub` accepted. Needed when several producers trust the same issuer and audience. Default: any subject.',
              { minLength: 1, maxLength: 1024 },
            ),
          },
          { required: ['issuer', 'audience', 'jwksUri'] },
        ),
      },
      { minProperties: 1 },
    ),
    rateLimit: objectSchema(
      'Token bucket for this producer.',
      {
        eventsPerSecond: eventsPerSecondSchema('Sustained events per second.'),
        burst: integerSchema('Bucket size. Default: eventsPerSecond.', {
          minimum: 1,
          maximum: Limits.eventsPerSecond,
        }),
      },
      { required: ['eventsPerSecond'] },
    ),
  },
  { required: ['eventTypes', 'auth'] },
);

export const producerStatusSchema: StructuralSchema = statusSchema(['CredentialsReady', 'Ready']);

const SPEC_AND_STATUS: Record<Kind, { spec: StructuralSchema; status: StructuralSchema }> = {
  EventType: { spec: eventTypeSpecSchema, status: eventTypeStatusSchema },
  Producer: { spec: producerSpecSchema, status: producerStatusSchema },
  Subscription: { spec: subscriptionSpecSchema, status: subscriptionStatusSchema },
};

const KIND_DESCRIPTIONS: Record<Kind, string> = {
  EventType: 'A CloudEvents type registered with Herald: its data schema and its stream.',
  Producer: 'A publisher of events: which EventTypes and sources it may use, and its credentials.',
  Subscription: 'Delivery of some EventTypes, filtered, to a webhook, with a delivery policy.',
};

/** The spec schema of a kind (what validate.ts checks `spec` against). */
export function selectSpecSchema(kind: Kind): StructuralSchema {
  return SPEC_AND_STATUS[kind].spec;
}

/** The whole `openAPIV3Schema` of a kind's CRD version. */
export function buildOpenApiSchema(kind: Kind): StructuralSchema {
  const { spec, status } = SPEC_AND_STATUS[kind];
  return {
    type: 'object',
    description: KIND_DESCRIPTIONS[kind],
    required: ['spec'],
    properties: {
      apiVersion: stringSchema(`${API_VERSION}`),
      kind: stringSchema(kind),
      // Kubernetes allows restricting only name and generateName here.
      metadata: objectSchema('Standard object metadata; the name is a DNS label.', {
        name: stringSchema('A DNS label (no dots), at most 63 characters.', {
          maxLength: Limits.nameLength,
          pattern: DNS_LABEL_PATTERN,
        }),
      }),
      spec,
      status,
    },
  };
}

/** Fields with a default, by kind, keyed by path; the value is the key in `Defaults`. */
export const DEFAULTED_FIELDS = {
  EventType: {
    'spec.dataContentType': 'dataContentType',
    'spec.retention.maxAge': 'retentionMaxAge',
    'spec.retention.replicas': 'replicas',
    'spec.retention.storage': 'storage',
    'spec.duplicateWindow': 'duplicateWindow',
    'spec.deletionPolicy': 'deletionPolicy',
  },
  Producer: {},
  Subscription: {
    'spec.sink.verification': 'verification',
    'spec.sink.auth.oauth2.clientAuthentication': 'oauth2ClientAuthentication',
    'spec.delivery.mode': 'deliveryMode',
    'spec.delivery.timeout': 'timeout',
    'spec.delivery.retry.maxAttempts': 'maxAttempts',
    'spec.delivery.retry.backoff': 'backoff',
    'spec.delivery.retry.initialDelay': 'initialDelay',
    'spec.delivery.retry.maxDelay': 'maxDelay',
    'spec.delivery.retry.retryAfterMax': 'retryAfterMax',
    'spec.delivery.maxInFlight': 'maxInFlight',
    'spec.delivery.ordering': 'ordering',
    'spec.delivery.autoPauseAfter': 'autoPauseAfter',
    'spec.startFrom': 'startFrom',
  },
} as const satisfies Record<Kind, Record<string, keyof typeof Defaults>>;
