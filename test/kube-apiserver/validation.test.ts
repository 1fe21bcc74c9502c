/**
 * Custom resources are validated against their CRD's openAPIV3Schema (and its CEL rules) as a
 * real API server does: 422 Invalid, one cause per violation, each with its field path.
 */
import assert from 'node:assert/strict';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  GROUP,
  VERSION,
  expectStatus,
  startFakeCluster,
  type CustomObject,
  type FakeCluster,
} from './fixture.js';

describe('kube-apiserver fake: schema validation from crds/', () => {
  let cluster: FakeCluster;
  const ns = 'shop';

  before(async () => {
    cluster = await startFakeCluster();
    await cluster.createNamespace(ns);
  });
  after(() => cluster.close());

  function create(
    kind: string,
    plural: string,
    name: string,
    spec: unknown,
    fieldValidation?: string,
  ) {
    return cluster.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural,
      fieldValidation,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name }, spec },
    }) as Promise<CustomObject>;
  }

  async function expectInvalid(call: Promise<unknown>): Promise<Map<string, string>> {
    const status = await expectStatus(call, 422);
    assert.equal(status.reason, 'Invalid');
    return new Map((status.details?.causes ?? []).map((c) => [c.field ?? '', c.message]));
  }

  const sink = { uri: 'https://partner.example/hooks/orders' };

  it('refuses a Subscription without a required field, naming the field', async () => {
    const status = await expectStatus(
      create('Subscription', 'subscriptions', 'no-sink', { eventTypes: ['a'] }),
      422,
    );
    assert.equal(
      status.message,
      `Subscription.${GROUP} "no-sink" is invalid: spec.sink: Required value`,
    );
    assert.deepEqual(status.details?.causes, [
      { reason: 'FieldValueRequired', field: 'spec.sink', message: 'Required value' },
    ]);
  });

  it('refuses wrong types, enums and patterns, reporting every violation at once', async () => {
    const causes = await expectInvalid(
      create('Subscription', 'subscriptions', 'wrong-types', {
        eventTypes: 'order-created',
        sink: { uri: 'ftp://partner.example/' },
        paused: 'yes',
        delivery: { mode: 'carrier-pigeon' },
      }),
    );
    assert.deepEqual([...causes.keys()].sort(), [
      'spec.delivery.mode',
      'spec.eventTypes',
      'spec.paused',
      'spec.sink.uri',
    ]);
    assert.match(causes.get('spec.paused') ?? '', /must be of type boolean/);
    assert.match(causes.get('spec.eventTypes') ?? '', /must be of type array/);
    assert.match(
      causes.get('spec.delivery.mode') ?? '',
      /^Unsupported value: "carrier-pigeon": supported values: "binary", "structured"$/,
    );
    assert.match(causes.get('spec.sink.uri') ?? '', /should match/);
  });

  it('refuses an EventType without spec.type or with out-of-range retention', async () => {
    const causes = await expectInvalid(
      create('EventType', 'eventtypes', 'bad-type', {
        retention: { replicas: 9, storage: 'tape', maxAge: 'forever' },
      }),
    );
    assert.deepEqual([...causes.keys()].sort(), [
      'spec.retention.maxAge',
      'spec.retention.replicas',
      'spec.retention.storage',
      'spec.type',
    ]);
    assert.equal(causes.get('spec.type'), 'Required value');
    assert.match(causes.get('spec.retention.replicas') ?? '', /should be less than or equal to 5/);
  });

  it('refuses list and object size limits on a Producer', async () => {
    const causes = await expectInvalid(
      create('Producer', 'producers', 'empty', { eventTypes: [], auth: {} }),
    );
    assert.match(causes.get('spec.eventTypes') ?? '', /should have at least 1 items/);
    assert.match(causes.get('spec.auth') ?? '', /should have at least 1 properties/);
  });

  it('evaluates the CRD x-kubernetes-validations rules', async () => {
    const sameSink = await expectInvalid(
      create('Subscription', 'subscriptions', 'loop', {
        eventTypes: ['order-created'],
        sink,
        delivery: { deadLetter: { sink } },
      }),
    );
    assert.equal(
      sameSink.get('spec.delivery.deadLetter.sink.uri'),
      'Invalid value: "object": the dead-letter sink must not be the subscription sink itself',
    );
    const ordered = await expectInvalid(
      create('Subscription', 'subscriptions', 'ordered', {
        eventTypes: ['order-created'],
        sink,
        delivery: { ordering: 'ordered', maxInFlight: 4 },
      }),
    );
    assert.match(ordered.get('spec.delivery.maxInFlight') ?? '', /delivers one event at a time/);
    const fine = await create('Subscription', 'subscriptions', 'ordered', {
      eventTypes: ['order-created'],
      sink,
      delivery: { ordering: 'ordered', maxInFlight: 1 },
    });
    assert.equal(fine.metadata.generation, 1);
  });

  it('evaluates the sink.auth.oauth2 rules: reserved parameters, secret or private key', async () => {
    const oauth2 = {
      tokenUrl: 'https://idp.example/oauth/token',
      clientId: 'herald',
      clientSecretRef: { name: 'idp', key: 'secret' },
    };
    const withOAuth2 = (name: string, extra: Record<string, unknown>) =>
      create('Subscription', 'subscriptions', name, {
        eventTypes: ['order-created'],
        sink: { ...sink, auth: { oauth2: { ...oauth2, ...extra } } },
      });
    const reserved = await expectInvalid(
      withOAuth2('reserved', { parameters: { audience: 'api', grant_type: 'password' } }),
    );
    assert.match(
      reserved.get('spec.sink.auth.oauth2.parameters') ?? '',
      /^Invalid value: "object": must not set grant_type, client_id, client_secret, scope, client_assertion, client_assertion_type: Herald sets those itself/,
    );
    const noKey = await expectInvalid(
      withOAuth2('no-key', { clientAuthentication: 'privateKeyJwt' }),
    );
    assert.deepEqual([...noKey.keys()].sort(), [
      'spec.sink.auth.oauth2.clientSecretRef',
      'spec.sink.auth.oauth2.privateKey',
    ]);
    const fine = await withOAuth2('jwt', {
      clientAuthentication: 'privateKeyJwt',
      clientSecretRef: undefined,
      privateKey: { secretRef: { name: 'idp', key: 'tls.key' }, keyId: 'k1' },
      parameters: { audience: 'https://api.example/', resource: 'urn:orders' },
    });
    assert.equal(fine.metadata.generation, 1);
  });

  it('refuses a zero duration where 0s means nothing, naming the field, and accepts it elsewhere', async () => {
    const zeroTimeout = await expectStatus(
      create('Subscription', 'subscriptions', 'zero-timeout', {
        eventTypes: ['order-created'],
        sink,
        delivery: { timeout: '0s' },
      }),
      422,
    );
    assert.equal(
      zeroTimeout.message,
      `Subscription.${GROUP} "zero-timeout" is invalid: spec.delivery.timeout: Invalid value: "string": must be more than 0, e.g. "10s"`,
    );
    assert.deepEqual(zeroTimeout.details?.causes, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.delivery.timeout',
        message: 'Invalid value: "string": must be more than 0, e.g. "10s"',
      },
    ]);
    const zeroDelays = await expectInvalid(
      create('Subscription', 'subscriptions', 'zero-delays', {
        eventTypes: ['order-created'],
        sink,
        delivery: { retry: { initialDelay: '0h0.0m', maxDelay: '0ms' } },
      }),
    );
    assert.deepEqual([...zeroDelays.keys()].sort(), [
      'spec.delivery.retry.initialDelay',
      'spec.delivery.retry.maxDelay',
    ]);
    const zeroWindow = await expectInvalid(
      create('EventType', 'eventtypes', 'zero-window', { type: 'x', duplicateWindow: '0s' }),
    );
    assert.match(zeroWindow.get('spec.duplicateWindow') ?? '', /must be more than 0/);
    // 0s where it means something: never pause, Retry-After ignored, no age limit.
    const fine = await create('Subscription', 'subscriptions', 'zero-meaningful', {
      eventTypes: ['order-created'],
      sink,
      delivery: { timeout: '1ms', autoPauseAfter: '0s', retry: { retryAfterMax: '0s' } },
    });
    assert.equal(fine.metadata.generation, 1);
    await create('EventType', 'eventtypes', 'kept-forever', {
      type: 'com.example.kept-forever',
      retention: { maxAge: '0s' },
    });
  });

  it('refuses names that are not DNS labels', async () => {
    const causes = await expectInvalid(
      create('EventType', 'eventtypes', 'order.created', { type: 'x' }),
    );
    assert.match(causes.get('metadata.name') ?? '', /should match/);
  });

  it('validates status written through the status subresource', async () => {
    const created = await create('EventType', 'eventtypes', 'status-checked', {
      type: 'com.example.x',
    });
    const causes = await expectInvalid(
      cluster.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: 'eventtypes',
          name: created.metadata.name,
          body: { status: { conditions: [{ type: 'Ready', status: 'Maybe' }] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.deepEqual([...causes.keys()].sort(), [
      'status.conditions[0].lastTransitionTime',
      'status.conditions[0].message',
      'status.conditions[0].reason',
      'status.conditions[0].status',
    ]);
  });

  it('prunes unknown fields, or refuses them under fieldValidation=Strict', async () => {
    const strict = await expectStatus(
      create(
        'EventType',
        'eventtypes',
        'strict',
        { type: 'com.example.y', colour: 'blue' },
        'Strict',
      ),
      400,
    );
    assert.match(strict.message ?? '', /unknown field "spec.colour"/);
    const pruned = await create('EventType', 'eventtypes', 'pruned', {
      type: 'com.example.y',
      colour: 'blue',
      schema: { type: 'object', 'x-anything': true },
    });
    assert.deepEqual(pruned.spec, {
      type: 'com.example.y',
      schema: { type: 'object', 'x-anything': true },
    });
  });
});
