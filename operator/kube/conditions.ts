/**
 * Kubernetes-style conditions, Knative fashion: a resource's status is a set of named
 * conditions; `Ready` summarises the rest. Pure: the clock comes in, so tests can pin it.
 * lastTransitionTime moves only when a condition's status changes, and a status equal to the
 * one already written compares equal, so the operator writes status only when it changed.
 */
import type { Condition } from '../../core/resources/types.js';

export const ConditionType = {
  Ready: 'Ready',
  SchemaValid: 'SchemaValid',
  StreamReady: 'StreamReady',
  CredentialsReady: 'CredentialsReady',
  SinkVerified: 'SinkVerified',
  ConsumerReady: 'ConsumerReady',
  /** A Producer is in the config brokers read (herald-config). */
  ConfigReady: 'ConfigReady',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const ConditionStatus = { True: 'True', False: 'False', Unknown: 'Unknown' } as const;
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

/** A condition as the reconciler decides it, before times are attached. */
export interface ConditionState {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * The conditions to write: the decided states, in the given order, each keeping the previous
 * lastTransitionTime when its status did not change.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  desired: readonly ConditionState[],
  generation: number,
  now: Date,
): Condition[] {
  const before = new Map((previous ?? []).map((c) => [c.type, c]));
  return desired.map((d) => {
    const old = before.get(d.type);
    const lastTransitionTime =
      old && old.status === d.status ? old.lastTransitionTime : now.toISOString();
    return { ...d, lastTransitionTime, observedGeneration: generation };
  });
}

/** Ready from the other conditions: False if any is False, Unknown if any is Unknown, else True. */
export function summarizeReady(conditions: readonly ConditionState[]): ConditionState {
  const failing = conditions.find((c) => c.status === ConditionStatus.False);
  if (failing) {
    return {
      type: ConditionType.Ready,
      status: 'False',
      reason: failing.reason,
      message: failing.message,
    };
  }
  const unknown = conditions.find((c) => c.status === ConditionStatus.Unknown);
  if (unknown) {
    return {
      type: ConditionType.Ready,
      status: 'Unknown',
      reason: unknown.reason,
      message: unknown.message,
    };
  }
  return { type: ConditionType.Ready, status: 'True', reason: 'Ready', message: '' };
}

export const markTrue = (type: string, reason: string, message = ''): ConditionState => ({
  type,
  status: ConditionStatus.True,
  reason,
  message,
});
export const markFalse = (type: string, reason: string, message: string): ConditionState => ({
  type,
  status: ConditionStatus.False,
  reason,
  message,
});
export const markUnknown = (type: string, reason: string, message: string): ConditionState => ({
  type,
  status: ConditionStatus.Unknown,
  reason,
  message,
});

/** The Ready condition of a status, if any. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
