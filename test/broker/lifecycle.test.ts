import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { CloudEvent, HTTP } from 'cloudevents';
import { request } from 'undici';
import { ACME_KEY, ORDER_CREATED, startBrokerFixture, type BrokerFixture } from './fixture.js';

const PROBLEM = 'https://herald.dev/problems/';

async function getStatus(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(url);
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** Polls an observable outside the test's control (the broker's own NATS connection). */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function binaryOrder(id: string): { headers: Record<string, string>; body: string } {
  const message = HTTP.binary(
    new CloudEvent({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/lifecycle',
      id,
      data: { orderId: id, total: 1 },
    }),
  );
  return {
    headers: {
      ...(message.headers as Record<string, string>),
      authorization: `Bearer ${ACME_KEY}`,
    },
    body: message.body as string,
  };
}

describe('broker lifecycle', function () {
  describe('when NATS goes away', () => {
    let fx: BrokerFixture;
    before(async () => {
      fx = await startBrokerFixture({ publishTimeoutMs: 1_000 });
    });
    after(() => fx?.stop());

    it('flips /readyz to 503, answers 503 with Retry-After, and recovers', async () => {
      assert.equal((await getStatus(`${fx.url}/readyz`)).status, 200);
      await fx.nats.process.stop();
      await waitFor(
        async () => (await getStatus(`${fx.url}/readyz`)).status === 503,
        '/readyz to report 503',
      );
      const ready = await getStatus(`${fx.url}/readyz`);
      assert.equal(ready.body.type, `${PROBLEM}not-ready`);
      assert.match(String(ready.body.detail), /NATS/);
      assert.equal((ready.body.checks as Record<string, string>).nats, 'disconnected');

      const health = await getStatus(`${fx.url}/healthz`);
      assert.equal(health.status, 200, 'the process is alive even without NATS');

      const { headers, body } = binaryOrder('during-outage');
      const res = await request(`${fx.url}/events`, { method: 'POST', headers, body });
      assert.equal(res.statusCode, 503);
      assert.ok(Number(res.headers['retry-after']) > 0);
      const problem = (await res.body.json()) as Record<string, unknown>;
      assert.equal(problem.type, `${PROBLEM}jetstream-unavailable`);

      await fx.nats.restart();
      await waitFor(
        async () => (await getStatus(`${fx.url}/readyz`)).status === 200,
        '/readyz to recover',
      );
      const retry = await request(`${fx.url}/events`, { method: 'POST', headers, body });
      assert.equal(retry.statusCode, 202);
      const receipt = (await retry.body.json()) as Record<string, unknown>;
      assert.equal(receipt.duplicate, false, 'nothing was stored during the outage');
    });
  });

  describe('stop()', () => {
    let fx: BrokerFixture;
    before(async () => {
      fx = await startBrokerFixture();
    });
    after(() => fx?.stop());

    it('finishes an in-flight request, then refuses new connections', async () => {
      const { headers, body } = binaryOrder('in-flight');
      const req = httpRequest(`${fx.url}/events`, {
        method: 'POST',
        headers: { ...headers, expect: '100-continue', 'content-length': Buffer.byteLength(body) },
      });
      const response = once(req, 'response') as Promise<[IncomingMessage]>;
      req.flushHeaders();
      // The broker has taken the request once it answers 100 Continue.
      await once(req, 'continue');
      const stopped = fx.broker.stop();
      req.end(body);
      const [res] = await response;
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      assert.equal(res.statusCode, 202, Buffer.concat(chunks).toString());
      assert.equal(res.headers.connection, 'close');
      await stopped;
      await assert.rejects(request(`${fx.url}/healthz`));
    });
  });
});
