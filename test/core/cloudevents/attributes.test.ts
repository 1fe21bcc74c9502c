import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  decodeStructured,
  validateAttributes,
} from '../../../core/cloudevents/index.js';
import { assertCodecError, BASE } from './support.js';

/** Each row: extra or replaced attributes that the spec accepts. */
const valid: Array<[string, Record<string, unknown>]> = [
  ['the four required attributes', {}],
  ['a relative source', { source: '/cloudevents/spec/pull/123' }],
  ['a URN source', { source: 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66' }],
  ['a mailto source', { source: 'mailto:cncf-wg-serverless@lists.cncf.io' }],
  ['a phone-number-like relative source', { source: '1-555-123-4567' }],
  ['a source with userinfo and port', { source: 'ftp://user:pw@files.example:21/a' }],
  ['a network-path source', { source: '//acme.example/orders' }],
  ['a source with IPv6 host, port, query and fragment', { source: 'http://[::1]:8080/a?b=c#d' }],
  ['a percent-encoded source', { source: '/users/jos%C3%A9' }],
  ['time in UTC with fraction', { time: '2018-04-05T17:31:00.123456Z' }],
  ['time with an offset', { time: '2018-04-05T17:31:00+02:00' }],
  ['time with lower-case t and z', { time: '2018-04-05t17:31:00z' }],
  ['time on a leap day', { time: '2024-02-29T00:00:00Z' }],
  ['a leap second', { time: '2016-12-31T23:59:60Z' }],
  ['dataschema an absolute URI', { dataschema: 'https://schemas.example/order/v1.json' }],
  ['dataschema with a fragment', { dataschema: 'https://schemas.example/all.json#/order' }],
  ['datacontenttype with parameters', { datacontenttype: 'application/json; charset=utf-8' }],
  ['datacontenttype with a quoted parameter', { datacontenttype: 'text/plain; a="x; y"' }],
  ['a vendor +json datacontenttype', { datacontenttype: 'application/vnd.acme+json' }],
  ['a subject', { subject: 'eu-orders/42' }],
  ['an id with emoji', { id: 'ünïcødé-😀' }],
  ['extensions of every JSON type', { ext1: 'v', flag: false, count: 0, neg: -2147483648 }],
  ['the largest int32 extension', { big: 2147483647 }],
  ['an empty-string extension', { note: '' }],
  ['a 128-character extension name', { ['a'.repeat(128)]: 'x' }],
  ['a digit-only extension name', { '42': 'answer' }],
];

/** Each row: attributes, error code, the attribute the error must name. */
const invalid: Array<[string, Record<string, unknown>, CodecErrorCode, string]> = [
  ['no specversion', { specversion: undefined }, CodecErrorCode.MissingAttribute, 'specversion'],
  ['specversion 0.3', { specversion: '0.3' }, CodecErrorCode.UnsupportedSpecVersion, 'specversion'],
  [
    'specversion 1.0.2',
    { specversion: '1.0.2' },
    CodecErrorCode.UnsupportedSpecVersion,
    'specversion',
  ],
  ['specversion as a number', { specversion: 1 }, CodecErrorCode.InvalidAttribute, 'specversion'],
  ['no id', { id: undefined }, CodecErrorCode.MissingAttribute, 'id'],
  ['an empty id', { id: '' }, CodecErrorCode.InvalidAttribute, 'id'],
  ['a numeric id', { id: 42 }, CodecErrorCode.InvalidAttribute, 'id'],
  ['an id with a newline', { id: 'a\nb' }, CodecErrorCode.InvalidAttribute, 'id'],
  ['an id with a C1 control', { id: 'a\u0085b' }, CodecErrorCode.InvalidAttribute, 'id'],
  ['an id with a lone surrogate', { id: 'a\uDEADb' }, CodecErrorCode.InvalidAttribute, 'id'],
  [
    'a type with a supplementary noncharacter',
    { type: 'x\u{1FFFE}' },
    CodecErrorCode.InvalidAttribute,
    'type',
  ],
  ['a type with a noncharacter', { type: 'x\uFFFE' }, CodecErrorCode.InvalidAttribute, 'type'],
  ['no source', { source: undefined }, CodecErrorCode.MissingAttribute, 'source'],
  ['an empty source', { source: '' }, CodecErrorCode.InvalidAttribute, 'source'],
  [
    'a source with a space',
    { source: 'https://a.example/x y' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  ['a source with a bad escape', { source: '/a%zz' }, CodecErrorCode.InvalidAttribute, 'source'],
  [
    'a source with a bad scheme',
    { source: '1http://x' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  [
    'a source with a bad port',
    { source: 'http://a.example:80x/' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  ['a source with two fragments', { source: '/a#b#c' }, CodecErrorCode.InvalidAttribute, 'source'],
  [
    'a source with a bad escape in the fragment',
    { source: '/a#b%zz' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  [
    'a colon in the first relative segment',
    { source: '1a:b' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  [
    'a source with an unclosed IPv6 host',
    { source: 'http://[::1/x' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  [
    'a source with raw unicode',
    { source: '/users/josé' },
    CodecErrorCode.InvalidAttribute,
    'source',
  ],
  ['no type', { type: undefined }, CodecErrorCode.MissingAttribute, 'type'],
  ['an empty type', { type: '' }, CodecErrorCode.InvalidAttribute, 'type'],
  ['an empty subject', { subject: '' }, CodecErrorCode.InvalidAttribute, 'subject'],
  ['a date-only time', { time: '2018-04-05' }, CodecErrorCode.InvalidAttribute, 'time'],
  [
    'time without an offset',
    { time: '2018-04-05T17:31:00' },
    CodecErrorCode.InvalidAttribute,
    'time',
  ],
  [
    'time with a space separator',
    { time: '2018-04-05 17:31:00Z' },
    CodecErrorCode.InvalidAttribute,
    'time',
  ],
  [
    'time on Feb 29 of a common year',
    { time: '2023-02-29T00:00:00Z' },
    CodecErrorCode.InvalidAttribute,
    'time',
  ],
  ['time at hour 24', { time: '2018-04-05T24:00:00Z' }, CodecErrorCode.InvalidAttribute, 'time'],
  [
    'a leap second mid-minute',
    { time: '2016-12-31T23:58:60Z' },
    CodecErrorCode.InvalidAttribute,
    'time',
  ],
  [
    'time with offset +24:00',
    { time: '2018-04-05T17:31:00+24:00' },
    CodecErrorCode.InvalidAttribute,
    'time',
  ],
  [
    'a relative dataschema',
    { dataschema: '/schemas/v1' },
    CodecErrorCode.InvalidAttribute,
    'dataschema',
  ],
  ['an empty dataschema', { dataschema: '' }, CodecErrorCode.InvalidAttribute, 'dataschema'],
  [
    'a datacontenttype without subtype',
    { datacontenttype: 'json' },
    CodecErrorCode.InvalidAttribute,
    'datacontenttype',
  ],
  [
    'a datacontenttype with a dangling ;',
    { datacontenttype: 'text/plain;' },
    CodecErrorCode.InvalidAttribute,
    'datacontenttype',
  ],
  [
    'a datacontenttype with a space in type',
    { datacontenttype: 'text /plain' },
    CodecErrorCode.InvalidAttribute,
    'datacontenttype',
  ],
  ['an upper-case name', { Ext: 'x' }, CodecErrorCode.InvalidAttributeName, 'Ext'],
  ['a name with a dash', { 'my-ext': 'x' }, CodecErrorCode.InvalidAttributeName, 'my-ext'],
  ['a name with an underscore', { my_ext: 'x' }, CodecErrorCode.InvalidAttributeName, 'my_ext'],
  [
    'a 129-character name',
    { ['a'.repeat(129)]: 'x' },
    CodecErrorCode.InvalidAttributeName,
    'a'.repeat(129),
  ],
  ['an attribute named data', { data: 'x' }, CodecErrorCode.InvalidAttributeName, 'data'],
  ['a fractional extension', { ratio: 1.5 }, CodecErrorCode.InvalidAttribute, 'ratio'],
  ['an int32 overflow', { big: 2147483648 }, CodecErrorCode.InvalidAttribute, 'big'],
  ['an int32 underflow', { small: -2147483649 }, CodecErrorCode.InvalidAttribute, 'small'],
  ['an object extension', { obj: { a: 1 } }, CodecErrorCode.InvalidAttribute, 'obj'],
  ['an array extension', { list: [1] }, CodecErrorCode.InvalidAttribute, 'list'],
  ['a null extension in memory', { gone: null }, CodecErrorCode.InvalidAttribute, 'gone'],
];

describe('CloudEvents attribute rules', () => {
  describe('accepted by validateAttributes and by the JSON decoder', () => {
    for (const [name, extra] of valid) {
      it(name, () => {
        const attributes = { ...BASE, ...extra };
        validateAttributes(attributes);
        assert.deepEqual(decodeStructured(JSON.stringify(attributes)).attributes, attributes);
      });
    }
  });

  describe('refused, naming the attribute', () => {
    for (const [name, extra, code, attribute] of invalid) {
      it(name, () => {
        const attributes: Record<string, unknown> = { ...BASE, ...extra };
        assertCodecError(() => validateAttributes(attributes), code, attribute);
        // The JSON decoder agrees, except where the JSON format has a say: null means absent,
        // and a member named "data" is the event data.
        if (extra[attribute] !== null && attribute !== 'data') {
          assertCodecError(() => decodeStructured(JSON.stringify(attributes)), code, attribute);
        }
      });
    }
  });

  it('reports an unsupported specversion before any 1.0 rule', () => {
    const err = assertCodecError(
      () => decodeStructured(JSON.stringify({ specversion: '0.3', id: '', Bad: 1 })),
      CodecErrorCode.UnsupportedSpecVersion,
      'specversion',
    );
    assert.match(err.message, /"0\.3" is not supported/);
  });

  it('does not echo long or unprintable values back in messages', () => {
    const err = assertCodecError(
      () => validateAttributes({ ...BASE, specversion: `1.0${'x'.repeat(500)}` }),
      CodecErrorCode.UnsupportedSpecVersion,
    );
    assert.ok(err.message.length < 100, err.message);
  });
});
