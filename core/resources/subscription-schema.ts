/**
 * The Subscription spec and status schemas (DESIGN.md §2), split from schemas.ts for size.
 */
import {
  DEAD_LETTER_SINK_RULE,
  OAUTH2_CLIENT_SECRET_RULE,
  OAUTH2_PARAMETERS_RULE,
  OAUTH2_PRIVATE_KEY_RULE,
  ORDERED_DELIVERY_RULE,
  SIGNING_SECRETS_RULE,
  toCelValidation,
} from './cel-rules.js';
import {
  BACKOFF_KINDS,
  DELIVERY_MODES,
  HEADER_NAME_PATTERN,
  Limits,
  OAUTH2_ASSERTION_ALGORITHMS,
  OAUTH2_CLIENT_AUTHENTICATIONS,
  ORDERINGS,
  START_FROM_PATTERN,
  VERIFICATIONS,
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
import { Defaults } from './types.js';

/**
 * How many levels of all/any/not a filter may nest. Structural schemas cannot recurse, so
 * each level is spelled out; two levels of combinators cover real-world filters (deeper
 * logic belongs in one `sql` filter) while the API server still validates every level.
 */
export const FILTER_NESTING_DEPTH = 2;

export const FILTER_DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'sql'] as const;

function attributeMatchSchema(description: string, minValueLength: number): StructuralSchema {
  return {
    type: 'object',
    description: `${description} Exactly one attribute per filter (AND several filters instead).`,
    minProperties: 1,
    maxProperties: 1,
    additionalProperties: stringSchema('The value to compare with.', {
      ...(minValueLength > 0 ? { minLength: minValueLength } : {}),
      maxLength: Limits.textLength,
    }),
  };
}

/** A filter object that may nest `levels` more levels of all/any/not. */
export function buildFilterSchema(levels: number): StructuralSchema {
  const properties: Record<string, StructuralSchema> = {
    exact: attributeMatchSchema('Maps one attribute name to the value it must equal.', 0),
    prefix: attributeMatchSchema('Maps one attribute name to a prefix of its value.', 1),
    suffix: attributeMatchSchema('Maps one attribute name to a suffix of its value.', 1),
  };
  if (levels > 0) {
    const operand = buildFilterSchema(levels - 1);
    const list = (description: string): StructuralSchema => ({
      type: 'array',
      description,
      minItems: 1,
      maxItems: Limits.filterOperands,
      items: operand,
    });
    properties.all = list('Matches when every nested filter matches.');
    properties.any = list('Matches when at least one nested filter matches.');
    properties.not = { ...operand, description: 'Matches when the nested filter does not.' };
  }
  properties.sql = stringSchema('A CESQL 1.0 expression over context attributes.', {
    minLength: 1,
    maxLength: Limits.textLength,
  });
  return {
    type: 'object',
    description:
      levels > 0
        ? 'A CloudEvents Subscriptions API filter: exactly one of exact, prefix, suffix, all, any, not, sql.'
        : 'A nested filter at the deepest level: exactly one of exact, prefix, suffix, sql.',
    properties,
    minProperties: 1,
    maxProperties: 1,
  };
}

