import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { decodeStructured, encodeStructured } from '../../core/cloudevents/index.js';
import type { CloudEvent } from '../../core/cloudevents/types.js';
import { buildDeadLetterEvent } from '../../dispatcher/dead-letter.js';
import {
  DeliveryTarget,
  SinkClients,
  truncateUtf8,
  webhookIdFor,
} from '../../dispatcher/deliver.js';
import { DeadLetterCode } from '../../dispatcher/retry.js';

const event: CloudEvent = {
  attributes: {
    specversion: '1.0',
    id: 'e-1',
    source: 'https://acme.example/orders',
    type: 'com.example.order.created',
    subject: 'naïve subject',
    datacontenttype: 'application/json',
  },
  data: { kind: 'json', value: { a: 1 }, text: '{"a":1}' },
};

describe('delivery requests', () => {
  describe('webhookIdFor', () => {
    const base = webhookIdFor('shop', 'orders', 'mid-1');
    const table: [string, string, string, string, boolean][] = [
      ['same inputs', 'shop', 'orders', 'mid-1', true],
      ['another event', 'shop', 'orders', 'mid-2', false],
      ['another subscription', 'shop', 'invoices', 'mid-1', false],
      ['another namespace', 'shop2', 'orders', 'mid-1', false],
      ['names shifted across the separator', 'sho', 'porders', 'mid-1', false],
    ];
    for (const [name, ns, sub, mid, same] of table) {
      it(`${name} → ${same ? 'same' : 'different'} id`, () => {
        assert.equal(webhookIdFor(ns, sub, mid) === base, same);
      });
    }
    it('is msg_ + 32 base64url characters', () => {
      assert.match(base, /^msg_[A-Za-z0-9_-]{32}$/);
    });
  });

  describe('truncateUtf8', () => {
    const table: [string, number, string][] = [
      ['short', 10, 'short'],
      ['exactly10!', 10, 'exactly10!'],
      ['abcdefghijk', 10, 'abcdefghij'],
      ['aé', 2, 'a'], // é is 2 bytes: never cut in half
      ['a€b', 3, 'a'], // € is 3 bytes
      ['a€b', 4, 'a€'],
      ['😀x', 3, ''],
    ];
    for (const [text, limit, expected] of table) {
      it(`${JSON.stringify(text)} within ${limit} bytes → ${JSON.stringify(expected)}`, () => {
        assert.equal(truncateUtf8(Buffer.from(text), limit), expected);
      });
    }
  });

  describe('DeliveryTarget.buildRequest', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const target = (mode: 'binary' | 'structured', secrets: string[] = []) =>
      new DeliveryTarget({
        url: new URL('https://sink.example:8443/hook/t0k3n-in-path?sig=q5ecret'),
        mode,
        timeoutMs: 1_000,
        headers: { 'user-agent': 'Herald/test', authorization: 'Bearer tok' },
        signingSecrets: secrets,
      });

    it('binary: ce- headers, content-type from datacontenttype, data as body', () => {
      const r = target('binary').buildRequest(event, 'msg_x', 1_700_000_000);
      assert.equal(r.headers['ce-id'], 'e-1');
      assert.equal(r.headers['ce-subject'], 'na%C3%AFve%20subject');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['ce-datacontenttype'], undefined);
      assert.equal(r.headers['webhook-id'], 'msg_x');
      assert.equal(r.headers['webhook-timestamp'], '1700000000');
      assert.equal(r.headers['webhook-signature'], undefined);
      assert.equal(r.headers.authorization, 'Bearer tok');
      assert.equal(Buffer.from(r.body).toString(), '{"a":1}');
    });

    it('structured: the event as JSON (UTF-8, said so), no ce- headers', () => {
      const r = target('structured').buildRequest(event, 'msg_x', 1_700_000_000);
      assert.equal(r.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
      assert.ok(!Object.keys(r.headers).some((k) => k.startsWith('ce-')));
      const body = JSON.parse(String(r.body)) as Record<string, unknown>;
      assert.equal(body.subject, 'naïve subject');
      assert.deepEqual(body.data, { a: 1 });
    });

    it('signs the exact body it sends', () => {
      const now = Math.floor(Date.now() / 1000);
      const r = target('binary', [secret]).buildRequest(event, 'msg_y', now);
      const headers = {
        'webhook-id': r.headers['webhook-id']!,
        'webhook-timestamp': r.headers['webhook-timestamp']!,
        'webhook-signature': r.headers['webhook-signature']!,
      };
      assert.deepEqual(new Webhook(secret).verify(Buffer.from(r.body), headers), { a: 1 });
    });

    it('never serialises its secrets', () => {
      const text = JSON.stringify({ target: target('binary', [secret]) });
      assert.ok(!text.includes(secret) && !text.includes('tok'), text);
      assert.match(text, /"signed":true/);
    });

    it('serialises only the sink origin: no path or query, which often carry tokens', () => {
      const text = JSON.stringify({ target: target('binary') });
      assert.match(text, /"origin":"https:\/\/sink\.example:8443"/);
      for (const leak of ['/hook', 't0k3n', 'q5ecret', 'sig='])
        assert.ok(!text.includes(leak), text);
    });
  });

  describe('buildDeadLetterEvent', () => {
    it('adds heralderror* attributes and keeps the event', () => {
      const dl = buildDeadLetterEvent(
        { ...event, attributes: { ...event.attributes, heralderrorstatus: 999 } },
        {
          code: DeadLetterCode.Rejected,
          reason: 'sink answered HTTP 422',
          attempts: 1,
          status: 422,
          bodyExcerpt: 'é'.repeat(600),
        },
      );
      assert.equal(dl.attributes.heralderrorcode, 'rejected');
      assert.equal(dl.attributes.heralderrorstatus, 422);
      assert.equal(dl.attributes.heralderrorattempts, 1);
      assert.equal(Buffer.byteLength(String(dl.attributes.heralderrorbody)), 1024);
      assert.equal(dl.attributes.id, 'e-1');
      assert.equal(dl.data, event.data);
    });

    it('makes the reason and body valid CloudEvents strings, so Herald’s own codec reads the dead letter', () => {
      const dl = buildDeadLetterEvent(event, {
        code: DeadLetterCode.Rejected,
        reason: 'network: reset\r\nby peer \u0000\uD800',
        attempts: 1,
        status: 400,
        bodyExcerpt: '{\n\t"error": "bad"\u0085\u007f\uFFFE\uDBFF\n}',
      });
      assert.equal(dl.attributes.heralderrorreason, 'network: reset  by peer  \uFFFD');
      assert.equal(dl.attributes.heralderrorbody, '{  "error": "bad"  \uFFFD\uFFFD }');
      const decoded = decodeStructured(encodeStructured(dl));
      assert.equal(decoded.attributes.heralderrorbody, dl.attributes.heralderrorbody);
      assert.equal(decoded.attributes.heralderrorreason, dl.attributes.heralderrorreason);
    });

    it('keeps a cut excerpt within 1 KiB after replacing characters', () => {
      const dl = buildDeadLetterEvent(event, {
        code: DeadLetterCode.Rejected,
        reason: 'x',
        attempts: 1,
        bodyExcerpt: '\u0085\uDBFF'.repeat(400) + '\u{1FFFE}'.repeat(100),
      });
      assert.ok(Buffer.byteLength(String(dl.attributes.heralderrorbody)) <= 1024);
      decodeStructured(encodeStructured(dl));
    });
  });
});

