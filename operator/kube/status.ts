/**
 * Pure builders of each kind's status (DESIGN.md §2) from what a reconcile found: the compile
 * problems, what JetStream said, whether NATS answered at all. Knative style: each specific
 * condition is decided on its own, Ready summarises them.
 */
import type { CompiledEventType, CompiledSubscription } from '../../core/config/model.js';
import { isPauseInEffect, type DeliveryState } from '../../core/delivery-state.js';
import type { Condition } from '../../core/resources/types.js';
import { ProblemReason, Severity, type ResourceProblem } from '../compile.js';
import type { ApplyReport } from '../jetstream-apply.js';
import {
  ConditionType,
  markFalse,
  markTrue,
  markUnknown,
  mergeConditions,
  summarizeReady,
  type ConditionState,
} from './conditions.js';

/** Reasons the operator itself sets, beside the compile ProblemReasons. */
export const StatusReason = {
  NatsUnavailable: 'NatsUnavailable',
  StreamFailed: 'StreamFailed',
  ConsumerFailed: 'ConsumerFailed',
  NotCompiled: 'NotCompiled',
  Verified: 'Verified',
  NotRequired: 'NotRequired',
  VerificationPending: 'VerificationPending',
} as const;

/** What JetStream did for this resource: a report, or that NATS could not be reached. */
export type TopologyOutcome =
  | { kind: 'applied'; report: ApplyReport }
  | { kind: 'unavailable'; message: string }
  | { kind: 'skipped' };

const errorsOf = (problems: readonly ResourceProblem[]): ResourceProblem[] =>
  problems.filter((p) => p.severity === Severity.Error);

/** "path: message; path: message" — names Secrets and fields, never values. */
export function describeProblems(problems: readonly ResourceProblem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
}

function topologyCondition(
  type: string,
  failedReason: string,
  outcome: TopologyOutcome,
  readyReason: string,
): ConditionState {
  if (outcome.kind === 'unavailable') {
    return markUnknown(
      type,
      StatusReason.NatsUnavailable,
      `NATS JetStream is unreachable: ${outcome.message}`,
    );
  }
  if (outcome.kind === 'skipped') {
    return markFalse(type, StatusReason.NotCompiled, 'not created: the resource has errors');
  }
  const failed = outcome.report.failed;
  if (failed.length > 0) {
    return markFalse(
      type,
      failedReason,
      failed.map((f) => `${f.consumer ?? f.stream}: ${f.message ?? 'refused'}`).join('; '),
    );
  }
  const conflicts = outcome.report.conflicts.map((c) => c.message).filter(Boolean);
  return markTrue(type, readyReason, conflicts.join('; '));
}

/** The specific conditions followed by the Ready they sum up, with transition times kept. */
function conditionsWithReady(input: StatusInput, states: ConditionState[]): Condition[] {
  return mergeConditions(
    input.previous,
    [...states, summarizeReady(states)],
    input.generation,
    input.now,
  );
}

export interface StatusInput {
  generation: number;
  previous: Condition[] | undefined;
  now: Date;
}

export function buildEventTypeStatus(
  input: StatusInput,
  problems: readonly ResourceProblem[],
  compiled: CompiledEventType | undefined,
  topology: TopologyOutcome,
): Record<string, unknown> {
  const errors = errorsOf(problems);
  const schemaErrors = errors.filter((p) => p.reason === ProblemReason.InvalidSchema);
  const otherErrors = errors.filter((p) => p.reason !== ProblemReason.InvalidSchema);
  const schema =
    schemaErrors.length > 0
      ? markFalse(
          ConditionType.SchemaValid,
          ProblemReason.InvalidSchema,
          describeProblems(schemaErrors),
        )
      : markTrue(ConditionType.SchemaValid, 'SchemaCompiled');
  const stream =
    otherErrors.length > 0
      ? markFalse(ConditionType.StreamReady, otherErrors[0]!.reason, describeProblems(otherErrors))
      : topologyCondition(
          ConditionType.StreamReady,
          StatusReason.StreamFailed,
          topology,
          'StreamReady',
        );
  const states = [schema, stream];
  return {
    observedGeneration: input.generation,
    conditions: conditionsWithReady(input, states),
    ...(compiled && {
      stream: compiled.stream,
      subject: compiled.subject,
      schemaDigest: compiled.schemaDigest,
    }),
  };
}

