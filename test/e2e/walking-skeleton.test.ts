/**
 * The whole path, in one process tree: nats-server, the operator in file mode on a temporary
 * directory, a broker, a dispatcher and a test sink. A partner's POST reaches the webhook once,
 * signed so that the independent `standardwebhooks` package verifies it.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { CloudEvent, HTTP } from 'cloudevents';
import { startBroker, type RunningBroker } from '../../broker/main.js';
import { generateConfigKey, parseConfigKey } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook that records every request and lets a test await the n-th one. */
async function startRecordingSink(): Promise<{
  url: string;
  received: Received[];
  waitFor(count: number): Promise<void>;
  server: Server;
}> {
  const received: Received[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
      for (const w of waiters.filter((w) => received.length >= w.count)) w.resolve();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    server,
    waitFor: (count) =>
      received.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
  };
}

const API_KEY = 'acme-e2e-key-0123456789abcdef';
const OTHER_KEY = 'other-e2e-key-0123456789abcdef';

function resourcesYaml(sinkUrl: string, signingSecret: string): string {
  return `
apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-created, namespace: shop }
spec:
  type: com.example.order.created
  schema:
    type: object
    required: [orderId, total]
    properties: { orderId: { type: string }, total: { type: number, minimum: 0 } }
---
apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-refunded, namespace: shop }
spec:
  type: com.example.order.refunded
---
apiVersion: v1
kind: Secret
metadata: { name: acme-credentials, namespace: shop }
stringData: { api-key: ${API_KEY} }
---
apiVersion: herald.dev/v1alpha1
kind: Producer
metadata: { name: acme, namespace: shop }
spec:
  eventTypes: [order-created]
  sources: ["https://acme.example/*"]
  auth: { apiKeys: [{ secretRef: { name: acme-credentials, key: api-key } }] }
---
apiVersion: v1
kind: Secret
metadata: { name: sink-signing, namespace: shop }
stringData: { secret: ${signingSecret} }
---
apiVersion: herald.dev/v1alpha1
kind: Subscription
metadata: { name: orders-webhook, namespace: shop }
spec:
  eventTypes: [order-created, order-refunded]
  sink: { uri: "${sinkUrl}" }
  delivery:
    signing: { secretRef: { name: sink-signing, key: secret } }
    retry: { initialDelay: 100ms, maxDelay: 1s }
`;
}

