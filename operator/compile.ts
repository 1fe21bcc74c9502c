/**
 * The pure half of the operator: custom resources (and the Secrets they reference) in, the
 * compiled config out, plus every problem found on the way. No I/O, no clock, no randomness:
 * the same input gives byte-identical JSON, so re-applying unchanged resources writes nothing.
 * A resource with an error-level problem is left out of the config; the rest still compiles.
 */
import { createHash } from 'node:crypto';
import {
  CONFIG_FORMAT,
  type CompiledConfig,
  type CompiledEventType,
  type CompiledProducer,
} from '../core/config/model.js';
import { hashApiKey } from '../core/config/seal.js';
import { createSchemaAjv } from '../core/json-schema.js';
import {
  Defaults,
  Kind,
  type EventType,
  type HeraldResource,
  type Producer,
  type Secret,
} from '../core/resources/types.js';
import { streamNameFor, subjectFor } from '../core/topology.js';
import {
  idOf,
  namespaceOf,
  ProblemReason,
  readSecret,
  ResourceContext,
  sealSigningSecretRef,
  type CompileOptions,
  type Env,
  type ResourceProblem,
} from './compile-context.js';
import { compileSubscription } from './compile-subscription.js';

export {
  namespaceOf,
  ProblemReason,
  Severity,
  type CompileOptions,
  type ResourceProblem,
} from './compile-context.js';
export { buildConsumerConfig, buildStreamConfig } from './jetstream-config.js';

/**
 * Which EventType owns each CloudEvents type, by typeOwnerKey(namespace, type) → EventType
 * name. Opaque: take it from a CompileResult (or typeOwnersOf a config) and hand it back in.
 */
export type TypeOwners = ReadonlyMap<string, string>;

export const typeOwnerKey = (namespace: string, type: string): string => `${namespace}\0${type}`;

/** The owners a compiled config implies (to seed ownership from the config in KV). */
export function typeOwnersOf(config: Pick<CompiledConfig, 'eventTypes'>): Map<string, string> {
  return new Map(config.eventTypes.map((et) => [typeOwnerKey(et.namespace, et.type), et.name]));
}

export interface CompileInput {
  resources: HeraldResource[];
  secrets: Secret[];
  /**
   * Who owned each type at the previous compile (its result's `typeOwners`). When several
   * EventTypes of a namespace claim one type, the previous owner keeps it, so adding an
   * EventType that sorts first can never take a live type away; name order only decides
   * among newcomers. Absent: name order decides.
   */
  previousTypeOwners?: TypeOwners;
}

