/**
 * Integer extension attributes must be written without fraction or exponent (JSON format
 * §2.2) — but only the event's own members count, never numbers inside `data` or another
 * event of a batch.
 */
import { strict as assert } from 'node:assert';
import { CodecErrorCode, decodeBatch, decodeStructured } from '../../../core/cloudevents/index.js';
import { assertCodecError } from './support.js';

const head = '"specversion":"1.0","source":"https://acme.example/orders","type":"t"';

describe('integer forms of extension attributes', () => {
  it('accepts an integer extension when data, written before it, holds the same name as a decimal', () => {
    const text = `{${head},"id":"a","data":{"count":2.5,"n":[1e3]},"count":3}`;
    assert.equal(decodeStructured(text).attributes.count, 3);
  });

  it('accepts an integer extension in one batch event when another event has a decimal of that name in data', () => {
    const text = `[{${head},"id":"a","count":3},{${head},"id":"b","data":{"count":2.5}}]`;
    const events = decodeBatch(text);
    assert.deepEqual(
      events.map((e) => e.attributes.count),
      [3, undefined],
    );
  });

  it('refuses a fraction or exponent in the event’s own integer member, naming the batch index', () => {
    assertCodecError(
      () => decodeStructured(`{${head},"id":"a","count":3.0,"data":{"x":1}}`),
      CodecErrorCode.InvalidAttribute,
      'count',
    );
    assertCodecError(
      () => decodeBatch(`[{${head},"id":"a","count":3},{${head},"id":"b","data":"s","count":3e0}]`),
      CodecErrorCode.InvalidAttribute,
      '[1].count',
    );
  });

  it('is not fooled by names and numbers inside string values', () => {
    const text = `{${head},"id":"a","note":"\\"count\\":2.5","count":4}`;
    assert.equal(decodeStructured(text).attributes.count, 4);
  });
});
