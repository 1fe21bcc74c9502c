/** The protobuf codec refuses invalid events and malformed wire data, and never crashes. */
import { strict as assert } from 'node:assert';
import {
  CodecError,
  CodecErrorCode,
  decodeProtobuf,
  decodeProtobufBatch,
} from '../../../core/cloudevents/index.js';
import {
  REQUIRED,
  concat,
  key,
  lenField,
  loadProtoPeer,
  text,
  type ProtoPeer,
} from './protobuf-peer.js';
import { assertCodecError } from './support.js';

describe('CloudEvents protobuf codec, refusals', () => {
  let peer: ProtoPeer;
  before(async () => {
    peer = await loadProtoPeer();
  });

  const encodePeer = (value: Record<string, unknown>): Uint8Array =>
    peer.encode(peer.CloudEvent, { ...REQUIRED, ...value });

  describe('refusing invalid events', () => {
    const cases: [string, Record<string, unknown>, string, string?][] = [
      ['no spec_version', { spec_version: '' }, CodecErrorCode.MissingAttribute, 'specversion'],
      ['spec_version 0.3', { spec_version: '0.3' }, CodecErrorCode.UnsupportedSpecVersion],
      ['no id', { id: '' }, CodecErrorCode.MissingAttribute, 'id'],
      ['no type', { type: '' }, CodecErrorCode.MissingAttribute, 'type'],
      ['a source with a space', { source: 'a b' }, CodecErrorCode.InvalidAttribute, 'source'],
      ['a control character in id', { id: 'a\u0001' }, CodecErrorCode.InvalidAttribute, 'id'],
      [
        'an upper-case name',
        { attributes: { Bad: { ce_string: 'x' } } },
        CodecErrorCode.InvalidAttributeName,
        'Bad',
      ],
      [
        '__proto__ as a name',
        { attributes: { __proto__x: { ce_string: 'x' } } },
        CodecErrorCode.InvalidAttributeName,
      ],
      [
        'id among the attributes',
        { attributes: { id: { ce_string: 'x' } } },
        CodecErrorCode.InvalidAttribute,
        'id',
      ],
      [
        'a time that is not RFC 3339',
        { attributes: { time: { ce_string: 'yesterday' } } },
        CodecErrorCode.InvalidAttribute,
        'time',
      ],
      [
        'a ce_uri that is relative',
        { attributes: { link: { ce_uri: 'relative/path' } } },
        CodecErrorCode.InvalidAttribute,
        'link',
      ],
      [
        'an attribute without a value',
        { attributes: { empty: {} } },
        CodecErrorCode.InvalidAttribute,
        'empty',
      ],
      [
        'an integer datacontenttype',
        { attributes: { datacontenttype: { ce_integer: 5 } } },
        CodecErrorCode.InvalidAttribute,
        'datacontenttype',
      ],
      [
        'JSON text that is not JSON',
        { text_data: '{bad', attributes: { datacontenttype: { ce_string: 'application/json' } } },
        CodecErrorCode.Malformed,
        'data',
      ],
      [
        'JSON bytes that are not UTF-8',
        {
          binary_data: Buffer.from([0x7b, 0xff, 0x7d]),
          attributes: { datacontenttype: { ce_string: 'application/json' } },
        },
        CodecErrorCode.Malformed,
      ],
    ];
    for (const [name, fields, code, attribute] of cases) {
      it(`refuses ${name}`, () => {
        assertCodecError(
          () => decodeProtobuf(encodePeer(fields)),
          code as CodecErrorCode,
          attribute,
        );
      });
    }

    it('never lets an attribute name reach the prototype', () => {
      const entry = [...lenField(1, text('__proto__')), ...lenField(2, lenField(3, text('x')))];
      assertCodecError(
        () => decodeProtobuf(concat(encodePeer({}), lenField(5, entry))),
        CodecErrorCode.InvalidAttributeName,
      );
      assert.equal(({} as Record<string, unknown>).x, undefined);
    });

    it('reads open-cluster-management `ce-` keys only when asked to', () => {
      const bytes = encodePeer({ attributes: { 'ce-clustername': { ce_string: 'c1' } } });
      assertCodecError(() => decodeProtobuf(bytes), CodecErrorCode.InvalidAttributeName);
      const event = decodeProtobuf(bytes, { attributeKeyPrefix: 'ce-' });
      assert.equal(event.attributes.clustername, 'c1');
    });
  });

  describe('refusing malformed wire data', () => {
    const malformed: [string, number[]][] = [
      ['field number 0', [0x00, 0x01]],
      ['wire type 7', [0x0f]],
      ['wire type 6', [0x0e]],
      ['a varint of 11 bytes', [...key(100, 0), ...Array(10).fill(0xff), 0x01]],
      ['a truncated varint', [...key(100, 0), 0x80]],
      ['a truncated key', [0x80]],
      ['a length past the end', [...key(1, 2), 5, 0x61]],
      ['a huge length', [...key(1, 2), 0xff, 0xff, 0xff, 0xff, 0x0f]],
      ['a truncated fixed64', [...key(100, 1), 1, 2, 3]],
      ['a truncated fixed32', [...key(100, 5), 1]],
      ['an unterminated group', [...key(104, 3), ...key(1, 0), 1]],
      ['an end of group alone', [...key(104, 4)]],
      ['mismatched groups', [...key(104, 3), ...key(105, 4)]],
      ['groups nested too deeply', Array.from({ length: 100 }, () => key(104, 3)).flat()],
      ['id as a varint', [...key(1, 0), 1]],
      [
        'ce_integer as bytes',
        lenField(5, [...lenField(1, text('n')), ...lenField(2, lenField(2, [1]))]),
      ],
      ['id not UTF-8', lenField(1, [0xc3, 0x28])],
      ['an attribute entry past its end', [...key(5, 2), 10, ...lenField(1, text('abc'))]],
    ];
    for (const [name, wire] of malformed) {
      it(`refuses ${name}`, () => {
        assertCodecError(
          () => decodeProtobuf(concat(encodePeer({}), wire)),
          CodecErrorCode.Malformed,
        );
      });
    }

    it('refuses every truncation inside a field, and never fails otherwise', () => {
      const full = encodePeer({
        attributes: {
          time: { ce_timestamp: { seconds: 1_700_000_000, nanos: 5 } },
          n: { ce_integer: -1 },
        },
        text_data: 'payload',
      });
      for (let length = 0; length < full.length; length++) {
        try {
          decodeProtobuf(full.subarray(0, length));
        } catch (err) {
          assert.ok(err instanceof CodecError, `prefix ${length}: ${String(err)}`);
        }
      }
      assertCodecError(() => decodeProtobuf(full.subarray(0, -1)), CodecErrorCode.Malformed);
    });

    it('survives random mutations: a CodecError or an event, never a crash or a hang', function () {
      this.timeout(20_000);
      const seeds = [
        encodePeer({
          attributes: {
            time: { ce_timestamp: { seconds: 1, nanos: 2 } },
            blob: { ce_bytes: Buffer.from('xyz') },
            datacontenttype: { ce_string: 'application/json' },
          },
          text_data: '{"a":[1,2,3]}',
        }),
        peer.encode(peer.CloudEventBatch, { events: [REQUIRED, REQUIRED] }),
      ];
      let state = 42;
      const random = (n: number): number => {
        state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
        return state % n;
      };
      const deadline = Date.now() + 3_000;
      let runs = 0;
      while (Date.now() < deadline && runs < 20_000) {
        const seed = seeds[runs % seeds.length] as Uint8Array;
        const bytes = Buffer.from(seed);
        const edits = 1 + random(4);
        for (let e = 0; e < edits; e++) bytes[random(bytes.length)] = random(256);
        const cut = random(3) === 0 ? bytes.subarray(0, random(bytes.length)) : bytes;
        for (const decode of [decodeProtobuf, decodeProtobufBatch]) {
          try {
            decode(cut);
          } catch (err) {
            assert.ok(err instanceof CodecError, `${String(err)} for ${cut.toString('hex')}`);
          }
        }
        runs++;
      }
      assert.ok(runs > 100);
    });
  });
});