export function buildProducerStatus(
  input: StatusInput,
  problems: readonly ResourceProblem[],
  /** Whether its config entry was written; `unavailable` when NATS could not be reached. */
  config: { kind: 'written' } | { kind: 'unavailable'; message: string } = { kind: 'written' },
): Record<string, unknown> {
  const errors = errorsOf(problems);
  const warnings = problems.filter((p) => p.severity === Severity.Warning);
  const credentials =
    errors.length > 0
      ? markFalse(ConditionType.CredentialsReady, errors[0]!.reason, describeProblems(errors))
      : markTrue(ConditionType.CredentialsReady, 'CredentialsReady', describeProblems(warnings));
  const configReady =
    config.kind === 'unavailable'
      ? markUnknown(
          ConditionType.ConfigReady,
          StatusReason.NatsUnavailable,
          `NATS JetStream is unreachable: ${config.message}`,
        )
      : errors.length > 0
        ? markFalse(
            ConditionType.ConfigReady,
            StatusReason.NotCompiled,
            'not in the broker config: the resource has errors',
          )
        : markTrue(ConditionType.ConfigReady, 'ConfigReady');
  const states = [credentials, configReady];
  return {
    observedGeneration: input.generation,
    conditions: conditionsWithReady(input, states),
  };
}

/** `status.delivery` of a Subscription, from what the dispatchers record (core/delivery-state.ts). */
export type DeliveryStatus = Record<string, unknown>;

/**
 * The dispatchers' record as `status.delivery`: times, last status or error, consecutive
 * failures, and the pause reason while the pause holds this generation.
 */
export function buildDeliveryStatus(
  state: DeliveryState | undefined,
  generation: number,
): DeliveryStatus | undefined {
  if (!state) return undefined;
  return {
    ...(state.lastSuccessTime && { lastSuccessTime: state.lastSuccessTime }),
    ...(state.lastFailureTime && { lastFailureTime: state.lastFailureTime }),
    ...(state.lastStatus !== undefined && { lastStatus: state.lastStatus }),
    ...(state.lastError && { lastError: state.lastError.slice(0, 1024) }),
    consecutiveFailures: state.consecutiveFailures,
    ...(isPauseInEffect(state, generation) &&
      state.pausedReason && { pausedReason: state.pausedReason.slice(0, 1024) }),
  };
}

/** What dispatchers record of a sink's webhook validation handshake (core/delivery-state.ts). */
export interface SinkVerificationReport {
  /** `verified`, `pending` (asking, or the sink unreachable) or `refused` (no consent). */
  status: string;
  /** CamelCase, from the dispatcher (e.g. NoConsent, OriginNotAllowed, SinkUnreachable). */
  reason: string;
  message: string;
  /** The sink the verdict is about; one for another sink (since changed) counts as none. */
  sinkOrigin?: string;
}

/**
 * SinkVerified under `verification: handshake`: True once a dispatcher saw consent; False
 * when the sink answered without it (it is asked again later, so this can still turn True);
 * Unknown while no answer decided it.
 */
function buildSinkVerifiedCondition(
  sinkOrigin: string | undefined,
  given: SinkVerificationReport | undefined,
): ConditionState {
  const report = given?.sinkOrigin && given.sinkOrigin !== sinkOrigin ? undefined : given;
  if (report?.status === 'verified') {
    return markTrue(ConditionType.SinkVerified, StatusReason.Verified);
  }
  // The SSRF guard refuses this address until the dispatchers' flags change: not pending.
  if (report?.status === 'refused' || report?.reason === 'ForbiddenAddress') {
    return markFalse(ConditionType.SinkVerified, report.reason, report.message);
  }
  return markUnknown(
    ConditionType.SinkVerified,
    StatusReason.VerificationPending,
    report?.message ??
      'waiting for the sink to consent to deliveries (webhook validation handshake)',
  );
}

export function buildSubscriptionStatus(
  input: StatusInput,
  problems: readonly ResourceProblem[],
  compiled: CompiledSubscription | undefined,
  topology: TopologyOutcome,
  sink: {
    verification: 'none' | 'handshake';
    /** scheme://host:port of the sink in the spec. */
    origin?: string;
    report?: SinkVerificationReport;
  },
  delivery: DeliveryStatus | undefined,
): Record<string, unknown> {
  const errors = errorsOf(problems);
  const consumer =
    errors.length > 0
      ? markFalse(ConditionType.ConsumerReady, errors[0]!.reason, describeProblems(errors))
      : topologyCondition(
          ConditionType.ConsumerReady,
          StatusReason.ConsumerFailed,
          topology,
          'ConsumerReady',
        );
  const verified =
    sink.verification === 'none'
      ? markTrue(ConditionType.SinkVerified, StatusReason.NotRequired)
      : buildSinkVerifiedCondition(sink.origin, sink.report);
  const states = [verified, consumer];
  return {
    observedGeneration: input.generation,
    conditions: conditionsWithReady(input, states),
    ...(compiled && {
      consumers: compiled.consumers.map((c) => ({
        eventType: c.eventType,
        stream: c.stream,
        durable: c.durable,
      })),
    }),
    ...(delivery && { delivery }),
  };
}
