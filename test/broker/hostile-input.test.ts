/**
 * Issue 3 item 8: malformed and hostile requests, each answered with its documented status and
 * problem `type` (docs/http-api.md). Sent over a raw socket so nothing is "fixed" on the way.
 */
import { strict as assert } from 'node:assert';
import { sendRawRequest, type RawResponse } from '../support/raw-http.js';
import { ACME_KEY, OTHER_KEY, startBrokerFixture, type BrokerFixture } from './fixture.js';

const PROBLEM = 'https://herald.dev/problems/';
const CREATED = 'com.example.order.created';
const SOURCE = 'https://acme.example/orders';

export interface HostileCase {
  name: string;
  method?: string;
  path?: string;
  /** Header lines (raw; may hold any bytes). */
  headers: (string | Buffer)[];
  body?: string | Buffer;
  status: number;
  /** Problem slug expected in `type`; undefined where Node itself answers (no problem body). */
  problem?: string;
}

const auth = `X-API-Key: ${ACME_KEY}`;
const structuredType = 'Content-Type: application/cloudevents+json';
const valid = {
  specversion: '1.0',
  id: 'h-1',
  source: SOURCE,
  type: CREATED,
  data: { orderId: 'o', total: 1 },
};
const structured = (patch: Record<string, unknown>, drop: string[] = []): string => {
  const event: Record<string, unknown> = { ...valid, ...patch };
  for (const d of drop) delete event[d];
  return JSON.stringify(event);
};
const binaryHeaders = (patch: Record<string, string | undefined> = {}): string[] => {
  const h: Record<string, string | undefined> = {
    'ce-specversion': '1.0',
    'ce-id': 'b-1',
    'ce-source': SOURCE,
    'ce-type': CREATED,
    'content-type': 'application/json',
    ...patch,
  };
  return Object.entries(h)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}`);
};
const data = JSON.stringify({ orderId: 'o', total: 1 });
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

export const HOSTILE_CASES: HostileCase[] = [
  // Structured mode: required attributes and their forms.
  {
    name: 'structured: missing id',
    headers: [auth, structuredType],
    body: structured({}, ['id']),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: empty id',
    headers: [auth, structuredType],
    body: structured({ id: '' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: missing source',
    headers: [auth, structuredType],
    body: structured({}, ['source']),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: empty source',
    headers: [auth, structuredType],
    body: structured({ source: '' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: missing type',
    headers: [auth, structuredType],
    body: structured({}, ['type']),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: missing specversion',
    headers: [auth, structuredType],
    body: structured({}, ['specversion']),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: specversion 0.3',
    headers: [auth, structuredType],
    body: structured({ specversion: '0.3' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: specversion as a number',
    headers: [auth, structuredType],
    body: structured({ specversion: 1.0 }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: attribute name with a dash',
    headers: [auth, structuredType],
    body: structured({ 'my-ext': 'x' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: attribute name in upper case',
    headers: [auth, structuredType],
    body: structured({ myExt: 'x' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: attribute name of 129 chars',
    headers: [auth, structuredType],
    body: structured({ ['a'.repeat(129)]: 'x' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: data and data_base64 together',
    headers: [auth, structuredType],
    body: structured({ data_base64: 'AAAA' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: data_base64 not base64',
    headers: [auth, structuredType],
    body: structured({ data_base64: '***' }, ['data']),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: extension above int32',
    headers: [auth, structuredType],
    body: structured({ count: 2147483648 }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: extension below int32',
    headers: [auth, structuredType],
    body: structured({ count: -2147483649 }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: extension 1.5',
    headers: [auth, structuredType],
    body: structured({ count: 1.5 }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: extension written 3.0',
    headers: [auth, structuredType],
    body: structured({}).replace('"specversion"', '"count":3.0,"specversion"'),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: extension as an object',
    headers: [auth, structuredType],
    body: structured({ ext: { a: 1 } }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: extension as an array',
    headers: [auth, structuredType],
    body: structured({ ext: [1] }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: time not RFC 3339',
    headers: [auth, structuredType],
    body: structured({ time: 'yesterday' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: relative dataschema',
    headers: [auth, structuredType],
    body: structured({ dataschema: 'schema.json' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: empty subject',
    headers: [auth, structuredType],
    body: structured({ subject: '' }),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: not JSON',
    headers: [auth, structuredType],
    body: '{"specversion":"1.0",',
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: a JSON array',
    headers: [auth, structuredType],
    body: `[${structured({})}]`,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: invalid UTF-8 body',
    headers: [auth, structuredType],
    body: Buffer.concat([
      Buffer.from(structured({}).slice(0, -2)),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('}}'),
    ]),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: data nested 100,000 deep',
    headers: [auth, structuredType],
    body: structured({ type: 'com.example.order.shipped', data: '@' }).replace(
      '"@"',
      nested(100_000),
    ),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  // Binary mode: headers.
  {
    name: 'binary: ce- headers without ce-specversion',
    headers: [auth, ...binaryHeaders({ 'ce-specversion': undefined })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: empty ce-id',
    headers: [auth, ...binaryHeaders({ 'ce-id': '' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: bad percent-encoding',
    headers: [auth, ...binaryHeaders({ 'ce-source': 'https://acme.example/%ZZ' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: percent-encoded invalid UTF-8',
    headers: [auth, ...binaryHeaders({ 'ce-subject': 'a%C3%28b' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: raw non-UTF-8 header byte',
    headers: [auth, ...binaryHeaders(), Buffer.from([...Buffer.from('ce-subject: a'), 0xff, 0x62])],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: ce-id twice',
    headers: [auth, ...binaryHeaders(), 'ce-id: second'],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: ce-datacontenttype header',
    headers: [auth, ...binaryHeaders({ 'ce-datacontenttype': 'application/json' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: attribute name with underscore',
    headers: [auth, ...binaryHeaders({ 'ce-my_ext': 'x' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: invalid ce-time',
    headers: [auth, ...binaryHeaders({ 'ce-time': '2026-13-40T00:00:00Z' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: specversion 2.0',
    headers: [auth, ...binaryHeaders({ 'ce-specversion': '2.0' })],
    body: data,
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'binary: JSON content type, body not JSON',
    headers: [auth, ...binaryHeaders()],
    body: '{"orderId":',
    status: 400,
    problem: 'invalid-cloudevent',
  },
  // Media types.
  {
    name: 'text/plain without ce- headers',
    headers: [auth, 'Content-Type: text/plain'],
    body: 'hello',
    status: 415,
    problem: 'unsupported-media-type',
  },
  {
    name: 'application/json without ce- headers',
    headers: [auth, 'Content-Type: application/json'],
    body: data,
    status: 415,
    problem: 'unsupported-media-type',
  },
  {
    name: 'no content type, no ce- headers',
    headers: [auth],
    body: data,
    status: 415,
    problem: 'unsupported-media-type',
  },
  // Any charset WHATWG names is read (test/broker/ingest-charset.test.ts); others are 415.
  {
    name: 'cloudevents+json in an unknown charset',
    headers: [auth, 'Content-Type: application/cloudevents+json; charset=x-klingon'],
    body: structured({}),
    status: 415,
    problem: 'unsupported-media-type',
  },
  {
    name: 'cloudevents-batch+json in iso-2022-kr (no decoder)',
    headers: [auth, 'Content-Type: application/cloudevents-batch+json; charset=iso-2022-kr'],
    body: `[${structured({})}]`,
    status: 415,
    problem: 'unsupported-media-type',
  },
  {
    name: 'binary: JSON data in an unknown charset',
    headers: [auth, ...binaryHeaders({ 'content-type': 'application/json; charset=utf-9' })],
    body: data,
    status: 415,
    problem: 'unsupported-media-type',
  },
  {
    name: 'structured: utf-16le body with an odd byte count',
    headers: [auth, 'Content-Type: application/cloudevents+json; charset=utf-16le'],
    body: Buffer.from(structured({}), 'utf16le').subarray(1),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: UTF-16 body (BOM) declared as nothing, so UTF-8',
    headers: [auth, structuredType],
    body: Buffer.from(`\ufeff${structured({})}`, 'utf16le'),
    status: 400,
    problem: 'invalid-cloudevent',
  },
  {
    name: 'structured: latin1 body whose data fails the schema',
    headers: [auth, 'Content-Type: application/cloudevents+json; charset=iso-8859-1'],
    body: Buffer.from(structured({ data: { orderId: 'Müller', total: -1 } }), 'latin1'),
    status: 422,
    problem: 'schema-validation-failed',
  },
  {
    name: 'cloudevents+avro',
    headers: [auth, 'Content-Type: application/cloudevents+avro'],
    body: 'x',
    status: 415,
    problem: 'unsupported-media-type',
  },
  {
    name: 'cloudevents+xml',
    headers: [auth, 'Content-Type: application/cloudevents+xml'],
    body: '<e/>',
    status: 415,
    problem: 'unsupported-media-type',
  },
  // Sizes.
  {
    name: 'declared body over 1 MiB',
    headers: [auth, structuredType, `Content-Length: ${2 * 1024 * 1024}`],
    body: '',
    status: 413,
    problem: 'payload-too-large',
  },
  {
    name: 'chunked body over 1 MiB',
    headers: [auth, structuredType, 'Transfer-Encoding: chunked'],
    body: chunk(structured({ data: 'x'.repeat(1_100_000) })),
    status: 413,
    problem: 'payload-too-large',
  },
  // Credentials and permissions.
  {
    name: 'no credentials',
    headers: [structuredType],
    body: structured({}),
    status: 401,
    problem: 'unauthorized',
  },
  {
    name: 'wrong API key',
    headers: ['X-API-Key: nope-nope-nope', structuredType],
    body: structured({}),
    status: 401,
    problem: 'unauthorized',
  },
  {
    name: 'empty bearer token',
    headers: ['Authorization: Bearer ', structuredType],
    body: structured({}),
    status: 401,
    problem: 'unauthorized',
  },
  {
    name: 'basic auth instead of a key',
    headers: ['Authorization: Basic YWNtZTpzZWNyZXQ=', structuredType],
    body: structured({}),
    status: 401,
    problem: 'unauthorized',
  },
  {
    name: "a producer posting another's type",
    headers: [`X-API-Key: ${OTHER_KEY}`, structuredType],
    body: structured({}),
    status: 403,
    problem: 'forbidden-type',
  },
  {
    name: 'a source outside the producer patterns',
    headers: [auth, structuredType],
    body: structured({ source: 'https://evil.example/orders' }),
    status: 403,
    problem: 'forbidden-source',
  },
  {
    name: 'a look-alike source host',
    headers: [auth, structuredType],
    body: structured({ source: 'https://acme.example.evil.com/x' }),
    status: 403,
    problem: 'forbidden-source',
  },
  {
    name: 'an unregistered type',
    headers: [auth, structuredType],
    body: structured({ type: 'com.example.nope' }),
    status: 422,
    problem: 'unknown-event-type',
  },
  {
    name: 'data failing the schema',
    headers: [auth, structuredType],
    body: structured({ data: { orderId: 1, total: -1 } }),
    status: 422,
    problem: 'schema-validation-failed',
  },
  {
    name: 'non-JSON data for a schema type',
    headers: [auth, ...binaryHeaders({ 'content-type': 'text/plain' })],
    body: 'plain',
    status: 422,
    problem: 'schema-validation-failed',
  },
  {
    name: 'non-JSON data for a JSON type without a schema',
    headers: [
      auth,
      ...binaryHeaders({ 'ce-type': 'com.example.order.shipped', 'content-type': 'text/csv' }),
    ],
    body: 'a,b',
    status: 422,
    problem: 'schema-validation-failed',
  },
  // Routes.
  {
    name: 'GET /events',
    method: 'GET',
    headers: [auth],
    status: 405,
    problem: 'method-not-allowed',
  },
  {
    name: 'POST to an unknown path',
    path: '/nope',
    headers: [auth, structuredType],
    body: structured({}),
    status: 404,
    problem: 'not-found',
  },
];

function chunk(text: string): string {
  const size = Buffer.byteLength(text);
  return `${size.toString(16)}\r\n${text}\r\n0\r\n\r\n`;
}

export async function sendHostileCase(port: number, c: HostileCase): Promise<RawResponse> {
  const body = c.body ?? '';
  const chunked = c.headers.some((h) => /^transfer-encoding:/i.test(h.toString()));
  const declared = c.headers.some((h) => /^content-length:/i.test(h.toString()));
  const lines: Buffer[] = [
    Buffer.from(`${c.method ?? 'POST'} ${c.path ?? '/events'} HTTP/1.1\r\nHost: 127.0.0.1`),
  ];
  for (const h of c.headers)
    lines.push(Buffer.from('\r\n'), typeof h === 'string' ? Buffer.from(h, 'utf8') : h);
  if (!chunked && !declared)
    lines.push(Buffer.from(`\r\nContent-Length: ${Buffer.byteLength(body)}`));
  return sendRawRequest(port, Buffer.concat(lines), body);
}

describe('hostile and malformed requests', function () {
  this.timeout(60_000);
  let fx: BrokerFixture;
  before(async () => {
    fx = await startBrokerFixture();
  });
  after(() => fx.stop());

  it(`has at least 40 cases`, () =>
    assert.ok(HOSTILE_CASES.length >= 40, String(HOSTILE_CASES.length)));

  for (const c of HOSTILE_CASES) {
    it(`${c.name} → ${c.status}${c.problem ? ` ${c.problem}` : ''}`, async () => {
      const res = await sendHostileCase(fx.broker.port, c);
      assert.equal(res.status, c.status, res.body.slice(0, 300));
      if (c.problem) {
        assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
        const problem = JSON.parse(res.body) as { type: string; status: number };
        assert.equal(problem.type, PROBLEM + c.problem);
        assert.equal(problem.status, c.status);
      }
      // Nothing a client sends may reveal a credential back to it.
      assert.ok(!res.body.includes(ACME_KEY) && !res.body.includes(OTHER_KEY));
    });
  }

  it('still serves after the whole table', async () => {
    const res = await fetch(`http://127.0.0.1:${fx.broker.port}/healthz`);
    assert.equal(res.status, 200);
  });
});