export interface CompileResult {
  config: CompiledConfig;
  problems: ResourceProblem[];
  /** The owner of every claimed type (valid or not): pass it back as `previousTypeOwners`. */
  typeOwners: Map<string, string>;
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** sha256 (hex) of the canonical schema; empty when there is no schema (any data). */
export function digestSchema(schema: Record<string, unknown> | undefined): string {
  return schema === undefined
    ? ''
    : createHash('sha256').update(canonicalJson(schema)).digest('hex');
}

function checkSchema(env: Env, ctx: ResourceContext, schema: Record<string, unknown>): void {
  // Compiled as the broker compiles it (same ajv options, top-level $id dropped), so a schema
  // accepted here is one the broker can use. A long-lived operator remembers each verdict by
  // digest and drops the compiled schema: ajv would otherwise keep every version it saw.
  const digest = env.schemaVerdicts ? digestSchema(schema) : '';
  let detail = env.schemaVerdicts?.get(digest);
  if (detail === undefined) {
    const { $id: _id, ...withoutId } = schema;
    try {
      env.ajv.compile(withoutId);
      detail = null;
      if (env.schemaVerdicts) env.ajv.removeSchema(withoutId);
    } catch (err) {
      detail = err instanceof Error ? err.message : String(err);
    }
    env.schemaVerdicts?.set(digest, detail);
  }
  if (detail !== null) {
    ctx.fail(ProblemReason.InvalidSchema, `spec.schema does not compile: ${detail}`, 'spec.schema');
  }
}

/** Compiles one EventType; `typeOwner` says which EventType owns each (namespace, type). */
export function compileEventType(
  env: Env,
  r: EventType,
  typeOwner: Map<string, string>,
): CompiledEventType | undefined {
  const namespace = namespaceOf(r);
  const name = r.metadata.name;
  const ctx = new ResourceContext(Kind.EventType, namespace, name, env.problems);
  const spec = r.spec;
  const owner = typeOwner.get(typeOwnerKey(namespace, spec.type));
  if (owner !== name) {
    ctx.fail(
      ProblemReason.DuplicateType,
      `type "${spec.type}" is already registered by EventType "${namespace}/${owner}"`,
      'spec.type',
    );
  }
  if (spec.schema !== undefined) checkSchema(env, ctx, spec.schema);
  const retention = spec.retention ?? {};
  const maxAgeMs = ctx.durationMs(retention.maxAge, 'retentionMaxAge', 'spec.retention.maxAge');
  let duplicateWindowMs = ctx.durationMs(
    spec.duplicateWindow,
    'duplicateWindow',
    'spec.duplicateWindow',
  );
  // JetStream refuses a duplicate window longer than max_age (0 = no age limit).
  if (maxAgeMs > 0 && duplicateWindowMs > maxAgeMs) {
    if (spec.duplicateWindow === undefined) duplicateWindowMs = maxAgeMs;
    else {
      ctx.fail(
        ProblemReason.InvalidValue,
        `duplicateWindow (${spec.duplicateWindow}) must not exceed retention.maxAge (${retention.maxAge ?? Defaults.retentionMaxAge})`,
        'spec.duplicateWindow',
      );
    }
  }
  const maxBytes = ctx.bytes(retention.maxBytes, 'spec.retention.maxBytes');
  if (ctx.failed) return undefined;
  return {
    format: CONFIG_FORMAT,
    namespace,
    name,
    generation: r.metadata.generation ?? 1,
    type: spec.type,
    ...(spec.description !== undefined && { description: spec.description }),
    ...(spec.schema !== undefined && { schema: spec.schema }),
    schemaDigest: digestSchema(spec.schema),
    dataContentType: spec.dataContentType ?? Defaults.dataContentType,
    deprecated: spec.deprecated ?? false,
    stream: streamNameFor(namespace, name),
    subject: subjectFor(namespace, name),
    retention: {
      maxAgeMs,
      maxBytes,
      replicas: retention.replicas ?? Defaults.replicas,
      storage: retention.storage ?? Defaults.storage,
    },
    duplicateWindowMs,
    deletionPolicy: spec.deletionPolicy ?? Defaults.deletionPolicy,
  };
}

/** Compiles one Producer against the EventTypes and API key owners in `env`. */
export function compileProducer(env: Env, r: Producer): CompiledProducer | undefined {
  const namespace = namespaceOf(r);
  const ctx = new ResourceContext(Kind.Producer, namespace, r.metadata.name, env.problems);
  const { spec } = r;
  spec.eventTypes.forEach((et, i) => {
    if (env.eventTypes.has(idOf(namespace, et))) return;
    ctx.warn(
      ProblemReason.EventTypeNotFound,
      `EventType "${namespace}/${et}" does not exist or has problems of its own: this producer cannot publish it until it does`,
      `spec.eventTypes[${i}]`,
    );
  });
  (spec.sources ?? []).forEach((pattern, i) => {
    // `https://acme.example*` also matches https://acme.example.evil.com: legal, rarely meant.
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*\*$/i.test(pattern)) return;
    ctx.warn(
      ProblemReason.InvalidValue,
      `source pattern "${pattern}" matches any host that begins the same way; end it with "/*" to stay on one host`,
      `spec.sources[${i}]`,
    );
  });
  const apiKeyHashes = (spec.auth.apiKeys ?? []).map((k, i) => {
    const path = `spec.auth.apiKeys[${i}].secretRef`;
    const key = readSecret(env, ctx, k.secretRef, path);
    if (!key) return '';
    const hash = hashApiKey(key);
    // A key identifies one Producer: the first by namespace/name (valid or not) keeps it.
    const id = idOf(namespace, r.metadata.name);
    const owner = env.apiKeyOwners.get(hash);
    if (owner === undefined) env.apiKeyOwners.set(hash, id);
    else if (owner !== id) {
      // Another tenant's Producer is not named: namespaces are the tenant boundary.
      const who = owner.startsWith(`${namespace}/`)
        ? `Producer "${owner}"`
        : 'a Producer in another namespace';
      ctx.fail(
        ProblemReason.DuplicateCredential,
        `the API key in Secret "${namespace}/${k.secretRef.name}" key "${k.secretRef.key}" is already used by ${who}`,
        path,
      );
    }
    return hash;
  });
  const hmac = spec.auth.hmac;
  const hmacSecret =
    hmac && sealSigningSecretRef(env, ctx, hmac.secretRef, 'spec.auth.hmac.secretRef');
  if (ctx.failed) return undefined;
  const { rateLimit } = spec;
  return {
    format: CONFIG_FORMAT,
    namespace,
    name: r.metadata.name,
    generation: r.metadata.generation ?? 1,
    ...(spec.displayName !== undefined && { displayName: spec.displayName }),
    eventTypes: [...spec.eventTypes],
    sources: [...(spec.sources ?? [])],
    apiKeyHashes: [...new Set(apiKeyHashes)],
    ...(hmacSecret && { hmacSecret }),
    ...(spec.auth.jwt && { jwt: { ...spec.auth.jwt } }),
    ...(rateLimit && {
      rateLimit: {
        eventsPerSecond: rateLimit.eventsPerSecond,
        // Default burst: one second's worth of events.
        burst: rateLimit.burst ?? Math.max(1, Math.ceil(rateLimit.eventsPerSecond)),
      },
    }),
  };
}

