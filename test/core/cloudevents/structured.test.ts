import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  decodeBatch,
  decodeStructured,
  encodeStructured,
  type CloudEvent,
} from '../../../core/cloudevents/index.js';
import { assertCodecError, BASE, bytes } from './support.js';

const json = (members: Record<string, unknown>): string => JSON.stringify({ ...BASE, ...members });

describe('JSON event format (decodeStructured / encodeStructured)', () => {
  describe('data', () => {
    it('keeps JSON data and its exact text when datacontenttype is absent', () => {
      const text =
        '{"specversion":"1.0","id":"1","source":"/s","type":"t","data": {"a" : [1, 2.50]} }';
      const event = decodeStructured(text);
      assert.deepEqual(event.data, {
        kind: 'json',
        value: { a: [1, 2.5] },
        text: '{"a" : [1, 2.50]}',
      });
      assert.equal(event.attributes.datacontenttype, undefined);
    });

    it('treats a JSON string as a JSON value under a JSON type, never parsing it again', () => {
      const event = decodeStructured(
        json({ datacontenttype: 'application/json', data: '{"a":1}' }),
      );
      assert.equal(event.data?.kind, 'json');
      assert.equal(event.data?.value, '{"a":1}');
    });

    it('reads data as text under a non-JSON datacontenttype', () => {
      const event = decodeStructured(
        json({ datacontenttype: 'application/xml', data: '<much wow="xml"/>' }),
      );
      assert.deepEqual(event.data, { kind: 'text', value: '<much wow="xml"/>' });
    });

    it('treats every */json and */*+json type as JSON', () => {
      for (const type of [
        'text/json',
        'application/cloudevents+json',
        'application/vnd.a+json; v=1',
      ]) {
        const event = decodeStructured(json({ datacontenttype: type, data: { ok: true } }));
        assert.deepEqual(event.data?.value, { ok: true }, type);
      }
    });

    it('refuses non-string data under a non-JSON datacontenttype', () => {
      assertCodecError(
        () => decodeStructured(json({ datacontenttype: 'text/plain', data: { a: 1 } })),
        CodecErrorCode.Malformed,
        'data',
      );
    });

    it('keeps an explicit JSON null as data, distinct from no data', () => {
      assert.deepEqual(decodeStructured(json({ data: null })).data, {
        kind: 'json',
        value: null,
        text: 'null',
      });
      assert.equal(decodeStructured(json({})).data, undefined);
    });

    it('decodes data_base64 to bytes', () => {
      const event = decodeStructured(
        json({ datacontenttype: 'application/octet-stream', data_base64: 'AAEC/w==' }),
      );
      assert.equal(event.data?.kind, 'binary');
      assert.deepEqual([...(event.data?.value as Uint8Array)], [0, 1, 2, 255]);
    });

    it('refuses data together with data_base64', () => {
      assertCodecError(
        () => decodeStructured(json({ data: 'x', data_base64: 'AA==' })),
        CodecErrorCode.ConflictingData,
        'data_base64',
      );
    });

    it('refuses data_base64 that is not padded standard base64', () => {
      for (const bad of ['AAE', 'AA-_', 'AA==AA==', 'A A=', 42]) {
        assertCodecError(
          () => decodeStructured(json({ data_base64: bad })),
          CodecErrorCode.InvalidEncoding,
          'data_base64',
        );
      }
    });

    it('treats a null data_base64 as absent', () => {
      assert.deepEqual(decodeStructured(json({ data_base64: null, data: 1 })).data?.value, 1);
    });
  });

  describe('JSON specifics', () => {
    it('treats null attributes as absent', () => {
      const event = decodeStructured(json({ subject: null, time: null, ext: null }));
      assert.deepEqual(event.attributes, BASE);
      assertCodecError(
        () => decodeStructured(json({ id: null })),
        CodecErrorCode.MissingAttribute,
        'id',
      );
    });

    it('refuses integers written with a fraction or exponent', () => {
      for (const written of ['1.0', '1e3', '-0.0']) {
        const text = `{"specversion":"1.0","id":"1","source":"/s","type":"t","n":${written}}`;
        assertCodecError(() => decodeStructured(text), CodecErrorCode.InvalidAttribute, 'n');
      }
      const ok = decodeStructured(
        '{"specversion":"1.0","id":"1","source":"/s","type":"t","n":-0,"data":{"n":1.5}}',
      );
      assert.equal(Object.is(ok.attributes.n, 0), true);
    });

    it('refuses what is not a JSON object', () => {
      for (const body of ['', '[]', 'null', '"x"', '{"specversion":"1.0",', '\uFEFF{}']) {
        assertCodecError(() => decodeStructured(body), CodecErrorCode.Malformed);
      }
    });

    it('refuses bytes that are not UTF-8, without echoing the body', () => {
      const body = new Uint8Array([
        ...bytes('{"specversion":"1.0","id":"'),
        0xc3,
        0x28,
        ...bytes('"}'),
      ]);
      const err = assertCodecError(() => decodeStructured(body), CodecErrorCode.Malformed);
      assert.match(err.message, /UTF-8/);
    });

    it('reads UTF-8 bytes, multibyte characters included', () => {
      const event = decodeStructured(bytes(json({ subject: 'größe-😀', data: { name: 'Zoë' } })));
      assert.equal(event.attributes.subject, 'größe-😀');
      assert.deepEqual(event.data?.value, { name: 'Zoë' });
    });

    it('decodes correctly whatever the member order or nesting of "data" keys', () => {
      const bodies = [
        '{"data":{"data":{"data":1}},"specversion":"1.0","id":"1","source":"/s","type":"t"}',
        '{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"x":{"data":[{"data":"}"}]}}}',
        '{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"data","data":"data"}',
        '{"specversion":"1.0","id":"1","data":{"a":1},"source":"/s","type":"t"}',
      ];
      for (const body of bodies) {
        const expected = JSON.parse(body) as Record<string, unknown>;
        const event = decodeStructured(body);
        assert.deepEqual(event.data?.value, expected.data, body);
        if (event.data?.kind === 'json' && event.data.text !== undefined) {
          assert.deepEqual(JSON.parse(event.data.text), expected.data, body);
        }
      }
    });
  });

  describe('encodeStructured', () => {
    const event: CloudEvent = {
      attributes: { ...BASE, time: '2024-05-01T10:00:00Z', count: 3, flag: true },
      data: { kind: 'json', value: { a: 1 }, text: '{ "a": 1 }' },
    };

    it('splices the JSON text verbatim and puts data last', () => {
      const text = encodeStructured(event);
      assert.ok(text.endsWith(',"data":{ "a": 1 }}'), text);
    });

    it('writes binary data as data_base64 and text data as a JSON string', () => {
      const bin = encodeStructured({
        attributes: { ...BASE },
        data: { kind: 'binary', value: new Uint8Array([1, 2, 3]) },
      });
      assert.deepEqual(JSON.parse(bin).data_base64, 'AQID');
      const txt = encodeStructured({
        attributes: { ...BASE, datacontenttype: 'text/plain' },
        data: { kind: 'text', value: 'hé "q"' },
      });
      assert.equal(JSON.parse(txt).data, 'hé "q"');
    });

    it('refuses attributes named data or data_base64', () => {
      assertCodecError(
        () => encodeStructured({ attributes: { ...BASE, data: 'x' }, data: undefined }),
        CodecErrorCode.InvalidAttributeName,
      );
    });

    const roundTrips: Array<[string, CloudEvent]> = [
      ['JSON data with text', event],
      [
        'JSON data without text',
        { attributes: { ...BASE }, data: { kind: 'json', value: [1, 'two', null] } },
      ],
      [
        'JSON scalar data',
        { attributes: { ...BASE }, data: { kind: 'json', value: 'just a string' } },
      ],
      [
        'text data',
        {
          attributes: { ...BASE, datacontenttype: 'text/csv; charset=utf-8' },
          data: { kind: 'text', value: 'a,b\n1,2' },
        },
      ],
      [
        'binary data',
        {
          attributes: { ...BASE, datacontenttype: 'image/png' },
          data: { kind: 'binary', value: new Uint8Array([0, 255, 128, 10]) },
        },
      ],
      [
        'empty binary data',
        { attributes: { ...BASE }, data: { kind: 'binary', value: new Uint8Array(0) } },
      ],
      [
        'no data, every attribute type',
        {
          attributes: {
            ...BASE,
            subject: 'ß 😀',
            min: -2147483648,
            yes: false,
            dataschema: 'urn:x:y',
          },
          data: undefined,
        },
      ],
    ];
    for (const [name, original] of roundTrips) {
      it(`round-trips exactly: ${name}`, () => {
        const decoded = decodeStructured(encodeStructured(original));
        assert.deepEqual(decoded.attributes, original.attributes);
        assert.equal(decoded.data?.kind, original.data?.kind);
        assert.deepEqual(decoded.data?.value, original.data?.value);
        // Decoding what Herald stored yields the stored text: re-encoding is byte-identical.
        assert.equal(encodeStructured(decoded), encodeStructured(original));
        if (original.data?.kind === 'json' && original.data.text !== undefined) {
          assert.deepEqual(decoded, original);
        }
      });
    }
  });

  describe('batch format (decodeBatch)', () => {
    it('decodes every event, and an empty batch', () => {
      const events = decodeBatch(
        bytes(
          JSON.stringify([
            { ...BASE, data: 1 },
            { ...BASE, id: '2', data_base64: 'AA==' },
          ]),
        ),
      );
      assert.equal(events.length, 2);
      assert.deepEqual(events[0]?.data, { kind: 'json', value: 1 });
      assert.equal(events[1]?.data?.kind, 'binary');
      assert.deepEqual(decodeBatch('[]'), []);
    });

    it('names the index of the bad event in the attribute and the message', () => {
      const batch = [BASE, BASE, BASE, { ...BASE, id: '' }];
      const err = assertCodecError(
        () => decodeBatch(JSON.stringify(batch)),
        CodecErrorCode.InvalidAttribute,
        '[3].id',
      );
      assert.match(err.message, /"\[3\]\.id"/);
      assertCodecError(
        () => decodeBatch('[{}, 5]'),
        CodecErrorCode.MissingAttribute,
        '[0].specversion',
      );
      assertCodecError(
        () => decodeBatch(JSON.stringify([BASE, 5])),
        CodecErrorCode.Malformed,
        '[1]',
      );
      assertCodecError(
        () => decodeBatch(JSON.stringify([BASE, { ...BASE, data: 1, data_base64: 'AA==' }])),
        CodecErrorCode.ConflictingData,
        '[1].data_base64',
      );
    });

    it('refuses a body that is not a JSON array', () => {
      assertCodecError(() => decodeBatch(JSON.stringify(BASE)), CodecErrorCode.Malformed);
    });
  });
});
