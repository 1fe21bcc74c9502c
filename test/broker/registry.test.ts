import { strict as assert } from 'node:assert';
import asyncApiSpecs from '@asyncapi/specs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { request } from 'undici';
import { startBroker, type RunningBroker } from '../../broker/main.js';
import { JSON_SCHEMA_2020_12_FORMAT } from '../../broker/asyncapi.js';
import { RegistryAccess } from '../../broker/registry.js';
import type { CompiledConfig, CompiledEventType } from '../../core/config/model.js';
import { createSilentLogger } from '../../core/logging.js';
import { streamNameFor, subjectFor } from '../../core/topology.js';
import { applyConfig } from './apply-config.js';
import {
  ACME_KEY,
  ORDER_SCHEMA,
  OTHER_KEY,
  buildBaseConfig,
  buildEventType,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const PROBLEM = 'https://herald.dev/problems/';

/** A schema only JSON Schema 2020-12 understands (prefixItems), with a local $ref. */
const REFUND_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['orderId', 'amount'],
  properties: {
    orderId: { type: 'string' },
    amount: { $ref: '#/$defs/money' },
    lines: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }] },
  },
  $defs: { money: { type: 'number', minimum: 0 } },
};
/** Valid in draft-07 too: becomes an AsyncAPI Schema Object, its $ref rehomed. */
const NOTE_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: { note: { $ref: '#/$defs/text' } },
  $defs: { text: { type: 'string', maxLength: 500 } },
};

function buildRegistryConfig(): CompiledConfig {
  const config = buildBaseConfig();
  const refunded: CompiledEventType = {
    ...buildEventType('order-refunded', 'com.example.order.refunded', REFUND_SCHEMA),
    description: 'An order was refunded.',
    deprecated: true,
  };
  const noted = buildEventType('order-noted', 'com.example.order.noted', NOTE_SCHEMA);
  const invoice: CompiledEventType = {
    ...buildEventType('invoice-issued', 'com.example.invoice.issued'),
    namespace: 'billing',
    dataContentType: 'application/xml',
    stream: streamNameFor('billing', 'invoice-issued'),
    subject: subjectFor('billing', 'invoice-issued'),
  };
  config.eventTypes.push(refunded, noted, invoice);
  const acme = config.producers.find((p) => p.name === 'acme');
  acme?.eventTypes.push('order-refunded', 'order-noted');
  return config;
}

