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

/**
 * Token-request parameters Herald sets itself (RFC 6749 §4.4.2, §2.3.1; RFC 7523 §2.2): a
 * `sink.auth.oauth2.parameters` entry may not replace them. Compared as written (parameter
 * names are case-sensitive).
 */
export const OAUTH2_RESERVED_PARAMETERS = [
  'grant_type',
  'client_id',
  'client_secret',
  'scope',
  'client_assertion',
  'client_assertion_type',
] as const;

/** On Subscription `spec.sink.auth.oauth2.parameters`. O(1): one key lookup per name. */
export const OAUTH2_PARAMETERS_RULE: CelRule = {
  rule: `!(${OAUTH2_RESERVED_PARAMETERS.map((n) => `'${n}' in self`).join(' || ')})`,
  message: `must not set ${OAUTH2_RESERVED_PARAMETERS.join(', ')}: Herald sets those itself (list scopes under scopes)`,
  holds: (self) =>
    self === null ||
    typeof self !== 'object' ||
    !OAUTH2_RESERVED_PARAMETERS.some((n) => Object.hasOwn(self, n)),
};

const usesPrivateKeyJwt = (self: unknown): boolean =>
  field(self, 'clientAuthentication') === 'privateKeyJwt';
const PRIVATE_KEY_JWT =
  "(has(self.clientAuthentication) && self.clientAuthentication == 'privateKeyJwt')";

/** On Subscription `spec.sink.auth.oauth2`: a client secret for basic and post only. */
export const OAUTH2_CLIENT_SECRET_RULE: CelRule = {
  rule: `${PRIVATE_KEY_JWT} != has(self.clientSecretRef)`,
  message:
    'clientSecretRef is required with clientAuthentication basic (the default) or post, and not used with privateKeyJwt',
  fieldPath: '.clientSecretRef',
  holds: (self) => usesPrivateKeyJwt(self) !== (field(self, 'clientSecretRef') !== undefined),
};

/** On Subscription `spec.sink.auth.oauth2`: a private key for privateKeyJwt only. */
export const OAUTH2_PRIVATE_KEY_RULE: CelRule = {
  rule: `${PRIVATE_KEY_JWT} == has(self.privateKey)`,
  message: 'privateKey is required with clientAuthentication privateKeyJwt, and not used otherwise',
  fieldPath: '.privateKey',
  holds: (self) => usesPrivateKeyJwt(self) === (field(self, 'privateKey') !== undefined),
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
  OAUTH2_PARAMETERS_RULE,
  OAUTH2_CLIENT_SECRET_RULE,
  OAUTH2_PRIVATE_KEY_RULE,
];

/** The CRD form of a rule (the twin stays in TypeScript). */
export function toCelValidation(rule: CelRule): CelValidation {
  const { rule: text, message, fieldPath } = rule;
  return fieldPath === undefined ? { rule: text, message } : { rule: text, message, fieldPath };
}

export function findCelRule(text: string): CelRule | undefined {
  return RULES.find((r) => r.rule === text);
}
