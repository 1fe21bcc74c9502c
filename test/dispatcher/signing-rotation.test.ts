/**
 * Rotating a Subscription's signing secret, from the resource to the receiver: the operator
 * compiles `delivery.signing.secretRef` + `secretRefs`, the dispatcher signs with each, and a
 * receiver using the `standardwebhooks` package verifies with either secret. Then the old
 * secret is removed and only the new one verifies.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import {
  API_VERSION,
  type EventType,
  type Secret,
  type Subscription,
} from '../../core/resources/types.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { compileResources } from '../../operator/compile.js';
import {
  createCapturingLogger,
  ensureConsumer,
  ensureEventStream,
  EVENT_TYPE,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  waitFor,
  waitForSettled,
  writeSubscriptions,
  type Harness,
  type RecordedRequest,
  type TestSink,
} from './support.js';

const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

const webhookHeaders = (req: RecordedRequest) => ({
  'webhook-id': String(req.headers['webhook-id']),
  'webhook-timestamp': String(req.headers['webhook-timestamp']),
  'webhook-signature': String(req.headers['webhook-signature']),
});

const verifies = (secret: string, req: RecordedRequest): boolean => {
  try {
    new Webhook(secret).verify(req.text, webhookHeaders(req));
    return true;
  } catch {
    return false;
  }
};

describe('signing secret rotation (Subscription resource to receiver)', () => {
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  let sink: TestSink | undefined;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await sink?.stop();
  });

  it('signs with the old and the new secret during a rotation, then with the new one only', async () => {
    const ns = uniqueNamespace();
    sink = await startTestSink();
    const [oldSecret, newSecretValue] = [newSecret(), newSecret()];
    const secrets: Secret[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'sig-2024', namespace: ns },
        stringData: { secret: oldSecret },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'sig-2025', namespace: ns },
        stringData: { secret: newSecretValue },
      },
    ];
    const eventType: EventType = {
      apiVersion: API_VERSION,
      kind: 'EventType',
      metadata: { name: EVENT_TYPE, namespace: ns },
      spec: { type: 'com.example.order.created' },
    };
    const subscription = (signing: NonNullable<Subscription['spec']['delivery']>['signing']) =>
      ({
        apiVersion: API_VERSION,
        kind: 'Subscription',
        metadata: { name: 'partner', namespace: ns },
        spec: { eventTypes: [EVENT_TYPE], sink: { uri: sink!.url }, delivery: { signing } },
      }) satisfies Subscription;
    const compiled = (signing: Parameters<typeof subscription>[0]) => {
      const out = compileResources(
        { resources: [eventType, subscription(signing)], secrets },
        { configKey: h.configKey },
      );
      assert.deepEqual(out.problems, []);
      return out.config.subscriptions[0]!;
    };

    // Step 1 of the rotation: the new secret is added next to the old one.
    const during = compiled({
      secretRef: { name: 'sig-2024', key: 'secret' },
      secretRefs: [{ name: 'sig-2025', key: 'secret' }],
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, during);
    await writeSubscriptions(h.kv, [during]);
    const { logger, lines } = createCapturingLogger();
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks: true, // the test sink listens on 127.0.0.1
    });
    const seq = await publishEvent(h.js, ns, { id: 'evt-during', data: { orderId: 'o-1' } });
    const [req] = await sink.waitForRequests(1);
    assert.ok(req);
    const signatures = String(req.headers['webhook-signature']).split(' ');
    assert.equal(signatures.length, 2, 'two space-separated signatures');
    for (const s of signatures) assert.match(s, /^v1,[A-Za-z0-9+/]+={0,2}$/);
    // A receiver still on the old secret and one already on the new both accept it.
    assert.ok(verifies(oldSecret, req), 'verifies with the old secret');
    assert.ok(verifies(newSecretValue, req), 'verifies with the new secret');
    assert.ok(!verifies(newSecret(), req), 'not with an unrelated secret');
    await waitForSettled(h.jsm, during, seq);

    // Last step: the old secret is removed.
    const rotated = compiled({ secretRefs: [{ name: 'sig-2025', key: 'secret' }] });
    await writeSubscriptions(h.kv, [rotated]);
    await waitFor(
      () => (lines.some((l) => l.msg === 'subscription updated in place') ? true : undefined),
      'the dispatcher to take the new signing secrets',
    );
    const next = await publishEvent(h.js, ns, { id: 'evt-after', data: { orderId: 'o-2' } });
    const [, signedOnce] = await sink.waitForRequests(2);
    await waitForSettled(h.jsm, rotated, next);
    assert.ok(signedOnce);
    assert.match(String(signedOnce.headers['webhook-signature']), /^v1,[^ ]+$/, 'one signature');
    assert.ok(verifies(newSecretValue, signedOnce));
    assert.ok(!verifies(oldSecret, signedOnce), 'the old secret no longer verifies');
  });
});
