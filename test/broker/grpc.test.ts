import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { decodeStructured } from '../../core/cloudevents/index.js';
import {
  ACME_KEY,
  GHOST,
  ORDER_CREATED,
  ORDER_SHIPPED,
  OTHER_KEY,
  readLastMessage,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';
import {
  buildMetadata,
  callRaw,
  callUnary,
  createCloudEventServiceClient,
  createEventBrokerClient,
  readProblem,
  readStatusDetails,
  type CloudEventServiceClient,
  type EventBrokerClient,
  type Message,
} from './grpc-client.js';

const MAX_BODY = 16 * 1024;
const PROBLEM = 'https://herald.dev/problems/';
const ACME = { authorization: `Bearer ${ACME_KEY}` };

async function countMessages(fx: BrokerFixture, stream: string): Promise<number> {
  return (await fx.jsm.streams.info(stream)).state.messages;
}

describe('broker gRPC', function () {
  let fx: BrokerFixture;
  let client: EventBrokerClient;
  let ocm: CloudEventServiceClient;
  let seq = 0;
  const nextId = (): string => `grpc-${Date.now()}-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture({ maxBodyBytes: MAX_BODY, grpcPort: 0 });
    assert.ok(fx.broker.grpcPort !== undefined && fx.broker.grpcPort > 0);
    client = createEventBrokerClient(fx.broker.grpcPort);
    ocm = createCloudEventServiceClient(fx.broker.grpcPort);
  });
  after(async () => {
    client?.close();
    ocm?.close();
    await fx?.stop();
  });

  function orderMessage(overrides: Message = {}): Message {
    return {
      id: nextId(),
      source: 'https://acme.example/shop/eu',
      spec_version: '1.0',
      type: ORDER_CREATED.type,
      attributes: {
        datacontenttype: { ce_string: 'application/json' },
        subject: { ce_string: 'eu-42' },
      },
      text_data: JSON.stringify({ orderId: 'o-1', total: 12.5 }),
      ...overrides,
    };
  }

  const publish = (message: Message, metadata: Record<string, string> = ACME) =>
    callUnary(client.Publish, client, message, buildMetadata(metadata));

  function assertStatus(
    error: grpc.ServiceError | undefined,
    code: grpc.status,
    slug: string,
  ): Record<string, unknown> {
    assert.ok(error, `expected ${grpc.status[code]}`);
    assert.equal(error.code, code, `${grpc.status[error.code]}: ${error.details}`);
    const problem = readProblem(error);
    assert.equal(problem.type, PROBLEM + slug);
    const details = readStatusDetails(error);
    assert.equal(details.code, code);
    assert.equal(details.details.ErrorInfo?.reason, slug.toUpperCase().replaceAll('-', '_'));
    assert.equal(details.details.ErrorInfo?.domain, 'herald.dev');
    return problem;
  }

  describe('herald.v1.EventBroker/Publish', () => {
    it('stores an event and answers with its receipt', async () => {
      const message = orderMessage({
        attributes: {
          datacontenttype: { ce_string: 'application/json' },
          time: { ce_timestamp: { seconds: 1_700_000_000, nanos: 0 } },
          attempt: { ce_integer: 3 },
        },
      });
      const { response, error } = await publish(message);
      assert.equal(error, undefined);
      assert.deepEqual(Object.keys(response ?? {}).sort(), ['id', 'sequence', 'source', 'type']);
      assert.equal(response?.id, message.id);
      assert.equal(response?.type, ORDER_CREATED.type);
      const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
      assert.equal(msg.seq, response?.sequence);
      const stored = decodeStructured(msg.data);
      assert.equal(stored.attributes.time, '2023-11-14T22:13:20Z');
      assert.equal(stored.attributes.attempt, 3);
      assert.deepEqual(stored.data?.value, { orderId: 'o-1', total: 12.5 });
    });

    it('takes the key as x-api-key too, and reports duplicates', async () => {
      const message = orderMessage();
      const first = await publish(message, { 'x-api-key': ACME_KEY });
      const again = await publish(message, { 'x-api-key': ACME_KEY });
      assert.equal(again.response?.sequence, first.response?.sequence);
      assert.equal(again.response?.duplicate, true);
    });

    it('carries traceparent metadata into the event', async () => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const { error } = await publish(orderMessage(), { ...ACME, traceparent });
      assert.equal(error, undefined);
      const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
      assert.equal(decodeStructured(msg.data).attributes.traceparent, traceparent);
    });

    it('answers UNAUTHENTICATED without credentials or with a wrong key', async () => {
      const none = await publish(orderMessage(), {});
      assertStatus(none.error, grpc.status.UNAUTHENTICATED, 'unauthorized');
      const wrong = await publish(orderMessage(), { authorization: 'Bearer nope' });
      assertStatus(wrong.error, grpc.status.UNAUTHENTICATED, 'unauthorized');
    });

    it('answers PERMISSION_DENIED for a type or source the producer may not use', async () => {
      const type = await publish(orderMessage(), { authorization: `Bearer ${OTHER_KEY}` });
      assertStatus(type.error, grpc.status.PERMISSION_DENIED, 'forbidden-type');
      const source = await publish(orderMessage({ source: 'https://evil.example/x' }));
      assertStatus(source.error, grpc.status.PERMISSION_DENIED, 'forbidden-source');
    });

    it('answers FAILED_PRECONDITION for an unregistered type', async () => {
      const { error } = await publish(orderMessage({ type: 'com.example.unknown' }));
      assertStatus(error, grpc.status.FAILED_PRECONDITION, 'unknown-event-type');
    });

    it('answers INVALID_ARGUMENT with every schema violation in the details', async () => {
      const { error } = await publish(orderMessage({ text_data: '{"total":-1}' }));
      const problem = assertStatus(error, grpc.status.INVALID_ARGUMENT, 'schema-validation-failed');
      assert.equal((problem.errors as unknown[]).length, 2);
      const violations = readStatusDetails(error as grpc.ServiceError).details.BadRequest
        ?.field_violations as { field: string; description: string }[];
      assert.deepEqual(violations.map((v) => v.field).sort(), ['data', 'data/total']);
    });

    it('answers INVALID_ARGUMENT for an invalid CloudEvent and for bytes that are not one', async () => {
      const invalid = await publish(orderMessage({ source: '' }));
      const problem = assertStatus(
        invalid.error,
        grpc.status.INVALID_ARGUMENT,
        'invalid-cloudevent',
      );
      assert.equal(problem.attribute, 'source');
      const garbage = await callRaw(
        client,
        '/herald.v1.EventBroker/Publish',
        Buffer.from([0x0a, 0x7f, 0x01]),
        buildMetadata(ACME),
      );
      const malformed = assertStatus(
        garbage.error,
        grpc.status.INVALID_ARGUMENT,
        'invalid-cloudevent',
      );
      assert.equal(malformed.code, 'malformed');
    });

    it('answers RESOURCE_EXHAUSTED for a message over the body limit', async () => {
      const { error } = await publish(orderMessage({ text_data: `"${'x'.repeat(MAX_BODY)}"` }));
      assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED);
    });

    it('answers UNAVAILABLE with a retry hint when no stream takes the event', async () => {
      const { error } = await publish(orderMessage({ type: GHOST.type, text_data: '{}' }));
      assertStatus(error, grpc.status.UNAVAILABLE, 'jetstream-unavailable');
      assert.ok(Number(error?.metadata.get('retry-after')[0]) > 0);
      const retry = readStatusDetails(error as grpc.ServiceError).details.RetryInfo;
      assert.ok(Number((retry?.retry_delay as Message).seconds) > 0);
    });
  });

  describe('herald.v1.EventBroker/PublishBatch', () => {
    const publishBatch = (events: Message[]) =>
      callUnary(client.PublishBatch, client, { events }, buildMetadata(ACME));

    it('stores every event and reports each one', async () => {
      const before = await countMessages(fx, ORDER_CREATED.stream);
      const events = [orderMessage(), orderMessage(), orderMessage()];
      const { response, error } = await publishBatch(events);
      assert.equal(error, undefined);
      const results = response?.results as Message[];
      assert.deepEqual(
        results.map((r) => [r.index ?? 0, (r.receipt as Message).id]),
        events.map((e, i) => [i, e.id]),
      );
      assert.equal(response?.failed_count, undefined, 'no failures (proto3 default 0)');
      assert.equal(await countMessages(fx, ORDER_CREATED.stream), before + 3);
    });

    it('stores nothing of a batch with one bad event, and says why per event', async () => {
      const before = await countMessages(fx, ORDER_CREATED.stream);
      const events = [orderMessage(), orderMessage({ text_data: '{"total":-1}' }), orderMessage()];
      const { response } = await publishBatch(events);
      const results = response?.results as Message[];
      assert.equal(response?.failed_count, 3);
      const errors = results.map((r) => r.error as Message);
      assert.deepEqual(
        errors.map((e) => [e.code, e.reason]),
        [
          [grpc.status.ABORTED, 'batch-rejected'],
          [grpc.status.INVALID_ARGUMENT, 'schema-validation-failed'],
          [grpc.status.ABORTED, 'batch-rejected'],
        ],
      );
      assert.equal(errors[1]?.problem_type, `${PROBLEM}schema-validation-failed`);
      assert.ok((errors[1]?.violations as unknown[]).length > 0);
      assert.equal(await countMessages(fx, ORDER_CREATED.stream), before);
    });

    it('reports an invalid CloudEvent at its index and stores nothing', async () => {
      const before = await countMessages(fx, ORDER_CREATED.stream);
      const { response } = await publishBatch([orderMessage(), orderMessage({ id: '' })]);
      const results = response?.results as Message[];
      assert.equal((results[1]?.error as Message).reason, 'invalid-cloudevent');
      assert.equal(results[1]?.index, 1);
      assert.equal((results[0]?.error as Message).reason, 'batch-rejected');
      assert.equal(await countMessages(fx, ORDER_CREATED.stream), before);
    });

    it('answers an empty batch with no results', async () => {
      const { response, error } = await publishBatch([]);
      assert.equal(error, undefined);
      assert.deepEqual(response?.results ?? [], []);
    });

    it('refuses the whole call without credentials', async () => {
      const { error } = await callUnary(
        client.PublishBatch,
        client,
        { events: [orderMessage()] },
        buildMetadata(),
      );
      assertStatus(error, grpc.status.UNAUTHENTICATED, 'unauthorized');
    });
  });

  describe('herald.v1.EventBroker/PublishStream', () => {
    function publishStream(
      messages: Message[],
      metadata: Record<string, string> = ACME,
    ): Promise<{ response?: Message; error?: grpc.ServiceError }> {
      return new Promise((resolve) => {
        const call = client.PublishStream(buildMetadata(metadata), (error, response) =>
          resolve(error === null ? { response } : { error }),
        );
        for (const m of messages) call.write(m);
        call.end();
      });
    }

    it('stores N events and reports N results in order', async () => {
      const before = await countMessages(fx, ORDER_CREATED.stream);
      const messages = Array.from({ length: 50 }, () => orderMessage());
      const { response, error } = await publishStream(messages);
      assert.equal(error, undefined);
      const results = response?.results as Message[];
      assert.equal(results.length, 50);
      results.forEach((r, i) => {
        assert.equal(r.index ?? 0, i);
        assert.equal((r.receipt as Message).id, messages[i]?.id);
      });
      assert.equal(await countMessages(fx, ORDER_CREATED.stream), before + 50);
    });

    it('reports refused events in place and stores the others', async () => {
      const before = await countMessages(fx, ORDER_SHIPPED.stream);
      const shipped = (): Message => orderMessage({ type: ORDER_SHIPPED.type });
      const messages = [
        shipped(),
        { ...shipped(), source: 'https://evil.example/' },
        orderMessage({ spec_version: '0.3' }),
        shipped(),
      ];
      const { response } = await publishStream(messages);
      const results = response?.results as Message[];
      assert.deepEqual(
        results.map((r) => (r.error === undefined ? 'stored' : (r.error as Message).reason)),
        ['stored', 'forbidden-source', 'invalid-cloudevent', 'stored'],
      );
      assert.equal(response?.failed_count, 2);
      assert.equal(await countMessages(fx, ORDER_SHIPPED.stream), before + 2);
    });

    it('refuses a stream without credentials', async () => {
      const { error } = await publishStream([orderMessage()], {});
      assertStatus(error, grpc.status.UNAUTHENTICATED, 'unauthorized');
    });

    it('stops on a client cancel and keeps serving', async () => {
      const cancelled = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.PublishStream(buildMetadata(ACME), (err) => resolve(err));
        call.write(orderMessage());
        call.cancel();
      });
      assert.equal(cancelled?.code, grpc.status.CANCELLED);
      const { error } = await publish(orderMessage());
      assert.equal(error, undefined);
    });
  });

  describe('io.cloudevents.v1.CloudEventService (open-cluster-management)', () => {
    it('publishes an event with ce- prefixed extension keys and JSON as bytes', async () => {
      const id = nextId();
      const { response, error } = await callUnary(
        ocm.Publish,
        ocm,
        {
          event: {
            id,
            source: 'https://acme.example/ocm',
            spec_version: '1.0',
            type: ORDER_CREATED.type,
            attributes: {
              datacontenttype: { ce_string: 'application/json' },
              'ce-clustername': { ce_string: 'cluster1' },
            },
            binary_data: Buffer.from(JSON.stringify({ orderId: 'o-9', total: 1 })),
          },
        },
        buildMetadata(ACME),
      );
      assert.equal(error, undefined);
      assert.deepEqual(response, {});
      const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
      const stored = decodeStructured(msg.data);
      assert.equal(stored.attributes.id, id);
      assert.equal(stored.attributes.clustername, 'cluster1');
      assert.deepEqual(stored.data?.value, { orderId: 'o-9', total: 1 });
    });

    it('maps refusals to the same status codes', async () => {
      const { error } = await callUnary(
        ocm.Publish,
        ocm,
        { event: orderMessage({ text_data: '{}' }) },
        buildMetadata(ACME),
      );
      assertStatus(error, grpc.status.INVALID_ARGUMENT, 'schema-validation-failed');
      const empty = await callUnary(ocm.Publish, ocm, {}, buildMetadata(ACME));
      assertStatus(empty.error, grpc.status.INVALID_ARGUMENT, 'invalid-cloudevent');
    });

    it('answers Subscribe with UNIMPLEMENTED', async () => {
      const call = ocm.Subscribe({ source: 's', cluster_name: 'c' }, buildMetadata(ACME));
      const error = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      assert.equal(error.code, grpc.status.UNIMPLEMENTED);
      assert.match(error.details, /Subscription/);
    });
  });

  it('is not served without grpcPort', async () => {
    const plain = await startBrokerFixture();
    try {
      assert.equal(plain.broker.grpcPort, undefined);
      assert.equal((await request(`${plain.url}/healthz`)).statusCode, 200);
    } finally {
      await plain.stop();
    }
  });
});