const sinkAuthSchema = objectSchema(
  'How Herald authenticates to the sink: exactly one of apiKey, bearer, oauth2.',
  {
    apiKey: objectSchema(
      'Send a key from a Secret in a header.',
      {
        header: stringSchema('Header name, e.g. X-Api-Key.', {
          maxLength: 256,
          pattern: HEADER_NAME_PATTERN,
        }),
        secretRef: secretKeyRefSchema('The Secret key holding the API key.'),
      },
      { required: ['header', 'secretRef'] },
    ),
    bearer: objectSchema(
      'Send `Authorization: Bearer <token>` with a token from a Secret.',
      { secretRef: secretKeyRefSchema('The Secret key holding the token.') },
      { required: ['secretRef'] },
    ),
    oauth2: objectSchema(
      'OAuth 2.0 client credentials: fetch a token and send it as a bearer token.',
      {
        tokenUrl: urlSchema('Token endpoint URL.'),
        clientId: stringSchema('Client id.', { minLength: 1, maxLength: 1024 }),
        clientAuthentication: enumSchema(
          describeDefault(
            'How the client authenticates to the token endpoint: basic = HTTP Basic (client_secret_basic), post = client_id and client_secret in the form (client_secret_post), privateKeyJwt = an RFC 7523 JWT signed with privateKey.',
            Defaults.oauth2ClientAuthentication,
          ),
          OAUTH2_CLIENT_AUTHENTICATIONS,
        ),
        clientSecretRef: secretKeyRefSchema(
          'The Secret key holding the client secret (basic and post).',
        ),
        privateKey: objectSchema(
          'The key that signs the client assertion (privateKeyJwt).',
          {
            secretRef: secretKeyRefSchema(
              'The Secret key holding the PEM private key: RSA (2048 bits or more) or EC P-256.',
            ),
            algorithm: enumSchema(
              'JWS algorithm; by default RS256 for an RSA key, ES256 for an EC key.',
              OAUTH2_ASSERTION_ALGORITHMS,
            ),
            keyId: stringSchema('Sent as the assertion’s kid header.', {
              minLength: 1,
              maxLength: 256,
            }),
            certificateRef: secretKeyRefSchema(
              'The Secret key holding the PEM certificate of the key; its thumbprints are sent as x5t and x5t#S256 (Microsoft Entra ID needs them).',
            ),
            assertionAudience: urlSchema(
              'The assertion’s aud claim. Default: the tokenUrl. Auth0 wants its issuer (https://<tenant>/).',
            ),
          },
          { required: ['secretRef'] },
        ),
        scopes: {
          type: 'array',
          description: 'Scopes to request.',
          maxItems: 32,
          items: stringSchema('A scope.', { minLength: 1, maxLength: 256 }),
        },
        parameters: {
          type: 'object',
          description:
            'Extra form parameters of the token request, e.g. audience (Auth0) or resource (RFC 8707, Entra ID v1); not those Herald sets itself.',
          maxProperties: Limits.oauth2Parameters,
          additionalProperties: stringSchema('The parameter’s value.', {
            maxLength: Limits.urlLength,
          }),
          'x-kubernetes-validations': [toCelValidation(OAUTH2_PARAMETERS_RULE)],
        },
      },
      {
        required: ['tokenUrl', 'clientId'],
        'x-kubernetes-validations': [
          toCelValidation(OAUTH2_CLIENT_SECRET_RULE),
          toCelValidation(OAUTH2_PRIVATE_KEY_RULE),
        ],
      },
    ),
  },
  { minProperties: 1, maxProperties: 1 },
);

const retrySchema = objectSchema('When and how often a failed delivery is retried.', {
  maxAttempts: integerSchema(
    describeDefault(
      'Attempts in total, the first included (JetStream max_deliver).',
      Defaults.maxAttempts,
    ),
    { minimum: 1, maximum: Limits.maxAttempts },
  ),
  backoff: enumSchema(
    describeDefault('How the delay grows between attempts (with jitter).', Defaults.backoff),
    BACKOFF_KINDS,
  ),
  initialDelay: durationFieldSchema('Delay before the second attempt.', 'initialDelay'),
  maxDelay: durationFieldSchema('Upper bound of any delay; at least initialDelay.', 'maxDelay'),
  retryAfterMax: durationFieldSchema(
    'Longest Retry-After from the sink that is honoured.',
    'retryAfterMax',
  ),
});

