import { strict as assert } from 'node:assert';
import { CloudEvent } from 'cloudevents';
import { request } from 'undici';
import {
  ACME_KEY,
  GHOST,
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

  it('says which events were stored when storing fails part-way, and a whole retry is safe', async () => {
    // `ghost` is registered but has no stream yet: its publish finds no responder.
    const events = [orderEvent(), orderEvent({ type: GHOST.type, data: {} }), orderEvent()];
    const batch = JSON.stringify(events.map((e) => e.toJSON()));
    const partial = await postBatch(batch);
    assert.equal(partial.statusCode, 503);
    assert.match(String(partial.headers['retry-after']), /^\d+$/);
    const problem = (await partial.body.json()) as {
      type: string;
      stored: { index: number; id: string; duplicate: boolean }[];
      failed: number[];
    };
    assert.equal(problem.type, `${PROBLEM}jetstream-unavailable`);
    assert.deepEqual(
      problem.stored.map((r) => [r.index, r.id, r.duplicate]),
      [
        [0, events[0]?.id, false],
        [2, events[2]?.id, false],
      ],
    );
    assert.deepEqual(problem.failed, [1]);

    await fx.jsm.streams.add({ name: GHOST.stream, subjects: [GHOST.subject] });
    try {
      const retry = await postBatch(batch);
      assert.equal(retry.statusCode, 202);
      const receipts = (await retry.body.json()) as { id: string; duplicate: boolean }[];
      assert.deepEqual(
        receipts.map((r) => [r.id, r.duplicate]),
        events.map((e, i) => [e.id, i !== 1]),
      );
    } finally {
      await fx.jsm.streams.delete(GHOST.stream);
    }
  });

  it('answers an empty batch with no receipts', async () => {
    const res = await postBatch('[]');
    assert.equal(res.statusCode, 202);
    assert.deepEqual(await res.body.json(), []);
  });
});
