import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  HttpContentMode,
  decodeHttpRequest,
  decodeProtobuf,
  decodeProtobufBatch,
  decodeStructured,
  encodeProtobuf,
  encodeProtobufBatch,
  encodeStructured,
  type CloudEvent,
} from '../../../core/cloudevents/index.js';
import {
  GROUPS,
  REQUIRED,
  UNKNOWN_FIELDS,
  concat,
  key,
  lenField,
  loadProtoPeer,
  text,
  varint,
  type ProtoPeer,
} from './protobuf-peer.js';
import { assertCodecError } from './support.js';

describe('CloudEvents protobuf codec', () => {
  let peer: ProtoPeer;
  before(async () => {
    peer = await loadProtoPeer();
  });

  const encodePeer = (value: Record<string, unknown>): Uint8Array =>
    peer.encode(peer.CloudEvent, { ...REQUIRED, ...value });

  describe('reading what protobufjs writes', () => {
    it('reads every attribute type into its canonical form', () => {
      const event = decodeProtobuf(
        encodePeer({
          attributes: {
            flag: { ce_boolean: true },
            off: { ce_boolean: false },
            count: { ce_integer: -2_147_483_648 },
            max: { ce_integer: 2_147_483_647 },
            zero: { ce_integer: 0 },
            label: { ce_string: 'grüße ✓' },
            blob: { ce_bytes: Buffer.from([0, 1, 254, 255]) },
            link: { ce_uri: 'https://acme.example/x?y=1' },
            ref: { ce_uri_ref: '../relative#frag' },
            time: { ce_timestamp: { seconds: 1_700_000_000, nanos: 123_000_000 } },
            subject: { ce_string: 'eu-42' },
            dataschema: { ce_uri: 'https://acme.example/schema.json' },
          },
        }),
      );
      assert.deepEqual(event, {
        attributes: {
          specversion: '1.0',
          id: 'evt-1',
          source: 'https://acme.example/orders',
          type: 'com.example.order.created',
          flag: true,
          off: false,
          count: -2_147_483_648,
          max: 2_147_483_647,
          zero: 0,
          label: 'grüße ✓',
          blob: 'AAH+/w==',
          link: 'https://acme.example/x?y=1',
          ref: '../relative#frag',
          time: '2023-11-14T22:13:20.123Z',
          subject: 'eu-42',
          dataschema: 'https://acme.example/schema.json',
        },
        data: undefined,
      });
    });

    const timestamps: [number, number, string][] = [
      [0, 0, '1970-01-01T00:00:00Z'],
      [1, 500_000_000, '1970-01-01T00:00:01.500Z'],
      [1, 1_000, '1970-01-01T00:00:01.000001Z'],
      [1, 1, '1970-01-01T00:00:01.000000001Z'],
      [-1, 999_999_999, '1969-12-31T23:59:59.999999999Z'],
      [-62_135_596_800, 0, '0001-01-01T00:00:00Z'],
      [253_402_300_799, 999_999_999, '9999-12-31T23:59:59.999999999Z'],
    ];
    for (const [seconds, nanos, expected] of timestamps) {
      it(`writes Timestamp {${seconds}, ${nanos}} as ${expected}`, () => {
        const event = decodeProtobuf(
          encodePeer({ attributes: { time: { ce_timestamp: { seconds, nanos } } } }),
        );
        assert.equal(event.attributes.time, expected);
      });
    }

    it('refuses Timestamps outside 0001…9999 and invalid nanos', () => {
      for (const ts of [
        { seconds: 253_402_300_800 },
        { seconds: -62_135_596_801 },
        { seconds: 1, nanos: 1_000_000_000 },
        { seconds: 1, nanos: -1 },
      ]) {
        assertCodecError(
          () => decodeProtobuf(encodePeer({ attributes: { when: { ce_timestamp: ts } } })),
          CodecErrorCode.InvalidAttribute,
          'when',
        );
      }
    });

    it('reads each kind of data', () => {
      const json = { datacontenttype: { ce_string: 'application/json; charset=utf-8' } };
      const cases: [Record<string, unknown>, unknown][] = [
        [{ binary_data: Buffer.from([1, 2, 3]) }, { kind: 'binary', value: [1, 2, 3] }],
        [
          { text_data: '<a/>', attributes: { datacontenttype: { ce_string: 'application/xml' } } },
          { kind: 'text', value: '<a/>' },
        ],
        [{ text_data: 'plain, no type' }, { kind: 'text', value: 'plain, no type' }],
        [
          { text_data: '{"total":1}', attributes: json },
          { kind: 'json', value: { total: 1 }, text: '{"total":1}' },
        ],
        // The Go SDK and open-cluster-management send JSON as bytes.
        [
          { binary_data: Buffer.from('[1,"ü"]'), attributes: json },
          { kind: 'json', value: [1, 'ü'], text: '[1,"ü"]' },
        ],
        [
          {
            proto_data: { type_url: 'type.googleapis.com/acme.Order', value: Buffer.from([8, 1]) },
          },
          { kind: 'binary', value: [8, 1], typeUrl: 'type.googleapis.com/acme.Order' },
        ],
        [{ binary_data: Buffer.alloc(0), attributes: json }, undefined],
        [{}, undefined],
      ];
      for (const [fields, expected] of cases) {
        const { data } = decodeProtobuf(encodePeer(fields));
        const comparable = data?.kind === 'binary' ? { ...data, value: [...data.value] } : data;
        assert.deepEqual(comparable, expected, JSON.stringify(fields));
      }
    });

    it('reads a batch, naming the entry of an invalid event', () => {
      const batch = peer.encode(peer.CloudEventBatch, {
        events: [REQUIRED, { ...REQUIRED, id: 'evt-2' }],
      });
      assert.deepEqual(
        decodeProtobufBatch(batch).map((e) => e.attributes.id),
        ['evt-1', 'evt-2'],
      );
      assert.deepEqual(decodeProtobufBatch(new Uint8Array(0)), []);
      const bad = peer.encode(peer.CloudEventBatch, {
        events: [REQUIRED, { ...REQUIRED, id: '' }],
      });
      assertCodecError(() => decodeProtobufBatch(bad), CodecErrorCode.MissingAttribute, '[1].id');
    });

    it('skips unknown fields of every wire type, at every level', () => {
      const base = encodePeer({ text_data: 'x' });
      const timestamp = [...key(1, 0), ...varint(60), ...UNKNOWN_FIELDS, ...GROUPS];
      const value = [...UNKNOWN_FIELDS, ...lenField(7, timestamp), ...GROUPS];
      const entry = [...lenField(1, text('when')), ...UNKNOWN_FIELDS, ...lenField(2, value)];
      const event = decodeProtobuf(
        concat(UNKNOWN_FIELDS, GROUPS, base, lenField(5, entry), UNKNOWN_FIELDS),
      );
      assert.equal(event.attributes.when, '1970-01-01T00:01:00Z');
      assert.equal(event.attributes.id, 'evt-1');
      assert.deepEqual(event.data, { kind: 'text', value: 'x' });
      const batch = peer.encode(peer.CloudEventBatch, { events: [REQUIRED] });
      assert.equal(decodeProtobufBatch(concat(UNKNOWN_FIELDS, batch, GROUPS)).length, 1);
    });

    it('lets the last of repeated fields win, as protobuf does', () => {
      const first = encodePeer({ attributes: { x: { ce_string: 'a' } }, text_data: 'one' });
      const second = concat(
        lenField(5, [...lenField(1, text('x')), ...lenField(2, [...key(2, 0), 7])]),
        lenField(6, [1]),
      );
      const event = decodeProtobuf(concat(first, second));
      assert.equal(event.attributes.x, 7);
      assert.equal(event.data?.kind, 'binary');
    });
  });

  describe('writing what protobufjs reads', () => {
    const event: CloudEvent = {
      attributes: {
        specversion: '1.0',
        id: 'evt-9',
        source: '/orders',
        type: 'com.example.order.created',
        time: '2024-02-29T12:00:00.25+01:00',
        dataschema: 'https://acme.example/s.json',
        subject: 'ü',
        retries: -3,
        urgent: true,
      },
      data: { kind: 'json', value: { total: 1 }, text: '{"total":1}' },
    };

    it('writes every attribute with its protobuf type', () => {
      const decoded = peer.decode(peer.CloudEvent, encodeProtobuf(event));
      assert.deepEqual(decoded, {
        id: 'evt-9',
        source: '/orders',
        spec_version: '1.0',
        type: 'com.example.order.created',
        attributes: {
          time: {
            ce_timestamp: { seconds: 1_709_204_400, nanos: 250_000_000 },
            attr: 'ce_timestamp',
          },
          dataschema: { ce_uri: 'https://acme.example/s.json', attr: 'ce_uri' },
          subject: { ce_string: 'ü', attr: 'ce_string' },
          retries: { ce_integer: -3, attr: 'ce_integer' },
          urgent: { ce_boolean: true, attr: 'ce_boolean' },
          datacontenttype: { ce_string: 'application/json', attr: 'ce_string' },
        },
        text_data: '{"total":1}',
        data: 'text_data',
      });
    });

    it('keeps times a Timestamp cannot hold exactly as strings', () => {
      for (const time of ['2016-12-31T23:59:60Z', '2024-01-01T00:00:00.1234567891Z']) {
        const decoded = peer.decode(
          peer.CloudEvent,
          encodeProtobuf({ attributes: { ...event.attributes, time }, data: undefined }),
        );
        assert.deepEqual((decoded.attributes as Record<string, unknown>).time, {
          ce_string: time,
          attr: 'ce_string',
        });
      }
    });

    it('writes binary data as binary_data, and proto data back as proto_data', () => {
      const binary = peer.decode(
        peer.CloudEvent,
        encodeProtobuf({ ...event, data: { kind: 'binary', value: new Uint8Array([7]) } }),
      );
      assert.deepEqual(binary.binary_data, Buffer.from([7]));
      const proto = peer.decode(
        peer.CloudEvent,
        encodeProtobuf({
          ...event,
          data: { kind: 'binary', value: new Uint8Array([8, 1]), typeUrl: 'type.x/a.B' },
        }),
      );
      assert.deepEqual(proto.proto_data, { type_url: 'type.x/a.B', value: Buffer.from([8, 1]) });
    });

    it('round-trips through its own decoder and the stored JSON form', () => {
      const again = decodeProtobuf(encodeProtobuf(event));
      const expected = {
        ...event,
        attributes: {
          ...event.attributes,
          time: '2024-02-29T11:00:00.250Z',
          datacontenttype: 'application/json',
        },
      };
      assert.deepEqual(again, expected);
      assert.deepEqual(decodeStructured(encodeStructured(again)), expected);
      const batch = encodeProtobufBatch([event, { ...event, data: undefined }]);
      const events = (peer.decode(peer.CloudEventBatch, batch).events as unknown[]).length;
      assert.equal(events, 2);
      assert.equal(decodeProtobufBatch(batch)[1]?.data, undefined);
    });
  });

  describe('decodeHttpRequest', () => {
    it('reads application/cloudevents+protobuf and its batch type', () => {
      const one = decodeHttpRequest(
        { 'content-type': 'application/cloudevents+protobuf; foo=bar' },
        encodePeer({}),
      );
      assert.equal(one.mode, HttpContentMode.Structured);
      assert.equal(one.events[0]?.attributes.id, 'evt-1');
      const batch = decodeHttpRequest(
        { 'content-type': 'Application/CloudEvents-Batch+Protobuf' },
        peer.encode(peer.CloudEventBatch, { events: [REQUIRED, REQUIRED] }),
      );
      assert.equal(batch.mode, HttpContentMode.Batch);
      assert.equal(batch.events.length, 2);
    });
  });
});
