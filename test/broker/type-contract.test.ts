/**
 * What an EventType promises beyond its schema: the `dataContentType` its events carry is
 * enforced at ingest, and a `deprecated` type still accepts events but says so in the receipt
 * (HTTP and gRPC).
 */
import { strict as assert } from 'node:assert';
import { request } from 'undici';
import { writeCompiledConfig, type ConfigChange } from '../../core/config/kv.js';
import { decodeStructured } from '../../core/cloudevents/index.js';
import {
  ACME_KEY,
  NS,
  ORDER_SHIPPED,
  buildBaseConfig,
  buildEventType,
  readLastMessage,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';
import {
  buildMetadata,
  callUnary,
  createEventBrokerClient,
  type EventBrokerClient,
} from './grpc-client.js';

const PROBLEM = 'https://herald.dev/problems/';
const INVOICE_XML = {
  ...buildEventType('invoice-xml', 'com.example.invoice.xml'),
  dataContentType: 'application/xml',
};
const ORDER_LEGACY = {
  ...buildEventType('order-legacy', 'com.example.order.legacy'),
  deprecated: true,
};

describe('broker: the EventType contract (dataContentType, deprecated)', function () {
  let fx: BrokerFixture;
  let grpcClient: EventBrokerClient;
  let seq = 0;
  const nextId = (): string => `contract-${Date.now()}-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture({ grpcPort: 0 });
    grpcClient = createEventBrokerClient(fx.broker.grpcPort!);
    for (const et of [INVOICE_XML, ORDER_LEGACY]) {
      await fx.jsm.streams.add({ name: et.stream, subjects: [et.subject] });
    }
    const config = buildBaseConfig();
    config.eventTypes.push(INVOICE_XML, ORDER_LEGACY);
    const acme = config.producers.find((p) => p.name === 'acme')!;
    acme.eventTypes.push(INVOICE_XML.name, ORDER_LEGACY.name);
    const applied = new Promise<void>((resolve) => {
      const seen = new Set<string>();
      const onChange = (change: ConfigChange): void => {
        seen.add(change.key);
        const wanted = [
          `eventtype.${NS}.invoice-xml`,
          `eventtype.${NS}.order-legacy`,
          `producer.${NS}.acme`,
        ];
        if (!wanted.every((k) => seen.has(k))) return;
        fx.broker.config.off('change', onChange);
        resolve();
      };
      fx.broker.config.on('change', onChange);
    });
    await writeCompiledConfig(fx.kv, config);
    await applied;
  });
  after(async () => {
    grpcClient?.close();
    await fx?.stop();
  });

  async function post(headers: Record<string, string>, body: string) {
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${ACME_KEY}` },
      body,
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }
  const binary = (type: string, contentType: string, extra: Record<string, string> = {}) => ({
    'content-type': contentType,
    'ce-specversion': '1.0',
    'ce-id': nextId(),
    'ce-source': 'https://acme.example/billing',
    'ce-type': type,
    ...extra,
  });
  const structured = (event: Record<string, unknown>) =>
    JSON.stringify({
      specversion: '1.0',
      id: nextId(),
      source: 'https://acme.example/billing',
      ...event,
    });
  const STRUCTURED = { 'content-type': 'application/cloudevents+json' };

  function assertRefused(
    res: { status: number; body: Record<string, unknown> },
    must: string,
    named: string,
  ) {
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.type, `${PROBLEM}schema-validation-failed`);
    assert.deepEqual(res.body.errors, [{ instancePath: '', message: `must be ${must}` }]);
    assert.match(
      String(res.body.detail),
      new RegExp(`datacontenttype is ${named.replace('+', '\\+')}`),
    );
  }

  describe('dataContentType', () => {
    it('accepts data in the declared media type, whatever its parameters, and stores it as sent', async () => {
      const res = await post(
        binary(INVOICE_XML.type, 'Application/XML; charset=utf-8'),
        '<invoice n="7"/>',
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const { msg } = await readLastMessage(fx.jsm, INVOICE_XML.stream);
      const stored = decodeStructured(msg.data);
      // Binary-mode bodies of non-JSON types are kept as bytes (stored as data_base64).
      assert.equal(stored.data?.kind, 'binary');
      assert.equal(Buffer.from(stored.data.value as Uint8Array).toString(), '<invoice n="7"/>');
      assert.equal(stored.attributes.datacontenttype, 'Application/XML; charset=utf-8');
    });

    it('accepts structured events naming the declared type for their string data', async () => {
      const res = await post(
        STRUCTURED,
        structured({
          type: INVOICE_XML.type,
          datacontenttype: 'application/xml',
          data: '<invoice/>',
        }),
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
    });

    it('refuses another media type with 422 naming both, and stores nothing', async () => {
      const before = (await fx.jsm.streams.info(INVOICE_XML.stream)).state.messages;
      assertRefused(
        await post(binary(INVOICE_XML.type, 'text/plain'), '<invoice/>'),
        'application/xml',
        'text/plain',
      );
      assertRefused(
        await post(binary(INVOICE_XML.type, 'application/json'), '{"n":7}'),
        'application/xml',
        'application/json',
      );
      // Structured JSON data without a datacontenttype is JSON (JSON format §3.1.1).
      assertRefused(
        await post(STRUCTURED, structured({ type: INVOICE_XML.type, data: { n: 7 } })),
        'application/xml',
        'not set',
      );
      assert.equal((await fx.jsm.streams.info(INVOICE_XML.stream)).state.messages, before);
    });

    it('takes an event without data: the type only constrains data that is there', async () => {
      const res = await post(STRUCTURED, structured({ type: INVOICE_XML.type }));
      assert.equal(res.status, 202, JSON.stringify(res.body));
    });

    it('takes any JSON media type for a JSON type without a schema, and nothing else', async () => {
      const vendor = await post(
        binary(ORDER_SHIPPED.type, 'application/vnd.acme.shipment+json'),
        '{"carrier":"dhl"}',
      );
      assert.equal(vendor.status, 202, JSON.stringify(vendor.body));
      assertRefused(
        await post(binary(ORDER_SHIPPED.type, 'text/plain'), 'shipped'),
        'application/json',
        'text/plain',
      );
      assertRefused(
        await post(binary(ORDER_SHIPPED.type, 'application/octet-stream'), 'x'),
        'application/json',
        'application/octet-stream',
      );
    });

    it('takes JSON sent as data_base64 under a JSON datacontenttype for a type without a schema', async () => {
      const res = await post(
        STRUCTURED,
        structured({
          type: ORDER_SHIPPED.type,
          datacontenttype: 'application/json',
          data_base64: Buffer.from('{"carrier":"ups"}').toString('base64'),
        }),
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
    });

    it('refuses a whole batch when one event carries the wrong media type', async () => {
      const good = {
        specversion: '1.0',
        id: nextId(),
        source: 'https://acme.example/billing',
        type: INVOICE_XML.type,
        datacontenttype: 'application/xml',
        data: '<a/>',
      };
      const bad = { ...good, id: nextId(), datacontenttype: 'text/csv', data: 'a,b' };
      const before = (await fx.jsm.streams.info(INVOICE_XML.stream)).state.messages;
      const res = await post(
        { 'content-type': 'application/cloudevents-batch+json' },
        JSON.stringify([good, bad]),
      );
      assertRefused(res, 'application/xml', 'text/csv');
      assert.equal(res.body.index, 1);
      assert.equal((await fx.jsm.streams.info(INVOICE_XML.stream)).state.messages, before);
    });

    it('applies over gRPC too', async () => {
      const { error } = await callUnary(
        grpcClient.Publish,
        grpcClient,
        {
          id: nextId(),
          source: 'https://acme.example/billing',
          spec_version: '1.0',
          type: INVOICE_XML.type,
          attributes: { datacontenttype: { ce_string: 'text/plain' } },
          text_data: '<invoice/>',
        },
        buildMetadata({ authorization: `Bearer ${ACME_KEY}` }),
      );
      assert.ok(error);
      assert.equal(error.code, 3 /* INVALID_ARGUMENT */, error.details);
      assert.match(error.details, /datacontenttype is text\/plain/);
    });
  });

  describe('deprecated', () => {
    it('stores events of a deprecated type and marks their receipts', async () => {
      const res = await post(binary(ORDER_LEGACY.type, 'application/json'), '{"orderId":"o-9"}');
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.deprecated, true);
      const { msg } = await readLastMessage(fx.jsm, ORDER_LEGACY.stream);
      assert.equal(decodeStructured(msg.data).attributes.type, ORDER_LEGACY.type);
    });

    it('leaves the field out for a current type', async () => {
      const res = await post(binary(ORDER_SHIPPED.type, 'application/json'), '{}');
      assert.equal(res.status, 202);
      assert.equal('deprecated' in res.body, false);
    });

    it('marks the receipt over gRPC', async () => {
      const publish = (type: string) =>
        callUnary(
          grpcClient.Publish,
          grpcClient,
          {
            id: nextId(),
            source: 'https://acme.example/billing',
            spec_version: '1.0',
            type,
            text_data: '{}',
            attributes: { datacontenttype: { ce_string: 'application/json' } },
          },
          buildMetadata({ authorization: `Bearer ${ACME_KEY}` }),
        );
      const legacy = await publish(ORDER_LEGACY.type);
      assert.equal(legacy.error, undefined, legacy.error?.details);
      assert.equal((legacy.response as { deprecated?: boolean }).deprecated, true);
      const current = await publish(ORDER_SHIPPED.type);
      assert.notEqual((current.response as { deprecated?: boolean }).deprecated, true);
    });
  });
});
