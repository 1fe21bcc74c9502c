import { strict as assert } from 'node:assert';
import {
  CodecErrorCode,
  decodeHttpRequest,
  encodeBinary,
  encodeStructured,
  type CloudEvent,
} from '../../../core/cloudevents/index.js';
import { assertCodecError, BASE, bytes } from './support.js';

const STRUCTURED = 'application/cloudevents+json';
const BATCH = 'application/cloudevents-batch+json';
const BINARY_HEADERS = {
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': BASE.source,
  'ce-type': BASE.type,
};

/** A structured event whose subject and data hold `text`, as JSON text (before encoding). */
const eventJson = (text: string): string =>
  JSON.stringify({ ...BASE, subject: text, data: { name: text } });

function decodeOne(contentType: string, body: Uint8Array): CloudEvent {
  const { events } = decodeHttpRequest({ 'content-type': contentType }, body);
  assert.equal(events.length, 1);
  return events[0] as CloudEvent;
}

/** The event as Herald stores it: UTF-8 JSON text, parsed back to compare values. */
const stored = (event: CloudEvent): Record<string, unknown> =>
  JSON.parse(Buffer.from(encodeStructured(event), 'utf8').toString('utf8')) as Record<
    string,
    unknown
  >;

const utf16be = (text: string): Buffer => Buffer.from(text, 'utf16le').swap16();
const BOM_UTF8 = Buffer.from([0xef, 0xbb, 0xbf]);

