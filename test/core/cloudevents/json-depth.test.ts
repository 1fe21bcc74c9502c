import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  decodeBatch,
  decodeBinary,
  decodeStructured,
} from '../../../core/cloudevents/index.js';
import { MAX_JSON_DEPTH } from '../../../core/cloudevents/json-depth.js';
import { assertCodecError } from './support.js';

const nest = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
const event = (data: string): string =>
  `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":${data}}`;
const binaryHeaders = {
  'ce-specversion': '1.0',
  'ce-id': '1',
  'ce-source': '/s',
  'ce-type': 't',
  'content-type': 'application/json',
};

describe('JSON nesting limit', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels in all, refuses one more, in every JSON mode`, () => {
    assert.ok(decodeStructured(event(nest(MAX_JSON_DEPTH - 1))));
    assertCodecError(() => decodeStructured(event(nest(MAX_JSON_DEPTH))), CodecErrorCode.Malformed);
    assert.ok(decodeBatch(`[${event(nest(MAX_JSON_DEPTH - 2))}]`));
    assertCodecError(
      () => decodeBatch(`[${event(nest(MAX_JSON_DEPTH - 1))}]`),
      CodecErrorCode.Malformed,
    );
    assert.ok(decodeBinary(binaryHeaders, Buffer.from(nest(MAX_JSON_DEPTH))));
    assertCodecError(
      () => decodeBinary(binaryHeaders, Buffer.from(nest(MAX_JSON_DEPTH + 1))),
      CodecErrorCode.Malformed,
      'data',
    );
  });

  it('counts only real nesting: many siblings and brackets inside strings are fine', () => {
    const wide = `[${Array.from({ length: 500 }, () => '{"a":[1]}').join(',')}]`;
    assert.ok(decodeStructured(event(wide)));
    assert.ok(decodeStructured(event(JSON.stringify('['.repeat(1000)))));
  });
});
