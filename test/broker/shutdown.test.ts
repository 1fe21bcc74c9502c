import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { connect } from 'node:net';
import { CloudEvent } from 'cloudevents';
import { ACME_KEY, ORDER_CREATED, startBrokerFixture, type BrokerFixture } from './fixture.js';
import { openRawConnection, type RawConnection } from './raw-http.js';

const PROBLEM = 'https://herald.dev/problems/';

function structuredOrder(id: string): string {
  return JSON.stringify(
    new CloudEvent({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/shutdown',
      id,
      data: { orderId: id, total: 3 },
    }).toJSON(),
  );
}

/** Headers of a POST /events the broker takes (100 Continue) before the body is sent. */
function postHeaders(body: string): string {
  return (
    'POST /events HTTP/1.1\r\nHost: localhost\r\n' +
    `Authorization: Bearer ${ACME_KEY}\r\n` +
    'Content-Type: application/cloudevents+json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Expect: 100-continue\r\n\r\n'
  );
}

async function isRefused(port: number): Promise<boolean> {
  const socket = connect({ port, host: '127.0.0.1' });
  try {
    await once(socket, 'connect');
    socket.destroy();
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

describe('broker graceful shutdown', function () {
  describe('stop() with requests in flight', () => {
    let fx: BrokerFixture;
    const connections: RawConnection[] = [];
    before(async () => {
      fx = await startBrokerFixture();
    });
    after(async () => {
      for (const c of connections) c.close();
      await fx?.stop();
    });

    it('turns not-ready, refuses new work, finishes the in-flight publish, then drains NATS', async () => {
      const port = fx.broker.port;
      const open = async (): Promise<RawConnection> => {
        const c = await openRawConnection(port);
        connections.push(c);
        return c;
      };
      // Requests begun before stop(): headers half-sent, so their connections are not idle
      // (idle keep-alive connections are closed at once by stop()).
      const probe = await open();
      await probe.write('GET /readyz HTTP/1.1\r\nHost: localhost\r\n');
      const late = await open();
      await late.write(
        `POST /events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ACME_KEY}\r\n`,
      );
      // The in-flight request: the broker has taken it once it answers 100 Continue.
      const inFlight = await open();
      const body = structuredOrder('in-flight-publish');
      await inFlight.write(postHeaders(body));
      assert.equal((await inFlight.readResponse()).status, 100);

      let stopDone = false;
      const stopped = fx.broker.stop().then(() => (stopDone = true));
      const natsClosed = fx.broker.nats.closed();

      assert.ok(await isRefused(port), 'new connections are refused');

      await probe.write('\r\n');
      const readyz = await probe.readResponse();
      assert.equal(readyz.status, 503);
      assert.equal(readyz.headers.connection, 'close');
      const notReady = JSON.parse(readyz.body) as Record<string, unknown>;
      assert.equal(notReady.type, `${PROBLEM}not-ready`);
      assert.match(String(notReady.detail), /shutting down/);
      assert.equal((notReady.checks as Record<string, string>).broker, 'stopping');

      await late.write('Content-Type: application/cloudevents+json\r\nContent-Length: 2\r\n\r\n{}');
      const refused = await late.readResponse();
      assert.equal(refused.status, 503, 'a request begun after stop() is refused');
      assert.equal(refused.headers.connection, 'close');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal((JSON.parse(refused.body) as { type: string }).type, `${PROBLEM}not-ready`);

      assert.equal(stopDone, false, 'stop() waits for the in-flight request');
      assert.equal(fx.broker.nats.isClosed(), false, 'NATS stays up while requests are in flight');

      await inFlight.write(body);
      const accepted = await inFlight.readResponse();
      assert.equal(accepted.status, 202, accepted.body);
      assert.equal(accepted.headers.connection, 'close');
      const receipt = JSON.parse(accepted.body) as { sequence: number; duplicate: boolean };
      assert.equal(receipt.duplicate, false);

      await stopped;
      assert.equal(await natsClosed, undefined, 'the NATS connection closed cleanly (drained)');
      assert.ok(fx.broker.nats.isClosed());
      const stored = await fx.jsm.streams.getMessage(ORDER_CREATED.stream, {
        seq: receipt.sequence,
      });
      assert.match(stored?.string() ?? '', /in-flight-publish/, 'the in-flight event is stored');
    });
  });

  describe('stop() with a request that never finishes', () => {
    let fx: BrokerFixture;
    before(async () => {
      fx = await startBrokerFixture({ shutdownGraceMs: 200, bodyTimeoutMs: 60_000 });
    });
    after(() => fx?.stop());

    it('cuts it after the grace period and still drains NATS', async () => {
      const stuck = await openRawConnection(fx.broker.port);
      const body = structuredOrder('never-sent');
      await stuck.write(postHeaders(body));
      assert.equal((await stuck.readResponse()).status, 100);
      const natsClosed = fx.broker.nats.closed();
      await fx.broker.stop();
      await stuck.ended;
      assert.equal(await natsClosed, undefined);
      const info = await fx.jsm.streams.info(ORDER_CREATED.stream);
      assert.equal(info.state.messages, 0, 'nothing half-received was stored');
    });
  });
});
