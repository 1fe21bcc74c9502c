/**
 * The AsyncAPI 3.0.0 document of a set of EventTypes: one channel per EventType, each with
 * one CloudEvents message, described from a **producer's** point of view (operations are
 * `send`: the application this document describes is a partner sending events to Herald).
 * Messages, their schemas, the CloudEvents binary-mode headers and the security schemes live
 * in `components` and are referenced, not repeated. docs/schema-registry.md explains it.
 */
import { createHash } from 'node:crypto';
import type { CompiledEventType } from '../core/config/model.js';

export const ASYNCAPI_VERSION = '3.0.0';
/** Herald's schemas are JSON Schema 2020-12; AsyncAPI 3.0 names no such format, so this is ours. */
export const JSON_SCHEMA_2020_12_FORMAT = 'application/schema+json;version=2020-12';

/** Where partners reach the broker, as an AsyncAPI server. */
export interface AsyncApiServer {
  host: string;
  protocol: 'http' | 'https';
  /** Path prefix in front of `/events`, e.g. `/herald`; empty for none. */
  pathname: string;
}

/** Keywords that mean something in JSON Schema 2020-12 but not in draft-07. */
const DRAFT_2020_ONLY = new Set([
  'prefixItems',
  '$dynamicRef',
  '$dynamicAnchor',
  '$recursiveRef',
  '$recursiveAnchor',
  '$anchor',
  '$vocabulary',
  'unevaluatedProperties',
  'unevaluatedItems',
  'dependentRequired',
  'dependentSchemas',
  'minContains',
  'maxContains',
  'contentSchema',
]);

const TRACEPARENT_PATTERN = '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$';

/** The CloudEvents HTTP binary-mode headers every message carries (a message trait). */
const BINARY_MODE_TRAIT = {
  summary: 'CloudEvents 1.0, HTTP binary mode',
  description:
    'Context attributes travel as `ce-` headers (values percent-encoded per the HTTP binding), `data` is the body with its own Content-Type. The same event may instead be sent in structured mode (`Content-Type: application/cloudevents+json`, attributes as JSON members, `data` or `data_base64`) or in a batch (`application/cloudevents-batch+json`). Other extension attributes travel as further `ce-` headers.',
  headers: {
    type: 'object',
    required: ['ce-specversion', 'ce-id', 'ce-source', 'ce-type'],
    properties: {
      'ce-specversion': { type: 'string', const: '1.0', description: 'CloudEvents version.' },
      'ce-id': {
        type: 'string',
        minLength: 1,
        description:
          'Event id. With ce-source it identifies the event: a repeat within the duplicate window is stored once and answered `duplicate: true`.',
      },
      'ce-source': {
        type: 'string',
        minLength: 1,
        format: 'uri-reference',
        description: "Where the event happened; must match one of the producer's source patterns.",
      },
      'ce-type': { type: 'string', minLength: 1, description: 'The CloudEvents type.' },
      'ce-subject': { type: 'string', minLength: 1, description: 'Subject within the source.' },
      'ce-time': { type: 'string', format: 'date-time', description: 'RFC 3339 timestamp.' },
      'ce-dataschema': { type: 'string', format: 'uri', description: 'URI of the data schema.' },
      'ce-traceparent': {
        type: 'string',
        pattern: TRACEPARENT_PATTERN,
        description: 'CloudEvents distributed tracing extension: W3C traceparent of the event.',
      },
      'ce-tracestate': {
        type: 'string',
        description: 'CloudEvents distributed tracing extension: W3C tracestate.',
      },
      traceparent: {
        type: 'string',
        description:
          'W3C Trace Context of the request; copied to the `traceparent` attribute of events that carry none (an invalid value is ignored).',
      },
      tracestate: {
        type: 'string',
        description: 'W3C tracestate; copied along with traceparent.',
      },
      'content-type': { type: 'string', description: 'Media type of `data` (datacontenttype).' },
    },
  },
};

function componentKey(et: CompiledEventType): string {
  return `${et.namespace}.${et.name}`;
}

function usesDraft2020Only(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(usesDraft2020Only);
  if (value === null || typeof value !== 'object') return false;
  for (const [key, child] of Object.entries(value)) {
    if (DRAFT_2020_ONLY.has(key)) return true;
    // AsyncAPI's Schema Object insists on a string discriminator (OpenAPI's is an object).
    if (key === 'discriminator' && typeof child !== 'string') return true;
    if (usesDraft2020Only(child)) return true;
  }
  return false;
}

