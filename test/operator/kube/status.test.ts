import assert from 'node:assert/strict';
import { ProblemReason, Severity, type ResourceProblem } from '../../../operator/compile.js';
import { emptyReport } from '../../../operator/jetstream-apply.js';
import { buildMergePatch } from '../../../operator/kube/kube-api.js';
import { mergeConditions } from '../../../operator/kube/conditions.js';
import {
  buildEventTypeStatus,
  buildProducerStatus,
  buildSubscriptionStatus,
  type TopologyOutcome,
} from '../../../operator/kube/status.js';

const now = new Date('2026-12-05T10:00:00Z');
const input = { generation: 3, previous: undefined, now };
const problem = (reason: ProblemReason, message: string, severity: Severity = Severity.Error) =>
  ({
    kind: 'EventType',
    namespace: 'shop',
    name: 'x',
    reason,
    severity,
    message,
  }) as ResourceProblem;
const applied: TopologyOutcome = { kind: 'applied', report: emptyReport() };
const failed: TopologyOutcome = {
  kind: 'applied',
  report: {
    ...emptyReport(),
    failed: [{ object: 'stream', stream: 'S', message: 'insufficient resources' }],
  },
};
const down: TopologyOutcome = { kind: 'unavailable', message: 'TIMEOUT' };
type Conds = { type: string; status: string; reason: string }[];
const summary = (s: Record<string, unknown>) =>
  (s.conditions as Conds).map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');

