import { strict as assert } from 'node:assert';
import {
  describeInvalidResource,
  isHeraldDocument,
  readSecretValue,
  validateResource,
} from '../../../core/resources/validate.js';
import type { Secret } from '../../../core/resources/types.js';
import { loadExampleDocuments } from '../../examples/load-examples.js';

const API = 'herald.dev/v1alpha1';
const meta = (name: string) => ({ name, namespace: 'shop' });

/** The three resources of DESIGN.md §2, every field set. */
const fullEventType = {
  apiVersion: API,
  kind: 'EventType',
  metadata: meta('order-created'),
  spec: {
    type: 'com.example.order.created',
    description: 'An order was placed.',
    schema: {
      type: 'object',
      required: ['orderId', 'total'],
      properties: { orderId: { type: 'string' }, total: { type: 'number', minimum: 0 } },
    },
    dataContentType: 'application/json',
    retention: { maxAge: '168h', maxBytes: '1Gi', replicas: 1, storage: 'file' },
    duplicateWindow: '2m',
    deprecated: false,
    deletionPolicy: 'Retain',
  },
};
const fullProducer = {
  apiVersion: API,
  kind: 'Producer',
  metadata: meta('acme'),
  spec: {
    displayName: 'Acme Corp',
    eventTypes: ['order-created'],
    sources: ['https://acme.example/*'],
    auth: {
      apiKeys: [{ secretRef: { name: 'acme-credentials', key: 'api-key' } }],
      hmac: { secretRef: { name: 'acme-credentials', key: 'signing-secret' } },
      jwt: {
        issuer: 'https://idp.example',
        audience: 'herald',
        jwksUri: 'https://idp.example/jwks',
      },
    },
    rateLimit: { eventsPerSecond: 500, burst: 1000 },
  },
};
const fullSubscription = {
  apiVersion: API,
  kind: 'Subscription',
  metadata: meta('partner-orders'),
  spec: {
    eventTypes: ['order-created'],
    filters: [
      { prefix: { source: 'https://acme.example/' } },
      { sql: "subject LIKE 'eu-%'" },
      { any: [{ exact: { subject: 'a' } }, { not: { suffix: { type: '.test' } } }] },
      { all: [{ any: [{ exact: { subject: 'b' } }, { sql: 'TRUE' }] }] },
    ],
    sink: {
      uri: 'https://partner.example/hooks/orders',
      auth: { apiKey: { header: 'X-Api-Key', secretRef: { name: 'partner-out', key: 'api-key' } } },
      verification: 'none',
    },
    delivery: {
      mode: 'binary',
      signing: { secretRef: { name: 'partner-signing', key: 'secret' } },
      timeout: '10s',
      retry: {
        maxAttempts: 8,
        backoff: 'exponential',
        initialDelay: '1s',
        maxDelay: '1h',
        retryAfterMax: '10m',
      },
      deadLetter: { sink: { uri: 'https://partner.example/hooks/dead' } },
      maxInFlight: 16,
      rateLimit: { eventsPerSecond: 50 },
      ordering: 'none',
    },
    startFrom: 'new',
    paused: false,
  },
};

type Doc = Record<string, unknown>;
/** A copy of `doc` with `spec` (or the top level, for Secrets) shallow-merged at `path`. */
function withField(doc: Doc, path: string, value: unknown): Doc {
  const copy = structuredClone(doc);
  const keys = path.split('.');
  let node = copy as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  if (value === undefined) delete node[keys.at(-1)!];
  else node[keys.at(-1)!] = value;
  return copy;
}

const secret = { apiVersion: 'v1', kind: 'Secret', metadata: meta('acme-credentials') };

