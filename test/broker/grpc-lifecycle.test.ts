/** gRPC when NATS goes away, and during a graceful stop. */
import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { ACME_KEY, ORDER_CREATED, startBrokerFixture, type BrokerFixture } from './fixture.js';
import {
  buildMetadata,
  callUnary,
  createEventBrokerClient,
  readProblem,
  type EventBrokerClient,
  type Message,
} from './grpc-client.js';

const ACME = buildMetadata({ authorization: `Bearer ${ACME_KEY}` });

/** Polls an observable outside the test's control (the broker's own NATS connection). */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function order(id: string): Message {
  return {
    id,
    source: 'https://acme.example/grpc-lifecycle',
    spec_version: '1.0',
    type: ORDER_CREATED.type,
    attributes: { datacontenttype: { ce_string: 'application/json' } },
    text_data: JSON.stringify({ orderId: id, total: 1 }),
  };
}

describe('broker gRPC lifecycle', function () {
  describe('when NATS goes away', () => {
    let fx: BrokerFixture;
    let client: EventBrokerClient;
    before(async () => {
      fx = await startBrokerFixture({ publishTimeoutMs: 1_000, grpcPort: 0 });
      client = createEventBrokerClient(fx.broker.grpcPort as number);
    });
    after(async () => {
      client?.close();
      await fx?.stop();
    });

    const readyStatus = async (): Promise<number> => (await request(`${fx.url}/readyz`)).statusCode;

    it('answers UNAVAILABLE with Retry-After, and stores the retry once NATS is back', async () => {
      await fx.nats.process.stop();
      await waitFor(async () => (await readyStatus()) === 503, '/readyz to report 503');
      const during = await callUnary(client.Publish, client, order('grpc-outage'), ACME);
      assert.equal(during.error?.code, grpc.status.UNAVAILABLE);
      assert.ok(Number(during.error?.metadata.get('retry-after')[0]) > 0);
      assert.equal(
        readProblem(during.error as grpc.ServiceError).type,
        'https://herald.dev/problems/jetstream-unavailable',
      );

      await fx.nats.restart();
      await waitFor(async () => (await readyStatus()) === 200, '/readyz to recover');
      const retry = await callUnary(client.Publish, client, order('grpc-outage'), ACME);
      assert.equal(retry.error, undefined);
      assert.equal(retry.response?.duplicate, undefined, 'nothing was stored during the outage');
    });
  });

  describe('stop()', () => {
    let fx: BrokerFixture;
    let client: EventBrokerClient;
    before(async () => {
      fx = await startBrokerFixture({ grpcPort: 0 });
      client = createEventBrokerClient(fx.broker.grpcPort as number);
    });
    after(async () => {
      client?.close();
      await fx?.stop();
    });

    it('lets an open stream finish, then refuses new calls', async () => {
      const stored = async (): Promise<number> =>
        (await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages;
      const before = await stored();
      let call!: grpc.ClientWritableStream<Message>;
      const answered = new Promise<{ error: grpc.ServiceError | null; response?: Message }>(
        (resolve) => {
          call = client.PublishStream(ACME, (error, response) => resolve({ error, response }));
        },
      );
      call.write(order(`stream-a-${Date.now()}`));
      // The server has the stream once its first event is stored; then stop() begins.
      await waitFor(async () => (await stored()) === before + 1, 'the first event');
      const stopping = fx.broker.stop();
      call.write(order(`stream-b-${Date.now()}`));
      call.end();
      const { error, response } = await answered;
      assert.equal(error, null);
      const results = response?.results as Message[];
      assert.equal(results.length, 2);
      assert.ok(results.every((r) => r.receipt !== undefined));
      await stopping;

      const after = await callUnary(client.Publish, client, order('after-stop'), ACME);
      assert.equal(after.error?.code, grpc.status.UNAVAILABLE);
    });
  });
});