// Code-point order, not locale order: the output must not depend on the machine.
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byNamespaceAndName = (a: HeraldResource, b: HeraldResource): number =>
  compareText(namespaceOf(a), namespaceOf(b)) || compareText(a.metadata.name, b.metadata.name);

/** Keeps the first resource per kind/namespace/name (by input order); reports the rest. */
function dropDuplicateNames(
  resources: HeraldResource[],
  problems: ResourceProblem[],
): HeraldResource[] {
  const seen = new Set<string>();
  return resources.filter((r) => {
    const key = `${r.kind}/${idOf(namespaceOf(r), r.metadata.name)}`;
    if (!seen.has(key)) return seen.add(key);
    new ResourceContext(r.kind, namespaceOf(r), r.metadata.name, problems).fail(
      ProblemReason.DuplicateName,
      `${r.kind} "${idOf(namespaceOf(r), r.metadata.name)}" is defined more than once; the first definition is used`,
      'metadata.name',
    );
    return false;
  });
}

/**
 * Compiles validated resources into the config brokers and dispatchers read. EventTypes
 * first (Producers and Subscriptions refer to them), each kind in namespace/name order.
 */
export function compileResources(input: CompileInput, options: CompileOptions): CompileResult {
  const problems: ResourceProblem[] = [];
  const resources = dropDuplicateNames(input.resources, problems).sort(byNamespaceAndName);
  const env: Env = {
    options,
    problems,
    secrets: new Map(input.secrets.map((s) => [idOf(namespaceOf(s), s.metadata.name), s])),
    eventTypes: new Map(),
    ajv: createSchemaAjv(),
    apiKeyOwners: new Map(),
  };
  const ofKind = <K extends HeraldResource['kind']>(kind: K) =>
    resources.filter((r): r is Extract<HeraldResource, { kind: K }> => r.kind === kind);

  // A type claimed by several EventTypes of a namespace goes to the one that owned it at the
  // previous compile, if it still claims it; else to the first by name. Valid or not: the
  // owner keeps it while broken, so ownership does not flip when one is fixed or broken.
  const claimants = new Map<string, string[]>();
  for (const r of ofKind(Kind.EventType)) {
    const key = typeOwnerKey(namespaceOf(r), r.spec.type);
    claimants.set(key, [...(claimants.get(key) ?? []), r.metadata.name]);
  }
  const typeOwner = new Map<string, string>();
  for (const [key, names] of claimants) {
    const previous = input.previousTypeOwners?.get(key);
    typeOwner.set(key, previous !== undefined && names.includes(previous) ? previous : names[0]!);
  }
  const config: CompiledConfig = { eventTypes: [], producers: [], subscriptions: [] };
  for (const r of ofKind(Kind.EventType)) {
    const et = compileEventType(env, r, typeOwner);
    if (!et) continue;
    config.eventTypes.push(et);
    env.eventTypes.set(idOf(et.namespace, et.name), et);
  }
  for (const r of ofKind(Kind.Producer)) {
    const p = compileProducer(env, r);
    if (p) config.producers.push(p);
  }
  for (const r of ofKind(Kind.Subscription)) {
    const s = compileSubscription(env, r);
    if (s) config.subscriptions.push(s);
  }
  return { config, problems, typeOwners: typeOwner };
}