describe('operator status builders', () => {
  const table: [string, () => Record<string, unknown>, string][] = [
    [
      'EventType, all well',
      () => buildEventTypeStatus(input, [], undefined, applied),
      'SchemaValid=True/SchemaCompiled StreamReady=True/StreamReady Ready=True/Ready',
    ],
    [
      'EventType, schema does not compile',
      () =>
        buildEventTypeStatus(input, [problem(ProblemReason.InvalidSchema, 'bad')], undefined, {
          kind: 'skipped',
        }),
      'SchemaValid=False/InvalidSchema StreamReady=False/NotCompiled Ready=False/InvalidSchema',
    ],
    [
      'EventType, type owned by another',
      () =>
        buildEventTypeStatus(input, [problem(ProblemReason.DuplicateType, 'taken')], undefined, {
          kind: 'skipped',
        }),
      'SchemaValid=True/SchemaCompiled StreamReady=False/DuplicateType Ready=False/DuplicateType',
    ],
    [
      'EventType, JetStream refused the stream',
      () => buildEventTypeStatus(input, [], undefined, failed),
      'SchemaValid=True/SchemaCompiled StreamReady=False/StreamFailed Ready=False/StreamFailed',
    ],
    [
      'EventType, NATS unreachable',
      () => buildEventTypeStatus(input, [], undefined, down),
      'SchemaValid=True/SchemaCompiled StreamReady=Unknown/NatsUnavailable Ready=Unknown/NatsUnavailable',
    ],
    [
      'Producer, missing Secret',
      () =>
        buildProducerStatus(input, [
          problem(ProblemReason.SecretNotFound, 'Secret "shop/a" not found'),
        ]),
      'CredentialsReady=False/SecretNotFound ConfigReady=False/NotCompiled Ready=False/SecretNotFound',
    ],
    [
      'Producer, warning only',
      () =>
        buildProducerStatus(input, [
          problem(ProblemReason.EventTypeNotFound, 'later', Severity.Warning),
        ]),
      'CredentialsReady=True/CredentialsReady ConfigReady=True/ConfigReady Ready=True/Ready',
    ],
    [
      'Producer, NATS unreachable',
      () => buildProducerStatus(input, [], { kind: 'unavailable', message: 'connection refused' }),
      'CredentialsReady=True/CredentialsReady ConfigReady=Unknown/NatsUnavailable Ready=Unknown/NatsUnavailable',
    ],
    [
      'Subscription, handshake pending',
      () =>
        buildSubscriptionStatus(
          input,
          [],
          undefined,
          applied,
          { verification: 'handshake' },
          undefined,
        ),
      'SinkVerified=Unknown/VerificationPending ConsumerReady=True/ConsumerReady Ready=Unknown/VerificationPending',
    ],
    [
      'Subscription whose sink refused the handshake',
      () =>
        buildSubscriptionStatus(
          input,
          [],
          undefined,
          applied,
          {
            verification: 'handshake',
            report: {
              status: 'refused',
              reason: 'NoConsent',
              message: 'https://hooks.example answered HTTP 200 without WebHook-Allowed-Origin',
            },
          },
          undefined,
        ),
      'SinkVerified=False/NoConsent ConsumerReady=True/ConsumerReady Ready=False/NoConsent',
    ],
    [
      'Subscription whose sink cannot be reached for the handshake',
      () =>
        buildSubscriptionStatus(
          input,
          [],
          undefined,
          applied,
          {
            verification: 'handshake',
            report: {
              status: 'pending',
              reason: 'SinkUnreachable',
              message: 'validation request to https://hooks.example failed',
            },
          },
          undefined,
        ),
      'SinkVerified=Unknown/VerificationPending ConsumerReady=True/ConsumerReady Ready=Unknown/VerificationPending',
    ],
    [
      'Subscription whose sink changed since it refused: the old verdict does not count',
      () =>
        buildSubscriptionStatus(
          input,
          [],
          undefined,
          applied,
          {
            verification: 'handshake',
            origin: 'https://new.example',
            report: {
              status: 'refused',
              reason: 'NoConsent',
              message: 'https://old.example answered HTTP 403',
              sinkOrigin: 'https://old.example',
            },
          },
          undefined,
        ),
      'SinkVerified=Unknown/VerificationPending ConsumerReady=True/ConsumerReady Ready=Unknown/VerificationPending',
    ],
    [
      'Subscription whose sink address the SSRF guard refuses',
      () =>
        buildSubscriptionStatus(
          input,
          [],
          undefined,
          applied,
          {
            verification: 'handshake',
            origin: 'http://10.0.0.8',
            report: {
              status: 'pending',
              reason: 'ForbiddenAddress',
              message: 'validation request to http://10.0.0.8 failed: private address',
              sinkOrigin: 'http://10.0.0.8',
            },
          },
          undefined,
        ),
      'SinkVerified=False/ForbiddenAddress ConsumerReady=True/ConsumerReady Ready=False/ForbiddenAddress',
    ],
    [
      'Subscription whose sink consented',
      () =>
        buildSubscriptionStatus(
          input,
          [],
          undefined,
          applied,
          {
            verification: 'handshake',
            report: { status: 'verified', reason: 'Verified', message: 'ok' },
          },
          undefined,
        ),
      'SinkVerified=True/Verified ConsumerReady=True/ConsumerReady Ready=True/Ready',
    ],
    [
      'Subscription, unknown EventType',
      () =>
        buildSubscriptionStatus(
          input,
          [problem(ProblemReason.EventTypeNotFound, 'nope')],
          undefined,
          { kind: 'skipped' },
          { verification: 'none' },
          undefined,
        ),
      'SinkVerified=True/NotRequired ConsumerReady=False/EventTypeNotFound Ready=False/EventTypeNotFound',
    ],
  ];
  for (const [name, build, expected] of table) {
    it(name, () => {
      const status = build();
      assert.equal(summary(status), expected);
      assert.equal(status.observedGeneration, 3);
    });
  }

  it('keeps lastTransitionTime while a condition’s status does not change', () => {
    const first = mergeConditions(
      undefined,
      [{ type: 'Ready', status: 'True', reason: 'Ready', message: '' }],
      1,
      now,
    );
    const later = new Date('2026-12-05T11:00:00Z');
    const same = mergeConditions(
      first,
      [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'x' }],
      2,
      later,
    );
    assert.equal(same[0]!.lastTransitionTime, now.toISOString());
    const flipped = mergeConditions(
      first,
      [{ type: 'Ready', status: 'False', reason: 'Oops', message: '' }],
      2,
      later,
    );
    assert.equal(flipped[0]!.lastTransitionTime, later.toISOString());
  });
});

describe('status merge patch', () => {
  it('nulls vanished keys at every level and replaces arrays whole', () => {
    const before = { a: 1, gone: 'x', nested: { keep: 1, drop: 2 }, list: [1, 2, 3] };
    const after = { a: 2, nested: { keep: 1 }, list: [3], added: true };
    assert.deepEqual(buildMergePatch(before, after), {
      gone: null,
      a: 2,
      nested: { drop: null, keep: 1 },
      list: [3],
      added: true,
    });
  });
});