/**
 * A copy of `schema` whose local `$ref`s (`#/...`) point into its new home in the document:
 * inside an AsyncAPI document `#` is the document's root, not the schema's.
 */
function rehomeRefs(value: unknown, base: string): unknown {
  if (Array.isArray(value)) return value.map((v) => rehomeRefs(v, base));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof child === 'string' && child.startsWith('#')
        ? base + child.slice(1)
        : rehomeRefs(child, base);
  }
  return out;
}

/**
 * The payload schema as AsyncAPI can hold it: schemas using only what draft-07 also means
 * become AsyncAPI Schema Objects (the default format every AsyncAPI tool reads), without
 * their 2020-12 `$schema`; the rest keep 2020-12 semantics in a Multi Format Schema Object.
 */
function buildPayloadSchema(schema: Record<string, unknown>, key: string): unknown {
  const home = `#/components/schemas/${key}`;
  if (usesDraft2020Only(schema)) {
    return {
      schemaFormat: JSON_SCHEMA_2020_12_FORMAT,
      schema: rehomeRefs(schema, `${home}/schema`),
    };
  }
  const { $schema: _dialect, ...rest } = schema;
  return rehomeRefs(rest, home);
}

function buildMessage(et: CompiledEventType, key: string): Record<string, unknown> {
  const description = [
    et.description,
    `CloudEvents type \`${et.type}\`, EventType \`${et.namespace}/${et.name}\`.`,
    et.schema === undefined ? '`data` has no registered schema: any data is accepted.' : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  return {
    name: et.name,
    title: et.type,
    ...(et.description !== undefined && { summary: et.description }),
    description,
    contentType: et.dataContentType,
    ...(et.deprecated && { deprecated: true }),
    headers: {
      type: 'object',
      properties: { 'ce-type': { type: 'string', const: et.type } },
    },
    ...(et.schema !== undefined && { payload: { $ref: `#/components/schemas/${key}` } }),
    correlationId: { $ref: '#/components/correlationIds/cloudEventId' },
    traits: [{ $ref: '#/components/messageTraits/cloudEventsBinaryMode' }],
  };
}

/** The AsyncAPI document for `eventTypes` (in the order given). */
export function buildAsyncApiDocument(
  eventTypes: readonly CompiledEventType[],
  server: AsyncApiServer | undefined,
): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const et of eventTypes) {
    const key = componentKey(et);
    if (et.schema !== undefined) schemas[key] = buildPayloadSchema(et.schema, key);
    messages[key] = buildMessage(et, key);
    channels[key] = {
      address: '/events',
      title: `${et.namespace}/${et.name}`,
      ...(et.description !== undefined && { description: et.description }),
      messages: { [et.name]: { $ref: `#/components/messages/${key}` } },
    };
    operations[`send.${key}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${key}` },
      messages: [{ $ref: `#/channels/${key}/messages/${et.name}` }],
      title: `Publish ${et.type}`,
      summary: `POST a ${et.type} event to /events; 202 Accepted with a receipt once it is stored.`,
      bindings: { http: { method: 'POST', bindingVersion: '0.3.0' } },
    };
  }
  const components = {
    ...(Object.keys(schemas).length > 0 && { schemas }),
    messages,
    messageTraits: { cloudEventsBinaryMode: BINARY_MODE_TRAIT },
    correlationIds: {
      cloudEventId: {
        description: 'The CloudEvents id (with ce-source, the identity of the event).',
        location: '$message.header#/ce-id',
      },
    },
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description: 'The producer API key as `Authorization: Bearer <key>`.',
      },
      apiKey: {
        type: 'httpApiKey',
        name: 'X-API-Key',
        in: 'header',
        description: 'The producer API key in an `X-API-Key` header.',
      },
    },
  };
  const body = { channels, operations, components };
  const version = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 12);
  return {
    asyncapi: ASYNCAPI_VERSION,
    info: {
      title: 'Herald event types',
      version,
      description:
        'The CloudEvents this Herald broker accepts: one channel per registered EventType, described from the point of view of a producer sending them (`POST /events`). `info.version` is a digest of the content: it changes whenever a type, its schema or the set of types changes.',
    },
    defaultContentType: 'application/json',
    ...(server && {
      servers: {
        herald: {
          host: server.host,
          protocol: server.protocol,
          ...(server.pathname !== '' && { pathname: server.pathname }),
          description: 'The Herald broker HTTP API.',
          security: [
            { $ref: '#/components/securitySchemes/bearer' },
            { $ref: '#/components/securitySchemes/apiKey' },
          ],
        },
      },
    }),
    ...body,
  };
}