/** Resolves a local JSON pointer (`#/a/b`) in `doc`; undefined when it leads nowhere. */
function resolvePointer(doc: unknown, ref: string): unknown {
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => collectRefs(n, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

function compileAsyncApiValidator() {
  // The official schema is draft-07 and bundles the draft-07 meta-schema itself, so ajv's
  // own copy stays out (`meta: false`); `strict: false` for the keywords strict mode rejects.
  const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
  addFormats(ajv);
  return ajv.compile(asyncApiSpecs.schemas['3.0.0']);
}

describe('broker schema registry', function () {
  let fx: BrokerFixture;
  let open: RunningBroker;
  let openUrl: string;

  before(async () => {
    fx = await startBrokerFixture();
    open = await startBroker({
      natsUrl: fx.nats.url,
      httpPort: 0,
      host: '127.0.0.1',
      logger: createSilentLogger(),
      registryAccess: RegistryAccess.Public,
      publicUrl: 'https://events.example.com/herald/',
    });
    openUrl = `http://127.0.0.1:${open.port}`;
    await applyConfig(fx, buildRegistryConfig(), [fx.broker, open]);
  });
  after(async () => {
    await open?.stop();
    await fx?.stop();
  });

  async function get(url: string, headers: Record<string, string> = {}) {
    const res = await request(url, { headers });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }
  const asAcme = { authorization: `Bearer ${ACME_KEY}` };

  describe('with producer credentials (the default)', () => {
    it('answers 401 without credentials', async () => {
      for (const path of ['/eventtypes', '/eventtypes/shop/order-created', '/asyncapi.json']) {
        const res = await get(fx.url + path);
        assert.equal(res.status, 401, path);
        assert.equal(res.json.type, `${PROBLEM}unauthorized`);
      }
    });

    it('lists the types the producer may publish, and only those', async () => {
      const res = await get(`${fx.url}/eventtypes`, asAcme);
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.headers['cache-control'], 'private, no-cache');
      const list = res.json.eventTypes as Record<string, unknown>[];
      assert.deepEqual(
        list.map((et) => et.name),
        ['ghost', 'order-created', 'order-noted', 'order-refunded', 'order-shipped'],
      );
      const created = list.find((et) => et.name === 'order-created') as Record<string, unknown>;
      assert.deepEqual(Object.keys(created).sort(), [
        'dataContentType',
        'deprecated',
        'description',
        'links',
        'name',
        'namespace',
        'schemaDigest',
        'type',
      ]);
      assert.equal(created.type, 'com.example.order.created');
      assert.equal(typeof created.schemaDigest, 'string');
      assert.deepEqual(created.links, {
        self: '/eventtypes/shop/order-created',
        asyncapi: '/asyncapi.json#/components/messages/shop.order-created',
      });
      const shipped = list.find((et) => et.name === 'order-shipped') as Record<string, unknown>;
      assert.equal(shipped.schemaDigest, null, 'no schema, no digest');

      const other = await get(`${fx.url}/eventtypes`, { 'x-api-key': OTHER_KEY });
      assert.deepEqual(
        (other.json.eventTypes as { name: string }[]).map((et) => et.name),
        ['order-shipped'],
      );
    });

    it('serves one type with its schema; 404 for unknown or foreign types', async () => {
      const res = await get(`${fx.url}/eventtypes/shop/order-created`, asAcme);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.schema, ORDER_SCHEMA);
      const shipped = await get(`${fx.url}/eventtypes/shop/order-shipped`, asAcme);
      assert.equal(shipped.json.schema, null);

      const notFound = [
        ['/eventtypes/shop/order-created', OTHER_KEY], // exists, but not other's
        ['/eventtypes/shop/nope', ACME_KEY],
        ['/eventtypes/billing/invoice-issued', ACME_KEY],
        ['/eventtypes/shop', ACME_KEY],
        ['/eventtypes/shop/order-created/x', ACME_KEY],
        ['/eventtypes/shop/%E0%A4%A', ACME_KEY],
      ];
      for (const [path, key] of notFound) {
        const miss = await get(fx.url + path, { authorization: `Bearer ${key}` });
        assert.equal(miss.status, 404, path);
        assert.equal(miss.json.type, `${PROBLEM}not-found`);
      }
    });

    it('answers 304 to a matching If-None-Match, and changes the ETag with the config', async () => {
      const first = await get(`${fx.url}/asyncapi.json`, asAcme);
      const etag = String(first.headers.etag);
      assert.match(etag, /^"[\w-]+"$/);
      const again = await get(`${fx.url}/asyncapi.json`, { ...asAcme, 'if-none-match': etag });
      assert.equal(again.status, 304);
      assert.equal(again.text, '');
      assert.equal(again.headers.etag, etag);
      assert.equal(again.headers['content-length'], undefined);
      const weak = await get(`${fx.url}/eventtypes`, asAcme);
      const weakAgain = await get(`${fx.url}/eventtypes`, {
        ...asAcme,
        'if-none-match': `"nope", W/${String(weak.headers.etag)}`,
      });
      assert.equal(weakAgain.status, 304);

      const config = buildRegistryConfig();
      (config.eventTypes[0] as CompiledEventType).description = 'Changed.';
      await applyConfig(fx, config, [fx.broker, open]);
      const changed = await get(`${fx.url}/asyncapi.json`, { ...asAcme, 'if-none-match': etag });
      assert.equal(changed.status, 200);
      assert.notEqual(changed.headers.etag, etag);
      await applyConfig(fx, buildRegistryConfig(), [fx.broker, open]);
    });

    it('answers HEAD, and 405 with Allow for other methods', async () => {
      const head = await request(`${fx.url}/eventtypes`, { method: 'HEAD', headers: asAcme });
      assert.equal(head.statusCode, 200);
      await head.body.dump();
      const post = await request(`${fx.url}/eventtypes`, { method: 'POST', headers: asAcme });
      assert.equal(post.statusCode, 405);
      assert.equal(post.headers.allow, 'GET, HEAD');
      await post.body.dump();
    });
  });

  describe('AsyncAPI document', () => {
    const validate = compileAsyncApiValidator();

    function assertValidAsyncApi(doc: Record<string, unknown>): void {
      const ok = validate(doc);
      assert.ok(ok, JSON.stringify(validate.errors?.slice(0, 5), null, 2));
      for (const ref of collectRefs(doc)) {
        assert.ok(ref.startsWith('#/'), `only local refs: ${ref}`);
        assert.notEqual(resolvePointer(doc, ref), undefined, `dangling $ref ${ref}`);
      }
    }

    it('uses a validator that refuses broken documents', async () => {
      const doc = (await get(`${openUrl}/asyncapi.json`)).json;
      const broken = structuredClone(doc) as { operations: Record<string, { action: string }> };
      (broken.operations['send.shop.ghost'] as { action: string }).action = 'publish';
      assert.equal(validate(broken), false, 'action must be send or receive');
      assert.equal(validate({ ...doc, info: { title: 'no version' } }), false);
      const badPayload = structuredClone(doc) as {
        components: { schemas: Record<string, unknown> };
      };
      badPayload.components.schemas['shop.order-created'] = { type: 'nonsense' };
      assert.equal(validate(badPayload), false, 'payload schemas are checked too');
    });

    it('validates against the official AsyncAPI 3.0.0 JSON Schema (public view)', async () => {
      const res = await get(`${openUrl}/asyncapi.json`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['cache-control'], 'no-cache');
      const doc = res.json;
      assertValidAsyncApi(doc);
      assert.equal(doc.asyncapi, '3.0.0');
      assert.deepEqual(doc.servers, {
        herald: {
          host: 'events.example.com',
          protocol: 'https',
          pathname: '/herald',
          description: 'The Herald broker HTTP API.',
          security: [
            { $ref: '#/components/securitySchemes/bearer' },
            { $ref: '#/components/securitySchemes/apiKey' },
          ],
        },
      });
      const channels = doc.channels as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(channels), [
        'billing.invoice-issued',
        'shop.ghost',
        'shop.order-created',
        'shop.order-noted',
        'shop.order-refunded',
        'shop.order-shipped',
      ]);
      const operations = doc.operations as Record<string, Record<string, unknown>>;
      assert.equal(Object.keys(operations).length, 6);
      for (const op of Object.values(operations)) assert.equal(op.action, 'send');

      const components = doc.components as Record<string, Record<string, Record<string, unknown>>>;
      const messages = components.messages as Record<string, Record<string, unknown>>;
      const created = messages['shop.order-created'] as Record<string, unknown>;
      assert.equal(created.contentType, 'application/json');
      assert.deepEqual(created.payload, { $ref: '#/components/schemas/shop.order-created' });
      assert.deepEqual(created.headers, {
        type: 'object',
        properties: { 'ce-type': { type: 'string', const: 'com.example.order.created' } },
      });
      const invoice = messages['billing.invoice-issued'] as Record<string, unknown>;
      assert.equal(invoice.payload, undefined, 'no schema: no payload schema');
      assert.equal(invoice.contentType, 'application/xml');
      assert.equal((messages['shop.order-refunded'] as Record<string, unknown>).deprecated, true);

      const schemas = components.schemas as Record<string, Record<string, unknown>>;
      const refund = schemas['shop.order-refunded'] as Record<string, unknown>;
      assert.equal(
        refund.schemaFormat,
        JSON_SCHEMA_2020_12_FORMAT,
        '2020-12 keywords kept as such',
      );
      const note = schemas['shop.order-noted'] as Record<string, unknown>;
      assert.equal(note.$schema, undefined, 'draft-07-compatible: an AsyncAPI Schema Object');
      assert.deepEqual(note.properties, {
        note: { $ref: '#/components/schemas/shop.order-noted/$defs/text' },
      });
      const trait = components.messageTraits?.cloudEventsBinaryMode as Record<string, unknown>;
      assert.deepEqual((trait.headers as { required: string[] }).required, [
        'ce-specversion',
        'ce-id',
        'ce-source',
        'ce-type',
      ]);
    });

    it("validates too in a producer's view, with its types only and the Host as server", async () => {
      const res = await get(`${fx.url}/asyncapi.json`, asAcme);
      assert.equal(res.status, 200);
      assertValidAsyncApi(res.json);
      assert.deepEqual(Object.keys(res.json.channels as object), [
        'shop.ghost',
        'shop.order-created',
        'shop.order-noted',
        'shop.order-refunded',
        'shop.order-shipped',
      ]);
      const server = (res.json.servers as Record<string, Record<string, unknown>>).herald;
      assert.equal(server?.host, `127.0.0.1:${fx.broker.port}`);
      assert.equal(server?.protocol, 'http');
      assert.match(String(res.headers.vary), /Host/);

      // A Host that is no host[:port] is not echoed into the document.
      const bogusHost = await get(`${fx.url}/asyncapi.json`, { ...asAcme, host: 'a"b<c>' });
      assert.equal(bogusHost.status, 200);
      assert.equal(bogusHost.json.servers, undefined);
    });

    it('validates with no types at all', async () => {
      const res = await get(`${fx.url}/asyncapi.json`, { 'x-api-key': OTHER_KEY });
      assertValidAsyncApi(res.json);
    });
  });
});
