/** The Protobuf event format over HTTP: POST /events with both protobuf media types. */
import { strict as assert } from 'node:assert';
import { request } from 'undici';
import { decodeStructured } from '../../core/cloudevents/index.js';
import { loadProtoPeer, type ProtoPeer } from '../core/cloudevents/protobuf-peer.js';
import {
  ACME_KEY,
  ORDER_CREATED,
  readLastMessage,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const PROBLEM = 'https://herald.dev/problems/';

describe('broker HTTP ingest, protobuf format', function () {
  let fx: BrokerFixture;
  let peer: ProtoPeer;
  let seq = 0;
  const nextId = (): string => `pb-${Date.now()}-${++seq}`;

  before(async () => {
    peer = await loadProtoPeer();
    fx = await startBrokerFixture();
  });
  after(() => fx?.stop());

  function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      id: nextId(),
      source: 'https://acme.example/shop/eu',
      spec_version: '1.0',
      type: ORDER_CREATED.type,
      attributes: { datacontenttype: { ce_string: 'application/json' } },
      text_data: JSON.stringify({ orderId: 'o-1', total: 3 }),
      ...overrides,
    };
  }

  async function post(contentType: string, body: Uint8Array) {
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `Bearer ${ACME_KEY}` },
      body,
    });
    return { status: res.statusCode, body: (await res.body.json()) as unknown };
  }

  it('stores an application/cloudevents+protobuf event and answers its receipt', async () => {
    const event = order({
      attributes: { ...(order().attributes as object), region: { ce_string: 'eu' } },
    });
    const res = await post('application/cloudevents+protobuf', peer.encode(peer.CloudEvent, event));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const receipt = res.body as Record<string, unknown>;
    assert.equal(receipt.id, event.id);
    assert.equal(receipt.duplicate, false);
    const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
    assert.equal(msg.seq, receipt.sequence);
    const stored = decodeStructured(msg.data);
    assert.equal(stored.attributes.region, 'eu');
    assert.deepEqual(stored.data?.value, { orderId: 'o-1', total: 3 });
  });

  it('stores an application/cloudevents-batch+protobuf batch with a receipt per event', async () => {
    const events = [order(), order()];
    const res = await post(
      'application/cloudevents-batch+protobuf',
      peer.encode(peer.CloudEventBatch, { events }),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const receipts = res.body as Record<string, unknown>[];
    assert.deepEqual(
      receipts.map((r) => r.id),
      events.map((e) => e.id),
    );
  });

  it('refuses a protobuf batch whole when one event fails its schema', async () => {
    const before = (await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages;
    const res = await post(
      'application/cloudevents-batch+protobuf',
      peer.encode(peer.CloudEventBatch, { events: [order(), order({ text_data: '{}' })] }),
    );
    assert.equal(res.status, 422);
    const problem = res.body as Record<string, unknown>;
    assert.equal(problem.type, `${PROBLEM}schema-validation-failed`);
    assert.equal(problem.index, 1);
    assert.equal((await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages, before);
  });

  it('answers 400 malformed for bytes that are not a protobuf CloudEvent', async () => {
    const res = await post('application/cloudevents+protobuf', Buffer.from([0x0a, 0x05, 0x61]));
    assert.equal(res.status, 400);
    const problem = res.body as Record<string, unknown>;
    assert.equal(problem.type, `${PROBLEM}invalid-cloudevent`);
    assert.equal(problem.code, 'malformed');
  });
});
