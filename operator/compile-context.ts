/**
 * What the compile steps share: problem reasons, the per-resource problem collector, and
 * reading Secrets (values are trimmed, sealed or hashed, and never put into a message).
 */
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { CompiledEventType, SealedSecret } from '../core/config/model.js';
import { sealSecret } from '../core/config/seal.js';
import { parseByteQuantity, parseDuration } from '../core/duration.js';
import { isHeraldError } from '../core/errors.js';
import { checkSigningSecret } from '../core/signing.js';
import { describeRangeViolation, type DurationField } from '../core/resources/duration-ranges.js';
import { readSecretValue } from '../core/resources/validate.js';
import { Defaults, type Kind, type Secret, type SecretKeyRef } from '../core/resources/types.js';

/** Stable reasons, for logs, status conditions and docs (docs/operator.md lists them). */
export const ProblemReason = {
  SecretNotFound: 'SecretNotFound',
  EventTypeNotFound: 'EventTypeNotFound',
  DuplicateType: 'DuplicateType',
  DuplicateName: 'DuplicateName',
  InvalidSchema: 'InvalidSchema',
  InvalidValue: 'InvalidValue',
  /** A dialect this version does not evaluate. None today: every dialect is evaluated. */
  UnsupportedFilter: 'UnsupportedFilter',
  /** A filter that cannot work: a `sql` expression that does not parse or can never match. */
  InvalidFilter: 'InvalidFilter',
  /** An API key another Producer already uses: a key must identify one Producer. */
  DuplicateCredential: 'DuplicateCredential',
} as const;
export type ProblemReason = (typeof ProblemReason)[keyof typeof ProblemReason];

/** `error`: the resource is left out of the config. `warning`: it is compiled anyway. */
export const Severity = { Error: 'error', Warning: 'warning' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

export interface ResourceProblem {
  kind: Kind;
  namespace: string;
  name: string;
  reason: ProblemReason;
  severity: Severity;
  /** The field at fault, e.g. `spec.auth.apiKeys[0].secretRef`. */
  path?: string;
  /** Names Secrets and keys, never their values. */
  message: string;
}

export interface CompileOptions {
  /** The installation's 32-byte key that seals secret material. */
  configKey: Buffer;
}

export const namespaceOf = (r: { metadata: { namespace?: string } }): string =>
  r.metadata.namespace || Defaults.namespace;

/** Collects the problems of one resource; any error marks it as left out. */
export class ResourceContext {
  failed = false;
  constructor(
    readonly kind: Kind,
    readonly namespace: string,
    readonly name: string,
    private readonly problems: ResourceProblem[],
  ) {}

  fail(reason: ProblemReason, message: string, path?: string): void {
    this.failed = true;
    this.report(reason, Severity.Error, message, path);
  }

  warn(reason: ProblemReason, message: string, path?: string): void {
    this.report(reason, Severity.Warning, message, path);
  }

  private report(reason: ProblemReason, severity: Severity, message: string, path?: string): void {
    const { kind, namespace, name } = this;
    this.problems.push({ kind, namespace, name, reason, severity, message, ...(path && { path }) });
  }

  /**
   * Milliseconds of a duration field (or its default); records InvalidValue when it does not
   * parse or is outside the field's range (core/resources/duration-ranges.ts).
   */
  durationMs(text: string | undefined, field: DurationField, path: string): number {
    return this.parse(() => {
      const ms = parseDuration(text ?? Defaults[field]);
      // Defaults are in range (a test checks): only a value written in the spec can be out.
      const violation = text === undefined ? undefined : describeRangeViolation(text, field);
      if (violation) this.fail(ProblemReason.InvalidValue, violation, path);
      return ms;
    }, path);
  }

  bytes(value: string | number | undefined, path: string): number {
    return value === undefined ? -1 : this.parse(() => parseByteQuantity(value), path);
  }

  private parse(fn: () => number, path: string): number {
    try {
      return fn();
    } catch (err) {
      if (!isHeraldError(err)) throw err;
      this.fail(ProblemReason.InvalidValue, err.message, path);
      return 0;
    }
  }
}

export interface Env {
  options: CompileOptions;
  problems: ResourceProblem[];
  secrets: Map<string, Secret>;
  /** Compiled EventTypes by `namespace/name`. */
  eventTypes: Map<string, CompiledEventType>;
  ajv: Ajv2020;
  /** API key hash → `namespace/name` of the first Producer (in compile order) declaring it. */
  apiKeyOwners: Map<string, string>;
  /** Schema digest → compile error (null = compiles), kept across compiles by a long-lived operator. */
  schemaVerdicts?: Map<string, string | null>;
}

export const idOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export function readSecret(
  env: Env,
  ctx: ResourceContext,
  ref: SecretKeyRef,
  path: string,
): string {
  const secret = env.secrets.get(idOf(ctx.namespace, ref.name));
  const value = secret ? readSecretValue(secret, ref.key)?.trim() : undefined;
  if (!value) {
    const why = !secret
      ? `Secret "${ctx.namespace}/${ref.name}" not found`
      : `Secret "${ctx.namespace}/${ref.name}" has no key "${ref.key}" (or it is empty)`;
    ctx.fail(ProblemReason.SecretNotFound, why, path);
    return '';
  }
  // Trimmed: a newline from `echo … | base64` would otherwise make the key unusable.
  return value;
}

export function sealRef(
  env: Env,
  ctx: ResourceContext,
  ref: SecretKeyRef,
  path: string,
): SealedSecret {
  const value = readSecret(env, ctx, ref, path);
  return value ? sealSecret(env.options.configKey, value) : '';
}

/**
 * Like sealRef, for a Standard Webhooks signing secret: it must be what docs/resources.md
 * promises, `whsec_` + strict base64 of 24–64 bytes, or the resource fails with InvalidValue
 * naming the Secret and key (never the value).
 */
export function sealSigningSecretRef(
  env: Env,
  ctx: ResourceContext,
  ref: SecretKeyRef,
  path: string,
): SealedSecret {
  const value = readSecret(env, ctx, ref, path);
  if (!value) return '';
  try {
    checkSigningSecret(value);
  } catch (err) {
    if (!isHeraldError(err)) throw err;
    ctx.fail(
      ProblemReason.InvalidValue,
      `Secret "${ctx.namespace}/${ref.name}" key "${ref.key}" is not a signing secret: ${err.message} (expected whsec_ + base64 of 24–64 bytes)`,
      path,
    );
    return '';
  }
  return sealSecret(env.options.configKey, value);
}
