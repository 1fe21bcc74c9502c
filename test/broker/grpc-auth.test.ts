/** gRPC takes the same producer credentials as HTTP, from metadata: here HMAC signatures. */
import { strict as assert } from 'node:assert';
import { createHmac, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadProtoPeer, type ProtoPeer } from '../core/cloudevents/protobuf-peer.js';
import {
  PROBLEM,
  applyAuthConfig,
  buildAuthProducer,
  buildConfigWith,
  generateWebhookSecret,
  startAuthBrokerFixture,
} from './auth-fixture.js';
import { NS, ORDER_CREATED, type BrokerFixture } from './fixture.js';
import {
  buildMetadata,
  callRaw,
  createEventBrokerClient,
  readProblem,
  type EventBrokerClient,
} from './grpc-client.js';

/** Standard Webhooks headers over `body`, computed here with node:crypto alone. */
function sign(secret: string, body: Uint8Array, timestamp = Math.floor(Date.now() / 1000)) {
  const id = `msg_${randomUUID()}`;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${mac}`,
    'herald-producer': `${NS}/signer`,
  };
}

describe('broker gRPC authentication', function () {
  let fx: BrokerFixture;
  let client: EventBrokerClient;
  let peer: ProtoPeer;
  const secret = generateWebhookSecret();

  before(async () => {
    peer = await loadProtoPeer();
    fx = await startAuthBrokerFixture({ grpcPort: 0 });
    await applyAuthConfig(fx, buildConfigWith(buildAuthProducer('signer', { hmacSecret: secret })));
    client = createEventBrokerClient(fx.broker.grpcPort as number);
  });
  after(async () => {
    client?.close();
    await fx?.stop();
  });

  function encodeOrder(): Uint8Array {
    return peer.encode(peer.CloudEvent, {
      id: `signed-${randomUUID()}`,
      source: 'https://acme.example/signed',
      spec_version: '1.0',
      type: ORDER_CREATED.type,
      attributes: { datacontenttype: { ce_string: 'application/json' } },
      text_data: '{"orderId":"o-1","total":1}',
    });
  }

  it('accepts a Publish signed over the message bytes, once', async () => {
    const body = encodeOrder();
    const headers = sign(secret, body);
    const path = '/herald.v1.EventBroker/Publish';
    const first = await callRaw(client, path, body, buildMetadata(headers));
    assert.equal(first.error, undefined, first.error?.details);
    const replayed = await callRaw(client, path, body, buildMetadata(headers));
    assert.equal(replayed.error?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(
      readProblem(replayed.error as grpc.ServiceError).type,
      `${PROBLEM}replayed-request`,
    );
  });

  it('refuses a signature over other bytes, and a signed stream', async () => {
    const body = encodeOrder();
    const forged = await callRaw(
      client,
      '/herald.v1.EventBroker/Publish',
      body,
      buildMetadata(sign(secret, encodeOrder())),
    );
    assert.equal(forged.error?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(
      readProblem(forged.error as grpc.ServiceError).type,
      `${PROBLEM}invalid-signature`,
    );

    const stream = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.PublishStream(buildMetadata(sign(secret, body)), (err) => resolve(err));
      call.end();
    });
    assert.equal(stream?.code, grpc.status.UNAUTHENTICATED);
    assert.match(stream?.details ?? '', /API key or a JWT/);
  });
});
