/**
 * Issue 3 item 8: random mutations of valid requests (seeded, bounded in count and time).
 * Whatever a client sends, the broker answers with a client-fault or success status — never
 * a 5xx, never a dropped connection — and keeps serving. A failure prints the seed and the
 * request so it can be replayed.
 */
import { strict as assert } from 'node:assert';
import { sendRawRequest } from '../support/raw-http.js';
import { ACME_KEY, startBrokerFixture, type BrokerFixture } from './fixture.js';

const MAX_REQUESTS = 500;
const MAX_MILLISECONDS = 15_000;
const ALLOWED = new Set([202, 400, 401, 403, 404, 405, 408, 413, 415, 422, 429, 431]);

/** mulberry32: small, fast, good enough to drive mutations reproducibly. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FuzzRequest {
  headers: [string, string][];
  body: Buffer;
}

const SOURCE = 'https://acme.example/orders';
const event = (id: string): Record<string, unknown> => ({
  specversion: '1.0',
  id,
  source: SOURCE,
  type: 'com.example.order.created',
  time: '2026-11-24T10:00:00Z',
  subject: 'eu-1',
  count: 7,
  data: { orderId: id, total: 12.5, lines: [{ sku: 'a', qty: 1 }] },
});

function buildSeedRequests(): FuzzRequest[] {
  return [
    {
      headers: [['content-type', 'application/cloudevents+json; charset=utf-8']],
      body: Buffer.from(JSON.stringify(event('s-1'))),
    },
    {
      headers: [['content-type', 'application/cloudevents-batch+json']],
      body: Buffer.from(JSON.stringify([event('b-1'), event('b-2')])),
    },
    {
      headers: [
        ['ce-specversion', '1.0'],
        ['ce-id', 'bin-1'],
        ['ce-source', SOURCE],
        ['ce-type', 'com.example.order.created'],
        ['ce-subject', 'caf%C3%A9'],
        ['content-type', 'application/json'],
      ],
      body: Buffer.from(JSON.stringify({ orderId: 'bin-1', total: 3 })),
    },
  ];
}

const CONTENT_TYPES = [
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/cloudevents+protobuf',
  'application/cloudevents-batch+protobuf',
  'application/json',
  'text/plain',
  'application/octet-stream',
  'application/cloudevents+json; charset=latin1',
  '',
  ';;;',
];
const NASTY = [
  '%',
  '%Z',
  '%C3',
  '\u0000',
  '\u00ff',
  '{',
  '[',
  '"',
  '\\',
  '1e999',
  '-0',
  'null',
  '',
];

function mutate(seed: FuzzRequest, random: () => number): FuzzRequest {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  let body = Buffer.from(seed.body);
  const headers = seed.headers.map(([k, v]) => [k, v] as [string, string]);
  const rounds = 1 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) {
    switch (Math.floor(random() * 9)) {
      case 0: // flip a byte
        if (body.length) body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
        break;
      case 1: // truncate
        body = body.subarray(0, Math.floor(random() * body.length));
        break;
      case 2: {
        // insert something nasty
        const at = Math.floor(random() * (body.length + 1));
        body = Buffer.concat([body.subarray(0, at), Buffer.from(pick(NASTY)), body.subarray(at)]);
        break;
      }
      case 3: {
        // duplicate a slice
        const a = Math.floor(random() * body.length);
        const b = a + Math.floor(random() * 64);
        body = Buffer.concat([body.subarray(0, b), body.subarray(a, b), body.subarray(b)]);
        break;
      }
      case 4: // change the content type
        headers.push(['content-type', pick(CONTENT_TYPES)]);
        break;
      case 5: // drop a header
        if (headers.length) headers.splice(Math.floor(random() * headers.length), 1);
        break;
      case 6: {
        // garble a header value (no CR/LF: those would end the header block)
        const h = headers.length ? pick(headers) : undefined;
        if (h)
          h[1] =
            h[1].slice(0, Math.floor(random() * h[1].length)) +
            pick(NASTY).replace('\u0000', '%00');
        break;
      }
      case 7: // repeat a header
        if (headers.length) headers.push([...pick(headers)] as [string, string]);
        break;
      case 8: // a made-up ce- attribute
        headers.push([
          `ce-${pick(['x', 'Ab', 'a_b', 'z'.repeat(140), 'time', 'dataschema'])}`,
          pick(NASTY),
        ]);
        break;
    }
  }
  // Keep the last content-type when several were pushed: that is what a client would send.
  const seen = new Set<string>();
  const unique = headers
    .reverse()
    .filter(([k]) => k !== 'content-type' || (!seen.has(k) && seen.add(k)));
  return { headers: unique.reverse(), body };
}

function toRawHead(req: FuzzRequest): Buffer {
  const lines = [`POST /events HTTP/1.1`, 'Host: 127.0.0.1', `X-API-Key: ${ACME_KEY}`];
  for (const [k, v] of req.headers) if (k !== 'content-type' || v !== '') lines.push(`${k}: ${v}`);
  lines.push(`Content-Length: ${req.body.length}`);
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

describe('fuzzing POST /events', function () {
  this.timeout(MAX_MILLISECONDS + 30_000);
  let fx: BrokerFixture;
  before(async () => {
    fx = await startBrokerFixture();
  });
  after(() => fx.stop());

  it(`never answers 5xx or drops the connection for mutated requests (≤ ${MAX_REQUESTS} requests, ≤ ${MAX_MILLISECONDS / 1000} s)`, async () => {
    const seed = Number(process.env.HERALD_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const random = createRandom(seed);
    const seeds = buildSeedRequests();
    const statuses = new Map<number, number>();
    const deadline = Date.now() + MAX_MILLISECONDS;
    let sent = 0;
    while (sent < MAX_REQUESTS && Date.now() < deadline) {
      const req = mutate(seeds[sent % seeds.length] as FuzzRequest, random);
      const head = toRawHead(req);
      let status: number;
      try {
        status = (await sendRawRequest(fx.broker.port, head, req.body)).status;
      } catch (err) {
        assert.fail(
          `seed ${seed}, request ${sent}: no response (${(err as Error).message})\n${head.toString('latin1')}\n${req.body.toString('latin1').slice(0, 500)}`,
        );
      }
      assert.ok(
        ALLOWED.has(status),
        `seed ${seed}, request ${sent}: status ${status}\n${head.toString('latin1')}\n${req.body.toString('latin1').slice(0, 500)}`,
      );
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      sent++;
    }
    // The mix must include refusals and successes, or the mutations are not exercising anything.
    assert.ok(
      (statuses.get(400) ?? 0) > 0 && (statuses.get(202) ?? 0) > 0,
      JSON.stringify([...statuses]),
    );
    const health = await fetch(`http://127.0.0.1:${fx.broker.port}/healthz`);
    assert.equal(health.status, 200);
  });
});