describe('validateResource', () => {
  describe('accepts', () => {
    for (const doc of loadExampleDocuments()) {
      const { kind, metadata } = doc.value as { kind: string; metadata: { name: string } };
      if (kind === 'Namespace') continue;
      it(`examples/${doc.file}: ${kind} ${metadata.name}`, () => {
        const result = validateResource(doc.value);
        assert.ok(result.ok, JSON.stringify(result));
      });
    }
    // prettier-ignore
    const valid: [string, unknown][] = [
      ['the EventType of DESIGN.md §2', fullEventType],
      ['the Producer of DESIGN.md §2', fullProducer],
      ['the Subscription of DESIGN.md §2', fullSubscription],
      ['a minimal EventType', { apiVersion: API, kind: 'EventType', metadata: { name: 'e' }, spec: { type: 'x' } }],
      ['maxBytes as an integer', withField(fullEventType, 'spec.retention.maxBytes', 1073741824)],
      ['startFrom as an RFC 3339 time', withField(fullSubscription, 'spec.startFrom', '2024-05-01T10:00:00.5+02:00')],
      ['ordered delivery with maxInFlight 1', withField(fullSubscription, 'spec.delivery', { ordering: 'ordered', maxInFlight: 1 })],
      ['a Secret with data', { ...secret, data: { 'api-key': 'YWJj', 'tls.crt': 'YQ==\n' } }],
      ['a Secret with a dotted name and no data', { ...secret, metadata: { name: 'a.b-c' } }],
      ['a Subscription with a status', { ...fullSubscription, status: { observedGeneration: 1, anything: true } }],
      ['0s where it means something (never pause, Retry-After ignored)', withField(withField(fullSubscription, 'spec.delivery.autoPauseAfter', '0s'), 'spec.delivery.retry.retryAfterMax', '0ms')],
      ['maxAge 0s (no age limit)', withField(fullEventType, 'spec.retention.maxAge', '0s')],
    ];
    for (const [name, doc] of valid) {
      it(name, () => {
        const result = validateResource(doc);
        assert.ok(result.ok, JSON.stringify(result));
      });
    }
  });

  describe('refuses, naming the field', () => {
    const sub = fullSubscription;
    // prettier-ignore
    const invalid: [string, unknown, string, RegExp][] = [
      ['a name with a dot', withField(fullEventType, 'metadata.name', 'order.created'), 'metadata.name', /DNS label/],
      ['a name longer than 63', withField(fullProducer, 'metadata.name', 'a'.repeat(64)), 'metadata.name', /63/],
      ['an uppercase namespace', withField(fullProducer, 'metadata.namespace', 'Shop'), 'metadata.namespace', /DNS label/],
      ['a missing name', withField(fullProducer, 'metadata.name', undefined), 'metadata.name', /required/],
      ['a missing metadata', withField(fullProducer, 'metadata', undefined), 'metadata', /required/],
      ['a missing spec', withField(fullEventType, 'spec', undefined), 'spec', /required/],
      ['a missing spec.type', withField(fullEventType, 'spec.type', undefined), 'spec.type', /required/],
      ['a spec.type with spaces', withField(fullEventType, 'spec.type', 'order created'), 'spec.type', /whitespace/],
      ['a bad duration', withField(fullEventType, 'spec.retention.maxAge', '7 days'), 'spec.retention.maxAge', /duration/],
      ['a bad byte size', withField(fullEventType, 'spec.retention.maxBytes', '1GB'), 'spec.retention.maxBytes', /byte size/],
      ['maxBytes as a boolean', withField(fullEventType, 'spec.retention.maxBytes', true), 'spec.retention.maxBytes', /integer or a string/],
      ['a bad storage enum', withField(fullEventType, 'spec.retention.storage', 'disk'), 'spec.retention.storage', /one of file, memory/],
      ['zero replicas', withField(fullEventType, 'spec.retention.replicas', 0), 'spec.retention.replicas', /at least 1/],
      ['a string where a boolean goes', withField(fullEventType, 'spec.deprecated', 'no'), 'spec.deprecated', /true or false/],
      ['a bad deletionPolicy', withField(fullEventType, 'spec.deletionPolicy', 'delete'), 'spec.deletionPolicy', /Retain, Delete/],
      ['a schema that is not an object', withField(fullEventType, 'spec.schema', 'string'), 'spec.schema', /object/],
      ['a Producer without auth', withField(fullProducer, 'spec.auth', undefined), 'spec.auth', /required/],
      ['a Producer with empty auth', withField(fullProducer, 'spec.auth', {}), 'spec.auth', /at least one of: apiKeys, hmac, jwt/],
      ['a Producer with no eventTypes', withField(fullProducer, 'spec.eventTypes', []), 'spec.eventTypes', /at least 1/],
      ['an EventType name with a dot in a list', withField(fullProducer, 'spec.eventTypes', ['order.created']), 'spec.eventTypes[0]', /DNS label/],
      ['a duplicate in eventTypes', withField(fullProducer, 'spec.eventTypes', ['a', 'a']), 'spec.eventTypes', /duplicates/],
      ['a source with * in the middle', withField(fullProducer, 'spec.sources', ['https://*.example/']), 'spec.sources[0]', /source pattern/],
      ['a secretRef without key', withField(fullProducer, 'spec.auth.hmac.secretRef', { name: 'x' }), 'spec.auth.hmac.secretRef.key', /required/],
      ['a jwksUri that is not http(s)', withField(fullProducer, 'spec.auth.jwt.jwksUri', 'idp.example/jwks'), 'spec.auth.jwt.jwksUri', /http/],
      ['a fractional rate', withField(fullProducer, 'spec.rateLimit.eventsPerSecond', 0.5), 'spec.rateLimit.eventsPerSecond', /integer/],
      ['a Subscription without sink.uri', withField(sub, 'spec.sink', {}), 'spec.sink.uri', /required/],
      ['a sink.uri that is not a URL', withField(sub, 'spec.sink.uri', 'partner.example'), 'spec.sink.uri', /http/],
      ['two filter dialects in one object', withField(sub, 'spec.filters', [{ exact: { type: 'a' }, prefix: { source: 'b' } }]), 'spec.filters[0]', /exactly one of.*found exact, prefix/],
      ['an empty filter', withField(sub, 'spec.filters', [{}]), 'spec.filters[0]', /exactly one of/],
      ['two attributes in one exact filter', withField(sub, 'spec.filters', [{ exact: { type: 'a', source: 'b' } }]), 'spec.filters[0].exact', /exactly one entry/],
      ['an empty prefix', withField(sub, 'spec.filters', [{ prefix: { source: '' } }]), 'spec.filters[0].prefix.source', /empty/],
      ['filters nested three levels deep', withField(sub, 'spec.filters', [{ not: { all: [{ any: [{ sql: 'TRUE' }] }] } }]), 'spec.filters[0].not.all[0].any', /at most two levels/],
      ['an unknown filter dialect', withField(sub, 'spec.filters', [{ regex: { type: '.*' } }]), 'spec.filters[0].regex', /unknown field/],
      ['a bad delivery mode', withField(sub, 'spec.delivery.mode', 'batched'), 'spec.delivery.mode', /binary, structured/],
      ['a bad backoff', withField(sub, 'spec.delivery.retry.backoff', 'random'), 'spec.delivery.retry.backoff', /exponential, linear/],
      ['a bad ordering', withField(sub, 'spec.delivery.ordering', 'fifo'), 'spec.delivery.ordering', /none, ordered/],
      ['a bad verification', withField(sub, 'spec.sink.verification', 'yes'), 'spec.sink.verification', /none, handshake/],
      ['a negative maxInFlight', withField(sub, 'spec.delivery.maxInFlight', -1), 'spec.delivery.maxInFlight', /at least 1/],
      ['zero maxAttempts', withField(sub, 'spec.delivery.retry.maxAttempts', 0), 'spec.delivery.retry.maxAttempts', /at least 1/],
      ['a fractional maxAttempts', withField(sub, 'spec.delivery.retry.maxAttempts', 2.5), 'spec.delivery.retry.maxAttempts', /integer/],
      ['a bad timeout', withField(sub, 'spec.delivery.timeout', '10'), 'spec.delivery.timeout', /duration/],
      ['a zero timeout (CEL twin)', withField(sub, 'spec.delivery.timeout', '0s'), 'spec.delivery.timeout', /more than 0/],
      ['a zero initialDelay, spelled 0h0.0m (CEL twin)', withField(sub, 'spec.delivery.retry.initialDelay', '0h0.0m'), 'spec.delivery.retry.initialDelay', /more than 0/],
      ['a zero maxDelay (CEL twin)', withField(sub, 'spec.delivery.retry.maxDelay', '0ms'), 'spec.delivery.retry.maxDelay', /more than 0/],
      ['a zero duplicateWindow (CEL twin)', withField(fullEventType, 'spec.duplicateWindow', '0s'), 'spec.duplicateWindow', /more than 0/],
      ['a misspelt field', withField(sub, 'spec.delivery.retry.maxAttemps', 3), 'spec.delivery.retry.maxAttemps', /unknown field.*maxAttempts/],
      ['ordered with maxInFlight 4 (CEL twin)', withField(sub, 'spec.delivery.ordering', 'ordered'), 'spec.delivery.maxInFlight', /one event at a time/],
      ['the dead-letter sink = the sink (CEL twin)', withField(sub, 'spec.delivery.deadLetter.sink.uri', sub.spec.sink.uri), 'spec.delivery.deadLetter.sink.uri', /dead-letter sink/],
      ['a bad startFrom', withField(sub, 'spec.startFrom', 'yesterday'), 'spec.startFrom', /new.*earliest.*RFC 3339/],
      ['startFrom in month 13', withField(sub, 'spec.startFrom', '2024-13-01T00:00:00Z'), 'spec.startFrom', /RFC 3339/],
      ['two sink auth methods', withField(sub, 'spec.sink.auth', { bearer: { secretRef: { name: 'a', key: 'b' } }, apiKey: { header: 'X-K', secretRef: { name: 'a', key: 'b' } } }), 'spec.sink.auth', /exactly one of: apiKey, bearer, oauth2/],
      ['a header name with a space', withField(sub, 'spec.sink.auth.apiKey.header', 'X Api Key'), 'spec.sink.auth.apiKey.header', /header name/],
      ['a wrong apiVersion', withField(sub, 'apiVersion', 'herald.dev/v1'), 'apiVersion', /herald\.dev\/v1alpha1/],
      ['a missing kind', withField(sub, 'kind', undefined), 'kind', /required/],
      ['a kind Herald does not handle', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, 'kind', /not a Herald resource/],
      ['an unknown top-level field', { ...fullEventType, specs: {} }, 'specs', /unknown field/],
      ['a Secret with apiVersion herald.dev', { ...secret, apiVersion: API }, 'apiVersion', /v1/],
      ['a Secret name with an underscore', { ...secret, metadata: { name: 'acme_credentials' } }, 'metadata.name', /DNS subdomain/],
      ['non-base64 Secret data', { ...secret, data: { 'api-key': 'not base64!' } }, 'data.api-key', /base64/],
      ['Secret data without padding', { ...secret, data: { 'api-key': 'YWJjZA' } }, 'data.api-key', /base64/],
      ['a number in stringData', { ...secret, stringData: { port: 8080 } }, 'stringData.port', /string/],
      ['a bad Secret key', { ...secret, stringData: { 'api key': 'x' } }, 'stringData["api key"]', /Secret key/],
      ['labels that are not strings', withField(fullEventType, 'metadata.labels', { tier: 1 }), 'metadata.labels.tier', /string/],
    ];
    assert.ok(invalid.length >= 15);
    for (const [name, doc, path, message] of invalid) {
      it(`${name} → ${path}`, () => {
        const result = validateResource(doc);
        assert.ok(!result.ok, `${name} was accepted`);
        const match = result.errors.find((e) => e.path === path && message.test(e.message));
        assert.ok(match, `expected ${path} ~ ${message}, got ${JSON.stringify(result.errors)}`);
      });
    }
  });

  it('reports every error of a document at once, with its kind and name', () => {
    const doc = withField(
      withField(fullSubscription, 'spec.delivery.timeout', 'x'),
      'spec.paused',
      'no',
    );
    const result = validateResource(doc);
    assert.ok(!result.ok);
    assert.equal(result.kind, 'Subscription');
    assert.equal(result.name, 'partner-orders');
    assert.deepEqual(result.errors.map((e) => e.path).sort(), [
      'spec.delivery.timeout',
      'spec.paused',
    ]);
    assert.match(
      describeInvalidResource(result, 'shop'),
      /^Subscription shop\/partner-orders: spec\.delivery\.timeout: must be a duration/,
    );
  });

  it('refuses what is not an object', () => {
    for (const doc of [null, 'text', 42, [fullEventType]]) {
      const result = validateResource(doc);
      assert.ok(!result.ok);
      assert.deepEqual(
        result.errors.map((e) => e.path),
        [''],
      );
    }
  });

  it('prunes null fields as the API server does, and returns a copy', () => {
    const doc = withField(
      withField(fullEventType, 'spec.description', null),
      'spec.retention',
      null,
    );
    const result = validateResource(doc);
    assert.ok(result.ok, JSON.stringify(result));
    assert.ok(result.resource.kind === 'EventType');
    assert.ok(!('description' in result.resource.spec) && !('retention' in result.resource.spec));
    // null inside the free-form JSON Schema is data, not an absent field.
    const withNullInSchema = withField(fullEventType, 'spec.schema', { const: null });
    const kept = validateResource(withNullInSchema);
    assert.ok(kept.ok && kept.resource.kind === 'EventType');
    assert.deepEqual(kept.resource.spec.schema, { const: null });
    assert.notEqual(kept.resource.spec, (withNullInSchema as typeof fullEventType).spec);
    assert.ok(!validateResource(withField(fullEventType, 'spec', null)).ok);
  });

  it('tells Herald documents from others', () => {
    assert.ok(isHeraldDocument(fullEventType) && isHeraldDocument(secret));
    assert.ok(
      !isHeraldDocument({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }),
    );
    assert.ok(!isHeraldDocument({ apiVersion: 'herald.dev/v1', kind: 'EventType' }));
  });
});

describe('readSecretValue', () => {
  const base = secret as Secret;
  it('decodes data and prefers stringData, as the API server merges them', () => {
    const s: Secret = {
      ...base,
      data: { a: Buffer.from('from-data').toString('base64'), b: 'Yg==' },
      stringData: { a: 'from-stringData' },
    };
    assert.equal(readSecretValue(s, 'a'), 'from-stringData');
    assert.equal(readSecretValue(s, 'b'), 'b');
  });
  it('is undefined for a missing key, including inherited object properties', () => {
    assert.equal(readSecretValue({ ...base, stringData: { a: 'x' } }, 'b'), undefined);
    assert.equal(readSecretValue({ ...base, data: {} }, 'constructor'), undefined);
    assert.equal(readSecretValue(base, 'a'), undefined);
  });
  it('returns an empty value as empty, not missing', () => {
    assert.equal(readSecretValue({ ...base, data: { a: '' } }, 'a'), '');
  });
});
