import { strict as assert } from 'node:assert';
import { CloudEvent } from 'cloudevents';
import { request } from 'undici';
import {
  ACME_KEY,
  ORDER_CREATED,
  ORDER_SHIPPED,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const PROBLEM = 'https://herald.dev/problems/';

describe('broker HTTP ingest, batch mode', function () {
  let fx: BrokerFixture;
  let seq = 0;
  const nextId = (): string => `batch-${Date.now()}-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture();
  });
  after(() => fx?.stop());

  function orderEvent(overrides: Record<string, unknown> = {}): CloudEvent<unknown> {
    return new CloudEvent<unknown>({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/shop/eu',
      id: nextId(),
      data: { orderId: 'o-1', total: 12.5 },
      ...overrides,
    });
  }

  function postBatch(body: string) {
    return request(`${fx.url}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents-batch+json',
        authorization: `Bearer ${ACME_KEY}`,
      },
      body,
    });
  }

  it('accepts a batch whole, with a receipt per event, and refuses it whole', async () => {
    const events = [orderEvent(), orderEvent({ type: ORDER_SHIPPED.type, data: { n: 1 } })];
    const batch = JSON.stringify(events.map((e) => e.toJSON()));
    const res = await postBatch(batch);
    assert.equal(res.statusCode, 202);
    const receipts = (await res.body.json()) as Record<string, unknown>[];
    assert.equal(receipts.length, 2);
    assert.deepEqual(
      receipts.map((r) => [r.id, r.type, r.duplicate]),
      events.map((e) => [e.id, e.type, false]),
    );

    const before = (await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages;
    const mixed = JSON.stringify([
      orderEvent().toJSON(),
      orderEvent({ data: { total: -1 } }).toJSON(),
    ]);
    const refused = await postBatch(mixed);
    assert.equal(refused.statusCode, 422);
    const problem = (await refused.body.json()) as Record<string, unknown>;
    assert.equal(problem.type, `${PROBLEM}schema-validation-failed`);
    assert.equal(problem.index, 1);
    assert.equal((problem.failures as unknown[]).length, 1);
    const after = (await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages;
    assert.equal(after, before, 'nothing of a refused batch is stored');
  });

  it('answers duplicates in a repeated batch with the original sequences', async () => {
    const batch = JSON.stringify([orderEvent().toJSON(), orderEvent().toJSON()]);
    const first = (await (await postBatch(batch)).body.json()) as Record<string, unknown>[];
    const again = (await (await postBatch(batch)).body.json()) as Record<string, unknown>[];
    assert.deepEqual(
      again.map((r) => [r.sequence, r.duplicate]),
      first.map((r) => [r.sequence, true]),
    );
  });

  it('answers an empty batch with no receipts', async () => {
    const res = await postBatch('[]');
    assert.equal(res.statusCode, 202);
    assert.deepEqual(await res.body.json(), []);
  });
});