const deliverySchema = objectSchema(
  'How events are delivered to the sink.',
  {
    mode: enumSchema(
      describeDefault('CloudEvents HTTP binding mode.', Defaults.deliveryMode),
      DELIVERY_MODES,
    ),
    signing: objectSchema(
      'Sign deliveries (Standard Webhooks); omit to send unsigned. Every secret named signs: ' +
        'one space-separated v1 signature each, secretRef first, then secretRefs in order.',
      {
        secretRef: secretKeyRefSchema('The Secret key holding a whsec_… secret.'),
        secretRefs: {
          type: 'array',
          description: `Secret keys holding whsec_… secrets, each signing; several during a rotation (at most ${Limits.signingSecrets} with secretRef).`,
          minItems: 1,
          maxItems: Limits.signingSecrets,
          items: secretKeyRefSchema('A Secret key holding a whsec_… secret.'),
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name', 'key'],
        },
      },
      {
        minProperties: 1,
        'x-kubernetes-validations': [toCelValidation(SIGNING_SECRETS_RULE)],
      },
    ),
    timeout: durationFieldSchema('Time allowed for one HTTP attempt.', 'timeout'),
    retry: retrySchema,
    deadLetter: objectSchema(
      'Where events go after the last failed attempt, besides the HERALD_DLQ stream.',
      {
        sink: objectSchema(
          'The dead-letter webhook.',
          { uri: urlSchema('Dead-letter webhook URL.') },
          { required: ['uri'] },
        ),
      },
      { required: ['sink'] },
    ),
    maxInFlight: integerSchema(
      describeDefault('Deliveries in flight at once (max_ack_pending).', Defaults.maxInFlight),
      { minimum: 1, maximum: Limits.maxInFlight },
    ),
    rateLimit: objectSchema(
      'Upper bound on the delivery rate to this sink.',
      { eventsPerSecond: eventsPerSecondSchema('Deliveries per second.') },
      { required: ['eventsPerSecond'] },
    ),
    ordering: enumSchema(
      describeDefault('ordered = one event in flight, in stream order.', Defaults.ordering),
      ORDERINGS,
    ),
    autoPauseAfter: durationFieldSchema(
      'Pause delivery after only failed attempts for this long (events wait in the stream; `herald resume` or a spec edit resumes).',
      'autoPauseAfter',
    ),
  },
  { 'x-kubernetes-validations': [toCelValidation(ORDERED_DELIVERY_RULE)] },
);

export const subscriptionSpecSchema: StructuralSchema = objectSchema(
  'Which events to deliver, to which webhook, with which delivery policy.',
  {
    eventTypes: eventTypeNamesSchema('Names of EventTypes in this namespace to deliver.'),
    filters: {
      type: 'array',
      description:
        'CloudEvents Subscriptions API filters, ANDed; omit to deliver every event of the types.',
      maxItems: Limits.filters,
      items: buildFilterSchema(FILTER_NESTING_DEPTH),
    },
    sink: objectSchema(
      'The webhook that receives the events.',
      {
        uri: urlSchema('Webhook URL.'),
        auth: sinkAuthSchema,
        verification: enumSchema(
          describeDefault(
            'handshake = CloudEvents webhook validation (OPTIONS) before the first delivery.',
            Defaults.verification,
          ),
          VERIFICATIONS,
        ),
      },
      { required: ['uri'] },
    ),
    delivery: deliverySchema,
    startFrom: stringSchema(
      describeDefault(
        'Where a new subscription starts: new, earliest, or an RFC 3339 time.',
        Defaults.startFrom,
      ),
      { maxLength: 64, pattern: START_FROM_PATTERN },
    ),
    paused: booleanSchema('Stop delivering (events keep accumulating) while true.'),
  },
  {
    required: ['eventTypes', 'sink'],
    'x-kubernetes-validations': [toCelValidation(DEAD_LETTER_SINK_RULE)],
  },
);

export const subscriptionStatusSchema: StructuralSchema = statusSchema(
  ['SinkVerified', 'ConsumerReady', 'Ready'],
  {
    consumers: {
      type: 'array',
      description: 'The durable JetStream consumer on each EventType stream.',
      maxItems: Limits.referencedNames,
      items: objectSchema(
        'One consumer.',
        {
          eventType: stringSchema('EventType name.'),
          stream: stringSchema('Stream name.'),
          durable: stringSchema('Durable consumer name.'),
        },
        { required: ['eventType'] },
      ),
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['eventType'],
    },
    delivery: objectSchema('Recent delivery outcomes, written by the dispatcher.', {
      lastSuccessTime: stringSchema('Time of the last 2xx.', {
        format: 'date-time',
        nullable: true,
      }),
      lastFailureTime: stringSchema('Time of the last failed attempt.', {
        format: 'date-time',
        nullable: true,
      }),
      lastStatus: integerSchema(
        'HTTP status of the last attempt; absent when it got no response.',
        {
          minimum: 0,
          maximum: 599,
          nullable: true,
        },
      ),
      lastError: stringSchema('Error of the last failed attempt (e.g. a timeout).', {
        maxLength: 1024,
      }),
      consecutiveFailures: integerSchema('Failed attempts since the last success.', {
        minimum: 0,
      }),
      pausedReason: stringSchema('Why delivery is paused (e.g. the sink answered 410 Gone).', {
        maxLength: 1024,
        nullable: true,
      }),
    }),
  },
);