describe('SinkClients pools', () => {
  let server: Server;
  const sinks = new SinkClients({ policy: { allowPrivateSinks: true } }); // sinks on 127.0.0.1
  const origins: string[] = [];
  before(async () => {
    server = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    // Two origins on one server: 127.0.0.1 and localhost are different origins.
    origins.push(`http://127.0.0.1:${port}`, `http://localhost:${port}`);
  });
  after(async () => {
    await sinks.close();
    server.closeAllConnections();
    server.close();
  });

  it('closes the pools of origins no longer in use, and reopens one when asked again', async () => {
    const [a, b] = origins as [string, string];
    for (const origin of [a, b]) {
      const r = await sinks.send({ url: new URL('/x', origin), headers: {}, body: '' }, 1_000);
      assert.equal(r.kind === 'response' && r.status, 204);
    }
    assert.deepEqual(sinks.origins.sort(), [a, b].sort());
    await sinks.closeUnused(new Set([a]));
    assert.deepEqual(sinks.origins, [a]);
    await sinks.closeUnused(new Set());
    assert.deepEqual(sinks.origins, []);
    const again = await sinks.send({ url: new URL('/x', b), headers: {}, body: '' }, 1_000);
    assert.equal(again.kind === 'response' && again.status, 204);
    assert.deepEqual(sinks.origins, [b]);
  });
});

describe('SinkClients.send', () => {
  let server: Server;
  let base: string;
  const sinks = new SinkClients({ policy: { allowPrivateSinks: true } }); // sinks on 127.0.0.1
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 2_000);
        else if (req.url === '/redirect') res.writeHead(307, { location: '/ok' }).end();
        else if (req.url === '/busy') res.writeHead(429, { 'retry-after': '7' }).end('slow down');
        else if (req.url === '/big') res.writeHead(500).end('z'.repeat(100_000));
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await sinks.close();
    server.closeAllConnections();
    server.close();
  });
  const post = (path: string, timeoutMs = 1_000) =>
    sinks.send({ url: new URL(path, base), headers: {}, body: '{}' }, timeoutMs);

  it('returns the status of a 2xx', async () => {
    assert.deepEqual(await post('/ok'), { kind: 'response', status: 204 });
  });
  it('does not follow redirects', async () => {
    const r = await post('/redirect');
    assert.equal(r.kind === 'response' && r.status, 307);
  });
  it('reports Retry-After and a body excerpt', async () => {
    assert.deepEqual(await post('/busy'), {
      kind: 'response',
      status: 429,
      retryAfter: '7',
      bodyExcerpt: 'slow down',
    });
  });
  it('keeps at most 1 KiB of a large error body', async () => {
    const r = await post('/big');
    assert.equal(r.kind === 'response' && r.bodyExcerpt?.length, 1024);
  });
  it('times out', async () => {
    const r = await post('/slow', 200);
    assert.deepEqual(r, {
      kind: 'failure',
      failure: 'timeout',
      message: 'no response within 200 ms',
    });
  });
  it('reports connection errors as network failures', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await sinks.send(
      { url: new URL(`http://127.0.0.1:${port}/x`), headers: {}, body: '' },
      1_000,
    );
    assert.equal(r.kind, 'failure');
    assert.equal(r.kind === 'failure' && r.failure, 'network');
    assert.match(r.kind === 'failure' ? r.message : '', /ECONNREFUSED/);
  });
});
