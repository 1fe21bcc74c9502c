import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  decodeBinary,
  decodeHeaderValue,
  encodeBinary,
  encodeHeaderValue,
  type CloudEvent,
  type IncomingHeaders,
} from '../../../core/cloudevents/index.js';
import { assertCodecError, bytes } from './support.js';

const HEADERS = {
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': 'https://acme.example/orders',
  'ce-type': 'com.example.order.created',
} as const;
const HEADERS_AS_ATTRIBUTES = {
  specversion: '1.0',
  id: 'evt-1',
  source: 'https://acme.example/orders',
  type: 'com.example.order.created',
};
const EMPTY = new Uint8Array(0);

describe('HTTP binary mode (decodeBinary / encodeBinary)', () => {
  describe('percent-decoding of ce- headers (HTTP binding §3.1.3.2)', () => {
    const decodes: Array<[string, string, string]> = [
      ['leaves plain values alone', 'eu-orders/42', 'eu-orders/42'],
      ['decodes a space', 'a%20b', 'a b'],
      ['decodes two-byte UTF-8', 'gr%C3%B6%C3%9Fe', 'größe'],
      [
        'decodes the spec example (3- and 4-byte UTF-8)',
        'Euro%20%E2%82%AC%20%F0%9F%98%80',
        'Euro € 😀',
      ],
      ['accepts lower-case hex', '%e2%82%ac', '€'],
      ['accepts needlessly encoded ASCII', '%41%42c', 'ABc'],
      ['decodes one round only', '%2541', '%41'],
      ['accepts raw spaces (older senders)', 'hello world', 'hello world'],
      ['unquotes a quoted-string', '"hello world"', 'hello world'],
      ['unescapes backslashes inside quotes', '"say \\"hi\\" \\\\o/"', 'say "hi" \\o/'],
      ['unquotes segments, then percent-decodes', 'a "b c" %C3%A9', 'a b c é'],
    ];
    for (const [name, raw, expected] of decodes) {
      it(name, () => {
        assert.equal(decodeHeaderValue(raw, 'subject'), expected);
        const event = decodeBinary({ ...HEADERS, 'ce-subject': raw }, EMPTY);
        assert.equal(event.attributes.subject, expected);
      });
    }

    const refuses: Array<[string, string]> = [
      ['a lone %', '100%'],
      ['a truncated escape', 'a%2'],
      ['a non-hex escape', '%G1'],
      ['an overlong encoding (%C0%A0)', '%C0%A0'],
      ['a truncated multibyte sequence', '%E2%82'],
      ['a stray continuation byte', '%80'],
      ['an encoded surrogate', '%ED%A0%80'],
      ['a code point above U+10FFFF', '%F4%90%80%80'],
      ['raw non-ASCII (latin1 bytes as Node gives them)', 'gr\u00c3\u00b6'],
      ['a raw tab', 'a\tb'],
      ['an unterminated quoted-string', '"abc'],
    ];
    for (const [name, raw] of refuses) {
      it(`refuses ${name}, naming the header`, () => {
        const err = assertCodecError(
          () => decodeBinary({ ...HEADERS, 'ce-subject': raw }, EMPTY),
          CodecErrorCode.InvalidEncoding,
          'subject',
        );
        assert.match(err.message, /ce-subject/);
      });
    }

    it('checks decoded values against the attribute rules', () => {
      assertCodecError(
        () => decodeBinary({ ...HEADERS, 'ce-id': 'a%0Ab' }, EMPTY),
        CodecErrorCode.InvalidAttribute,
        'id',
      );
      assertCodecError(
        () => decodeBinary({ ...HEADERS, 'ce-source': 'a%20b' }, EMPTY),
        CodecErrorCode.InvalidAttribute,
        'source',
      );
    });
  });

  describe('percent-encoding (encodeHeaderValue)', () => {
    const encodes: Array<[string, string]> = [
      ['Euro € 😀', 'Euro%20%E2%82%AC%20%F0%9F%98%80'],
      ['say "hi" 100%', 'say%20%22hi%22%20100%25'],
      [
        "plain/ASCII-chars_~!#$&'()*+,;=:@?[]{}|^`\\<>",
        "plain/ASCII-chars_~!#$&'()*+,;=:@?[]{}|^`\\<>",
      ],
      ['tab\there\u007f', 'tab%09here%7F'],
    ];
    for (const [value, encoded] of encodes) {
      it(`encodes ${JSON.stringify(value)} and decodes it back`, () => {
        assert.equal(encodeHeaderValue(value, 'subject'), encoded);
        assert.equal(decodeHeaderValue(encoded, 'subject'), value);
      });
    }

    it('refuses to encode an unpaired surrogate', () => {
      assertCodecError(
        () => encodeHeaderValue('a\uD800', 'subject'),
        CodecErrorCode.InvalidAttribute,
        'subject',
      );
    });
  });

  describe('headers and body', () => {
    it('maps content-type to datacontenttype and parses JSON bodies', () => {
      const event = decodeBinary(
        { ...HEADERS, 'content-type': 'application/json; charset=utf-8' },
        bytes(' {"total": 12.50}\n'),
      );
      assert.equal(event.attributes.datacontenttype, 'application/json; charset=utf-8');
      assert.deepEqual(event.data, {
        kind: 'json',
        value: { total: 12.5 },
        text: '{"total": 12.50}',
      });
    });

    it('parses every JSON media type, +json suffixes included', () => {
      for (const type of [
        'application/json',
        'text/json',
        'application/vnd.acme.order+json; v=2',
      ]) {
        const event = decodeBinary({ ...HEADERS, 'content-type': type }, bytes('[1]'));
        assert.deepEqual(event.data?.value, [1], type);
      }
    });

    it('refuses a JSON body that is not JSON, not UTF-8, or in an unknown charset', () => {
      assertCodecError(
        () => decodeBinary({ ...HEADERS, 'content-type': 'application/json' }, bytes('{"a":')),
        CodecErrorCode.Malformed,
        'data',
      );
      assertCodecError(
        () =>
          decodeBinary(
            { ...HEADERS, 'content-type': 'application/json' },
            new Uint8Array([0x22, 0xff, 0x22]),
          ),
        CodecErrorCode.Malformed,
      );
      assertCodecError(
        () =>
          decodeBinary(
            { ...HEADERS, 'content-type': 'application/json; charset=utf-17' },
            bytes('1'),
          ),
        CodecErrorCode.UnsupportedMediaType,
        'datacontenttype',
      );
    });

    it('reads text/* as text, and keeps other types (and other charsets) as bytes', () => {
      const text = decodeBinary(
        { ...HEADERS, 'content-type': 'text/plain; charset=UTF-8' },
        bytes('héllo'),
      );
      assert.deepEqual(text.data, { kind: 'text', value: 'héllo' });
      const latin1 = decodeBinary(
        { ...HEADERS, 'content-type': 'text/plain; charset=iso-8859-1' },
        new Uint8Array([0xe9]),
      );
      assert.equal(latin1.data?.kind, 'binary');
      const notUtf8 = decodeBinary(
        { ...HEADERS, 'content-type': 'text/plain' },
        new Uint8Array([0xff]),
      );
      assert.equal(notUtf8.data?.kind, 'binary');
      const xml = decodeBinary({ ...HEADERS, 'content-type': 'application/xml' }, bytes('<a/>'));
      assert.equal(xml.data?.kind, 'binary');
      const untyped = decodeBinary({ ...HEADERS }, new Uint8Array([1, 2]));
      assert.deepEqual(untyped.data, { kind: 'binary', value: new Uint8Array([1, 2]) });
      assert.equal(untyped.attributes.datacontenttype, undefined);
    });

    it('has no data for an empty body, whatever the content type', () => {
      const event = decodeBinary({ ...HEADERS, 'content-type': 'application/json' }, EMPTY);
      assert.equal(event.data, undefined);
      assert.equal(event.attributes.datacontenttype, 'application/json');
    });

    it('keeps extensions as strings and ignores unrelated headers', () => {
      const event = decodeBinary(
        {
          ...HEADERS,
          'ce-partitionkey': 'p1',
          'ce-count': '5',
          'x-request-id': 'r',
          host: 'h',
          connection: 'close',
        },
        EMPTY,
      );
      assert.deepEqual(event.attributes, {
        ...HEADERS_AS_ATTRIBUTES,
        partitionkey: 'p1',
        count: '5',
      });
    });

    it('treats header names case-insensitively', () => {
      const event = decodeBinary(
        {
          'CE-SpecVersion': '1.0',
          'Ce-Id': '1',
          'ce-source': '/s',
          'CE-TYPE': 't',
          'Content-Type': 'text/plain',
        },
        bytes('x'),
      );
      assert.deepEqual(event.attributes, {
        specversion: '1.0',
        id: '1',
        source: '/s',
        type: 't',
        datacontenttype: 'text/plain',
      });
      assertCodecError(
        () => decodeBinary({ ...HEADERS, 'CE-ID': 'other' }, EMPTY),
        CodecErrorCode.InvalidAttribute,
        'id',
      );
      assertCodecError(
        () => decodeBinary({ 'CE-ID': 'other', ...HEADERS }, EMPTY),
        CodecErrorCode.InvalidAttribute,
        'id',
      );
      assertCodecError(
        () => decodeBinary({ ...HEADERS, 'Content-Type': 'a/b', 'content-type': 'c/d' }, EMPTY),
        CodecErrorCode.InvalidAttribute,
        'datacontenttype',
      );
    });

    const invalid: Array<[string, IncomingHeaders, CodecErrorCode, string]> = [
      [
        'no ce-specversion',
        { ...HEADERS, 'ce-specversion': undefined },
        CodecErrorCode.MissingAttribute,
        'specversion',
      ],
      [
        'ce-specversion 0.3',
        { ...HEADERS, 'ce-specversion': '0.3' },
        CodecErrorCode.UnsupportedSpecVersion,
        'specversion',
      ],
      [
        'no ce-source',
        { ...HEADERS, 'ce-source': undefined },
        CodecErrorCode.MissingAttribute,
        'source',
      ],
      ['an empty ce-type', { ...HEADERS, 'ce-type': '' }, CodecErrorCode.InvalidAttribute, 'type'],
      [
        'a repeated ce-id',
        { ...HEADERS, 'ce-id': ['1', '2'] },
        CodecErrorCode.InvalidAttribute,
        'id',
      ],
      [
        'a ce-datacontenttype header',
        { ...HEADERS, 'ce-datacontenttype': 'text/plain' },
        CodecErrorCode.InvalidAttribute,
        'datacontenttype',
      ],
      [
        'a bad content-type',
        { ...HEADERS, 'content-type': 'json' },
        CodecErrorCode.InvalidAttribute,
        'datacontenttype',
      ],
      [
        'a header named ce-data',
        { ...HEADERS, 'ce-data': 'x' },
        CodecErrorCode.InvalidAttributeName,
        'data',
      ],
      [
        'a header named ce-my_ext',
        { ...HEADERS, 'ce-my_ext': 'x' },
        CodecErrorCode.InvalidAttributeName,
        'my_ext',
      ],
      ['a header named ce-', { ...HEADERS, 'ce-': 'x' }, CodecErrorCode.InvalidAttributeName, ''],
      [
        'a bad ce-time',
        { ...HEADERS, 'ce-time': 'yesterday' },
        CodecErrorCode.InvalidAttribute,
        'time',
      ],
    ];
    for (const [name, headers, code, attribute] of invalid) {
      it(`refuses ${name}`, () => {
        assertCodecError(() => decodeBinary(headers, EMPTY), code, attribute);
      });
    }
  });

  describe('encodeBinary', () => {
    it('writes ce- headers, content-type and the data bytes', () => {
      const message = encodeBinary({
        attributes: {
          ...HEADERS_AS_ATTRIBUTES,
          subject: 'größe 1',
          count: 7,
          flag: true,
          datacontenttype: 'application/json',
        },
        data: { kind: 'json', value: { a: 1 }, text: '{ "a": 1 }' },
      });
      assert.deepEqual(message.headers, {
        ...HEADERS,
        'ce-subject': 'gr%C3%B6%C3%9Fe%201',
        'ce-count': '7',
        'ce-flag': 'true',
        'content-type': 'application/json',
      });
      assert.equal(message.body, '{ "a": 1 }');
    });

    it('sets the implied content type for JSON data without datacontenttype', () => {
      const message = encodeBinary({
        attributes: { ...HEADERS_AS_ATTRIBUTES },
        data: { kind: 'json', value: [1] },
      });
      assert.equal(message.headers['content-type'], 'application/json');
      assert.equal(message.body, '[1]');
      const none = encodeBinary({ attributes: { ...HEADERS_AS_ATTRIBUTES }, data: undefined });
      assert.equal(none.headers['content-type'], undefined);
      assert.equal(none.body, '');
    });

    const roundTrips: Array<[string, CloudEvent]> = [
      [
        'JSON data',
        {
          attributes: {
            ...HEADERS_AS_ATTRIBUTES,
            datacontenttype: 'application/json',
            subject: 'Euro € 😀 "q" 100%',
          },
          data: { kind: 'json', value: { a: [1, 2] }, text: '{"a":[1,2]}' },
        },
      ],
      [
        'text data',
        {
          attributes: {
            ...HEADERS_AS_ATTRIBUTES,
            datacontenttype: 'text/plain; charset=utf-8',
            ext: 'x y',
          },
          data: { kind: 'text', value: 'ünïcødé' },
        },
      ],
      [
        'binary data',
        {
          attributes: { ...HEADERS_AS_ATTRIBUTES, datacontenttype: 'application/octet-stream' },
          data: { kind: 'binary', value: new Uint8Array([0, 1, 254, 255]) },
        },
      ],
      [
        'no data',
        { attributes: { ...HEADERS_AS_ATTRIBUTES, time: '2024-05-01T10:00:00Z' }, data: undefined },
      ],
    ];
    for (const [name, original] of roundTrips) {
      it(`round-trips through decodeBinary: ${name}`, () => {
        const message = encodeBinary(original);
        const body = typeof message.body === 'string' ? bytes(message.body) : message.body;
        assert.deepEqual(decodeBinary(message.headers, body), original);
      });
    }
  });
});
