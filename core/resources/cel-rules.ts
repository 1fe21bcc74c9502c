/**
 * The few rules OpenAPI cannot express, as CEL for the API server (`x-kubernetes-validations`)
 * and, next to each, a TypeScript twin. Herald's own validator does not evaluate CEL: it looks
 * each rule up here by its text and runs the twin, so `herald run` (file mode) refuses what
 * `kubectl apply` refuses. A rule without a twin fails validator construction, not silently.
 *
 * Rules stay O(1) (no iteration over lists or maps) so the API server's cost estimate is
 * never near its budget.
 */
import { Limits, ZERO_DURATION_PATTERN, type CelValidation } from './schema-parts.js';

export interface CelRule extends CelValidation {
  /** The twin: true when `self` (the node holding the rule) satisfies the rule. */
  holds(self: unknown): boolean;
}

function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** On Subscription `spec.delivery`: ordered delivery means one event in flight. */
export const ORDERED_DELIVERY_RULE: CelRule = {
  rule: "!has(self.ordering) || self.ordering != 'ordered' || !has(self.maxInFlight) || self.maxInFlight == 1",
  message: 'ordering "ordered" delivers one event at a time: set maxInFlight to 1 or leave it out',
  fieldPath: '.maxInFlight',
  holds: (self) => {
    const maxInFlight = field(self, 'maxInFlight');
    return field(self, 'ordering') !== 'ordered' || maxInFlight === undefined || maxInFlight === 1;
  },
};

/** On Subscription `spec`: dead-lettering to the sink that keeps failing helps nobody. */
export const DEAD_LETTER_SINK_RULE: CelRule = {
  rule: '!has(self.delivery) || !has(self.delivery.deadLetter) || self.delivery.deadLetter.sink.uri != self.sink.uri',
  message: 'the dead-letter sink must not be the subscription sink itself',
  fieldPath: '.delivery.deadLetter.sink.uri',
  holds: (self) => {
    const deadLetterUri = field(self, 'delivery', 'deadLetter', 'sink', 'uri');
    return deadLetterUri === undefined || deadLetterUri !== field(self, 'sink', 'uri');
  },
};

/**
 * On Subscription `spec.delivery.signing`: secretRef and secretRefs together name at most
 * Limits.signingSecrets secrets (secretRefs alone is capped by its maxItems). O(1): size().
 */
export const SIGNING_SECRETS_RULE: CelRule = {
  rule: `!has(self.secretRef) || !has(self.secretRefs) || size(self.secretRefs) < ${Limits.signingSecrets}`,
  message: `signing takes at most ${Limits.signingSecrets} secrets in all (secretRef and secretRefs together)`,
  fieldPath: '.secretRefs',
  holds: (self) => {
    const list = field(self, 'secretRefs');
    return (
      field(self, 'secretRef') === undefined ||
      !Array.isArray(list) ||
      list.length < Limits.signingSecrets
    );
  },
};

const ZERO_DURATION = new RegExp(ZERO_DURATION_PATTERN);

/**
 * On a duration field where 0s means nothing (duration-ranges.ts), e.g. `delivery.timeout`:
 * a zero there would fail every attempt at once. Only the zero, by its text: the API server's
 * CEL `duration()` is Go's, which has no `d` unit, so the operator checks the rest of the range.
 */
export const NONZERO_DURATION_RULE: CelRule = {
  rule: `!self.matches('${ZERO_DURATION_PATTERN}')`,
  message: 'must be more than 0, e.g. "10s"',
  holds: (self) => typeof self !== 'string' || !ZERO_DURATION.test(self),
};

const RULES: readonly CelRule[] = [
  ORDERED_DELIVERY_RULE,
  DEAD_LETTER_SINK_RULE,
  SIGNING_SECRETS_RULE,
  NONZERO_DURATION_RULE,
];

/** The CRD form of a rule (the twin stays in TypeScript). */
export function toCelValidation(rule: CelRule): CelValidation {
  const { rule: text, message, fieldPath } = rule;
  return fieldPath === undefined ? { rule: text, message } : { rule: text, message, fieldPath };
}

export function findCelRule(text: string): CelRule | undefined {
  return RULES.find((r) => r.rule === text);
}