describe('JSON bodies in any charset', () => {
  describe('structured mode', () => {
    const cases: Array<[string, string, Uint8Array]> = [
      [
        'iso-8859-1',
        'Zoë, Ærøskøbing, ¿señor?',
        Buffer.from(eventJson('Zoë, Ærøskøbing, ¿señor?'), 'latin1'),
      ],
      // WHATWG: iso-8859-1 is windows-1252, so 0x80 is € and 0x93/0x94 are curly quotes.
      [
        'ISO-8859-1',
        '€ “Œuvre” – ™',
        Buffer.from(eventJson('\u0080 \u0093\u008cuvre\u0094 \u0096 \u0099'), 'latin1'),
      ],
      [
        'windows-1252',
        '‘Straße’ … 5 €',
        Buffer.from(eventJson('\u0091Straße\u0092 \u0085 5 \u0080'), 'latin1'),
      ],
      // iso-8859-15 has € at 0xA4, where Latin-1 has ¤.
      [
        'iso-8859-15',
        'Prix : 5 €, œuf',
        Buffer.from(eventJson('Prix : 5 \u00a4, \u00bduf'), 'latin1'),
      ],
      ['"latin1"', 'café', Buffer.from(eventJson('café'), 'latin1')],
      ['utf-16le', 'Grüße, 東京 🎉', Buffer.from(eventJson('Grüße, 東京 🎉'), 'utf16le')],
      ['utf-16be', 'Grüße, 東京 🎉', utf16be(eventJson('Grüße, 東京 🎉'))],
      ['utf8', 'naïve', bytes(eventJson('naïve'))],
      ['us-ascii', 'plain', Buffer.from(eventJson('plain'), 'latin1')],
    ];
    for (const [charset, text, body] of cases) {
      it(`reads charset=${charset}: ${text}`, () => {
        const event = decodeOne(`${STRUCTURED}; charset=${charset}`, body);
        assert.equal(event.attributes.subject, text);
        assert.deepEqual(event.data?.value, { name: text });
        // The kept data text is the decoded text, so the stored UTF-8 event holds the characters.
        assert.equal(stored(event).subject, text);
        assert.deepEqual(stored(event).data, { name: text });
        assert.ok(encodeStructured(event).includes(`"data":{"name":${JSON.stringify(text)}}`));
      });
    }

    it('reads all of windows-1252 0x80–0x9F as WHATWG maps them (not as Latin-1)', () => {
      const body = Buffer.from(JSON.stringify({ ...BASE, data: '@' }), 'latin1');
      const at = body.indexOf('@');
      const c1 = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i));
      const sent = Buffer.concat([body.subarray(0, at), c1, body.subarray(at + 1)]);
      for (const label of ['windows-1252', 'iso-8859-1', 'us-ascii']) {
        const event = decodeOne(`${STRUCTURED}; charset=${label}`, sent);
        assert.equal(
          event.data?.value,
          '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ',
          label,
        );
      }
    });

    it('reads windows-1251 and shift_jis', () => {
      const cyrillic = Buffer.from(eventJson('@@@@@@'), 'latin1');
      cyrillic.set([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2], cyrillic.indexOf('@@@@@@'));
      assert.equal(
        decodeOne(`${STRUCTURED}; charset=windows-1251`, cyrillic).attributes.subject,
        'Привет',
      );
      // 東京 in Shift_JIS: 93 8C 8B 9E. The subject and data hold the same four bytes.
      const sjis = Buffer.from(eventJson('@@@@'), 'latin1');
      sjis.set([0x93, 0x8c, 0x8b, 0x9e], sjis.indexOf('@@@@'));
      sjis.set([0x93, 0x8c, 0x8b, 0x9e], sjis.lastIndexOf('@@@@'));
      const event = decodeOne(`${STRUCTURED}; charset=shift_jis`, sjis);
      assert.equal(event.attributes.subject, '東京');
      assert.deepEqual(event.data?.value, { name: '東京' });
    });

    it('reads a batch in UTF-16', () => {
      const batch = JSON.stringify([
        { ...BASE, id: 'é-1', data: 'ä' },
        { ...BASE, id: 'é-2', data: 'ö' },
      ]);
      const { mode, events } = decodeHttpRequest(
        { 'content-type': `${BATCH}; charset=utf-16le` },
        Buffer.from(batch, 'utf16le'),
      );
      assert.equal(mode, 'batch');
      assert.deepEqual(
        events.map((e) => [e.attributes.id, e.data?.value]),
        [
          ['é-1', 'ä'],
          ['é-2', 'ö'],
        ],
      );
    });

    it('answers an unknown or unusable charset with 415, naming it', () => {
      for (const charset of ['x-klingon', 'iso-2022-kr', '""', 'utf-7']) {
        const err = assertCodecError(
          () => decodeOne(`${STRUCTURED}; charset=${charset}`, bytes(eventJson('x'))),
          CodecErrorCode.UnsupportedMediaType,
        );
        assert.ok(err.message.includes(`"${charset.replaceAll('"', '')}"`), err.message);
      }
    });

    it('refuses bytes invalid in the declared charset as malformed, naming the charset', () => {
      const odd = Buffer.from(eventJson('x'), 'utf16le').subarray(0, -1);
      const loneSurrogate = Buffer.concat([
        Buffer.from(eventJson('x').slice(0, -3), 'utf16le'),
        Buffer.from([0x00, 0xd8]),
        Buffer.from('"}}', 'utf16le'),
      ]);
      const greek = Buffer.from(eventJson('@'), 'latin1');
      greek[greek.indexOf('@')] = 0xd2; // unassigned in windows-1253
      const sjis = Buffer.from(eventJson('@'), 'latin1');
      sjis[sjis.indexOf('@')] = 0x82; // a lead byte without its trail byte
      for (const [charset, body] of [
        ['utf-16le', odd],
        ['utf-16le', loneSurrogate],
        ['windows-1253', greek],
        ['shift_jis', sjis],
      ] as const) {
        const err = assertCodecError(
          () => decodeOne(`${STRUCTURED}; charset=${charset}`, body),
          CodecErrorCode.Malformed,
        );
        assert.match(err.message, new RegExp(`not valid in its charset "${charset}"`));
      }
    });
  });

  describe('byte order marks', () => {
    const json = eventJson('ok');

    it('ignores a UTF-8 BOM on a UTF-8 body, with or without a charset', () => {
      for (const contentType of [
        STRUCTURED,
        `${STRUCTURED}; charset=utf-8`,
        `${STRUCTURED}; charset=UTF8`,
      ]) {
        const event = decodeOne(contentType, Buffer.concat([BOM_UTF8, bytes(json)]));
        assert.equal(event.attributes.subject, 'ok', contentType);
      }
      const batch = decodeHttpRequest(
        { 'content-type': BATCH },
        Buffer.concat([BOM_UTF8, bytes(`[${json}]`)]),
      );
      assert.equal(batch.events.length, 1);
    });

    it('ignores a UTF-16 BOM that fits the charset; utf-16 takes its byte order from it', () => {
      const le = Buffer.from(`\ufeff${json}`, 'utf16le');
      const be = utf16be(`\ufeff${json}`);
      assert.equal(decodeOne(`${STRUCTURED}; charset=utf-16le`, le).attributes.subject, 'ok');
      assert.equal(decodeOne(`${STRUCTURED}; charset=utf-16be`, be).attributes.subject, 'ok');
      assert.equal(decodeOne(`${STRUCTURED}; charset=utf-16`, le).attributes.subject, 'ok');
      assert.equal(decodeOne(`${STRUCTURED}; charset=utf-16`, be).attributes.subject, 'ok');
      // Without a BOM, utf-16 is little-endian (WHATWG).
      const plain = Buffer.from(json, 'utf16le');
      assert.equal(decodeOne(`${STRUCTURED}; charset=utf-16`, plain).attributes.subject, 'ok');
    });

    it('refuses a BOM that contradicts the charset, saying so', () => {
      const cases: Array<[string, Buffer, RegExp]> = [
        [STRUCTURED, Buffer.from(`\ufeff${json}`, 'utf16le'), /UTF-16LE byte order mark/],
        [`${STRUCTURED}; charset=utf-16le`, utf16be(`\ufeff${json}`), /UTF-16BE byte order mark/],
        [
          `${STRUCTURED}; charset=iso-8859-1`,
          Buffer.concat([BOM_UTF8, bytes(json)]),
          /UTF-8 byte order mark/,
        ],
      ];
      for (const [contentType, body, message] of cases) {
        const err = assertCodecError(() => decodeOne(contentType, body), CodecErrorCode.Malformed);
        assert.match(err.message, message);
      }
    });
  });

  describe('binary mode, JSON data in another charset', () => {
    const decodeData = (contentType: string, body: Uint8Array): CloudEvent =>
      decodeHttpRequest({ ...BINARY_HEADERS, 'content-type': contentType }, body)
        .events[0] as CloudEvent;

    it('keeps the bytes sent, and what they say for the schema check', () => {
      const body = Buffer.from('{"city":"Zürich","price":"5 \u0080"}', 'latin1');
      const contentType = 'application/json; charset=windows-1252';
      const event = decodeData(contentType, body);
      assert.equal(event.data?.kind, 'binary');
      assert.deepEqual(event.data?.kind === 'binary' && event.data.json, {
        value: { city: 'Zürich', price: '5 €' },
      });
      // Stored: the same bytes (data_base64) under the same datacontenttype.
      const storedEvent = stored(event);
      assert.equal(storedEvent.datacontenttype, contentType);
      assert.deepEqual(Buffer.from(storedEvent.data_base64 as string, 'base64'), body);
      // Delivered in binary mode: the bytes and the label as sent.
      const message = encodeBinary(event);
      assert.equal(message.headers['content-type'], contentType);
      assert.deepEqual(Buffer.from(message.body as Uint8Array), body);
    });

    it('reads UTF-16 JSON data', () => {
      const event = decodeData('application/json; charset=utf-16be', utf16be('["東京"]'));
      assert.deepEqual(event.data?.kind === 'binary' && event.data.json?.value, ['東京']);
    });

    it('keeps ASCII JSON in an ASCII-compatible charset as JSON data', () => {
      const event = decodeData('application/json; charset=ISO-8859-1', bytes('{"a":"caf\\u00e9"}'));
      assert.deepEqual(event.data, {
        kind: 'json',
        value: { a: 'café' },
        text: '{"a":"caf\\u00e9"}',
      });
      assert.equal(encodeStructured(event).includes('"data":{"a":"caf\\u00e9"}'), true);
    });

    it('ignores a UTF-8 BOM on UTF-8 JSON data', () => {
      const event = decodeData('application/json', Buffer.concat([BOM_UTF8, bytes('{"a":1}')]));
      assert.deepEqual(event.data, { kind: 'json', value: { a: 1 }, text: '{"a":1}' });
    });

    it('refuses bytes invalid in the charset (400) and an unknown charset (415)', () => {
      assertCodecError(
        () => decodeData('application/json; charset=utf-16le', Buffer.from([0x22, 0x00, 0x41])),
        CodecErrorCode.Malformed,
        'data',
      );
      assertCodecError(
        () => decodeData('application/json; charset=ebcdic', bytes('{}')),
        CodecErrorCode.UnsupportedMediaType,
        'datacontenttype',
      );
    });
  });
});