describe('walking skeleton, end to end', function () {
  this.timeout(60_000);
  let nats: TestNatsServer;
  let dir: string;
  let operator: RunningOperator;
  let broker: RunningBroker;
  let dispatcher: RunningDispatcher;
  let sink: Awaited<ReturnType<typeof startRecordingSink>>;
  let eventsUrl: string;
  const signingSecret = `whsec_${randomBytes(32).toString('base64')}`;

  before(async () => {
    nats = await startTestNatsServer();
    sink = await startRecordingSink();
    dir = mkdtempSync(join(tmpdir(), 'herald-e2e-'));
    writeFileSync(join(dir, 'resources.yaml'), resourcesYaml(sink.url, signingSecret));
    const configKey = parseConfigKey(generateConfigKey());
    const logger = createSilentLogger();
    operator = await startOperator({
      natsUrl: nats.url,
      resourcesDir: dir,
      configKey,
      logger,
      watch: true,
    });
    dispatcher = await startDispatcher({
      natsUrl: nats.url,
      configKey,
      logger,
      allowPrivateSinks: true,
    });
    broker = await startBroker({ natsUrl: nats.url, httpPort: 0, logger });
    eventsUrl = `http://127.0.0.1:${broker.port}/events`;
  });

  after(async () => {
    await broker?.stop();
    await dispatcher?.stop();
    await operator?.stop();
    sink?.server.closeAllConnections();
    sink?.server.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: string, headers: Record<string, string>): Promise<Response> =>
    fetch(eventsUrl, { method: 'POST', body, headers });

  const orderEvent = (id: string, data: unknown): CloudEvent<unknown> =>
    new CloudEvent({
      id,
      source: 'https://acme.example/orders',
      type: 'com.example.order.created',
      data,
    });

  it('delivers each event exactly once, signed, in binary mode, from both SDK modes', async () => {
    const binary = HTTP.binary(orderEvent('e2e-1', { orderId: 'A-1', total: 10 }));
    const structured = HTTP.structured(orderEvent('e2e-2', { orderId: 'A-2', total: 0 }));
    for (const msg of [binary, structured]) {
      const res = await post(msg.body as string, {
        ...(msg.headers as Record<string, string>),
        authorization: `Bearer ${API_KEY}`,
      });
      assert.equal(res.status, 202, await res.clone().text());
      const receipt = (await res.json()) as Record<string, unknown>;
      assert.equal(receipt.duplicate, false);
      assert.equal(typeof receipt.sequence, 'number');
    }
    await sink.waitFor(2);
    const byId = new Map(sink.received.map((r) => [r.headers['ce-id'], r]));
    assert.deepEqual([...byId.keys()].sort(), ['e2e-1', 'e2e-2']);
    const verifier = new Webhook(signingSecret);
    for (const [id, r] of byId) {
      assert.equal(r.headers['ce-type'], 'com.example.order.created');
      assert.equal(r.headers['ce-source'], 'https://acme.example/orders');
      assert.match(String(r.headers['content-type']), /^application\/json/);
      const data = verifier.verify(r.body, {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      }) as { orderId: string };
      assert.equal(data.orderId, id === 'e2e-1' ? 'A-1' : 'A-2');
    }
  });

  it('answers a repeated post with duplicate: true and does not deliver it again', async () => {
    const first = sink.received.length;
    const body = JSON.stringify({
      specversion: '1.0',
      id: 'e2e-dup',
      source: 'https://acme.example/orders',
      type: 'com.example.order.created',
      data: { orderId: 'D-1', total: 1 },
    });
    const headers = {
      'content-type': 'application/cloudevents+json; charset=UTF-8',
      'x-api-key': API_KEY,
    };
    const a = (await (await post(body, headers)).json()) as {
      sequence: number;
      duplicate: boolean;
    };
    const b = (await (await post(body, headers)).json()) as {
      sequence: number;
      duplicate: boolean;
    };
    assert.equal(a.duplicate, false);
    assert.deepEqual(b, { ...a, duplicate: true });
    // A marker event posted after the duplicate: once it arrives, the duplicate would have too.
    const marker = HTTP.binary(orderEvent('e2e-after-dup', { orderId: 'M', total: 2 }));
    await post(marker.body as string, {
      ...(marker.headers as Record<string, string>),
      'x-api-key': API_KEY,
    });
    await sink.waitFor(first + 2);
    const ids = sink.received.slice(first).map((r) => r.headers['ce-id']);
    assert.deepEqual(
      ids.filter((id) => id === 'e2e-dup'),
      ['e2e-dup'],
    );
  });

  it('rejects a schema failure with 422 naming the failing path, and stores nothing', async () => {
    const msg = HTTP.binary(orderEvent('e2e-bad', { orderId: 'B-1', total: -5 }));
    const res = await post(msg.body as string, {
      ...(msg.headers as Record<string, string>),
      'x-api-key': API_KEY,
    });
    assert.equal(res.status, 422);
    assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
    const problem = (await res.json()) as { type: string; errors: { instancePath: string }[] };
    assert.ok(
      problem.errors.some((e) => e.instancePath === '/total'),
      JSON.stringify(problem),
    );
  });

  it('rejects a wrong key with 401 and an unlisted type with 403', async () => {
    const msg = HTTP.binary(orderEvent('e2e-auth', { orderId: 'C-1', total: 1 }));
    const wrong = await post(msg.body as string, {
      ...(msg.headers as Record<string, string>),
      'x-api-key': OTHER_KEY,
    });
    assert.equal(wrong.status, 401);
    const refund = HTTP.binary(
      new CloudEvent({
        id: 'e2e-refund',
        source: 'https://acme.example/orders',
        type: 'com.example.order.refunded',
        data: {},
      }),
    );
    const forbidden = await post(refund.body as string, {
      ...(refund.headers as Record<string, string>),
      authorization: `Bearer ${API_KEY}`,
    });
    assert.equal(forbidden.status, 403);
    assert.match(String(forbidden.headers.get('content-type')), /^application\/problem\+json/);
  });

  it('applies a changed resource file while running: a new API key works without restarts', async () => {
    const producerChanged = once(broker.config, 'change');
    const yaml = readFileSync(join(dir, 'resources.yaml'), 'utf8').replace(API_KEY, OTHER_KEY);
    writeFileSync(join(dir, 'resources.yaml'), yaml);
    await producerChanged;
    const msg = HTTP.binary(orderEvent('e2e-rotated', { orderId: 'R-1', total: 3 }));
    const headers = msg.headers as Record<string, string>;
    assert.equal(
      (await post(msg.body as string, { ...headers, 'x-api-key': OTHER_KEY })).status,
      202,
    );
    assert.equal(
      (await post(msg.body as string, { ...headers, 'x-api-key': API_KEY })).status,
      401,
    );
  });
});
