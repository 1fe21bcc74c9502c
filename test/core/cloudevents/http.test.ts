import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  HttpContentMode,
  STRUCTURED_CONTENT_TYPE,
  decodeHttpRequest,
  encodeStructuredHttp,
} from '../../../core/cloudevents/index.js';
import { assertCodecError, BASE, bytes } from './support.js';

const structuredBody = bytes(JSON.stringify({ ...BASE, data: { a: 1 } }));
const batchBody = bytes(JSON.stringify([BASE, { ...BASE, id: 'evt-2' }]));
const binaryHeaders = {
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': BASE.source,
  'ce-type': BASE.type,
};

describe('HTTP content mode selection (decodeHttpRequest)', () => {
  const structuredTypes = [
    'application/cloudevents+json',
    'application/cloudevents+json; charset=utf-8',
    'application/cloudevents+json; charset=UTF-8',
    'application/cloudevents+json;charset="utf-8"',
    'Application/CloudEvents+JSON; Charset=Utf-8',
    'application/cloudevents+json; foo=bar',
  ];
  for (const contentType of structuredTypes) {
    it(`reads ${contentType} as structured`, () => {
      const result = decodeHttpRequest({ 'content-type': contentType }, structuredBody);
      assert.equal(result.mode, HttpContentMode.Structured);
      assert.equal(result.events.length, 1);
      assert.deepEqual(result.events[0]?.attributes, BASE);
      assert.deepEqual(result.events[0]?.data?.value, { a: 1 });
    });
  }

  for (const contentType of [
    'application/cloudevents-batch+json',
    'application/cloudevents-batch+json; charset=UTF-8',
  ]) {
    it(`reads ${contentType} as a batch`, () => {
      const result = decodeHttpRequest({ 'content-type': contentType }, batchBody);
      assert.equal(result.mode, HttpContentMode.Batch);
      assert.deepEqual(
        result.events.map((e) => e.attributes.id),
        ['evt-1', 'evt-2'],
      );
    });
  }

  it('accepts an empty batch', () => {
    const result = decodeHttpRequest(
      { 'content-type': 'application/cloudevents-batch+json' },
      bytes('[]'),
    );
    assert.deepEqual(result, { mode: 'batch', events: [] });
  });

  it('says which batch entry is invalid', () => {
    const body = bytes(JSON.stringify([BASE, BASE, BASE, { ...BASE, time: 'now' }]));
    const err = assertCodecError(
      () => decodeHttpRequest({ 'content-type': 'application/cloudevents-batch+json' }, body),
      CodecErrorCode.InvalidAttribute,
      '[3].time',
    );
    assert.match(err.message, /RFC 3339/);
  });

  it('reads any other content type with ce-specversion as binary', () => {
    for (const headers of [
      { ...binaryHeaders, 'content-type': 'application/json' },
      { ...binaryHeaders, 'content-type': 'application/xml' },
      { ...binaryHeaders },
    ]) {
      const result = decodeHttpRequest(headers, bytes('{"a":1}'));
      assert.equal(result.mode, HttpContentMode.Binary);
      assert.equal(result.events[0]?.attributes.id, 'evt-1');
    }
  });

  const unsupported: Array<[string, Record<string, string>]> = [
    ['an unknown charset', { 'content-type': 'application/cloudevents+json; charset=x-mac-fr' }],
    [
      'a batch in iso-2022-kr',
      { 'content-type': 'application/cloudevents-batch+json; charset=iso-2022-kr' },
    ],
    ['the avro format', { 'content-type': 'application/cloudevents+avro', ...binaryHeaders }],
    ['a malformed protobuf type', { 'content-type': 'application/cloudevents+protobuf; x' }],
    ['a malformed structured type', { 'content-type': 'application/cloudevents+json; charset' }],
    ['plain JSON without ce- headers', { 'content-type': 'application/json' }],
    ['text without ce- headers', { 'content-type': 'text/plain' }],
    ['no content type and no ce- headers', {}],
  ];
  for (const [name, headers] of unsupported) {
    it(`refuses ${name} as an unsupported media type`, () => {
      const err = assertCodecError(
        () => decodeHttpRequest(headers, structuredBody),
        CodecErrorCode.UnsupportedMediaType,
      );
      assert.ok(err.message.length > 0);
    });
  }

  it('asks for specversion when ce- headers come without it', () => {
    const { 'ce-specversion': _omitted, ...rest } = binaryHeaders;
    assertCodecError(
      () => decodeHttpRequest({ ...rest, 'content-type': 'application/json' }, bytes('{}')),
      CodecErrorCode.MissingAttribute,
      'specversion',
    );
  });

  it('uses the structured content type even when ce- headers are present', () => {
    const result = decodeHttpRequest(
      { ...binaryHeaders, 'ce-id': 'header-id', 'content-type': 'application/cloudevents+json' },
      structuredBody,
    );
    assert.equal(result.mode, HttpContentMode.Structured);
    assert.equal(result.events[0]?.attributes.id, 'evt-1');
  });

  it('encodes a structured message with a UTF-8 content type it reads back', () => {
    const event = decodeHttpRequest(
      { 'content-type': 'application/cloudevents+json' },
      structuredBody,
    ).events[0]!;
    const message = encodeStructuredHttp(event);
    assert.equal(message.headers['content-type'], STRUCTURED_CONTENT_TYPE);
    const again = decodeHttpRequest(message.headers, bytes(String(message.body)));
    assert.deepEqual(again.events[0], event);
  });
});
