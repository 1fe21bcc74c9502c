/** Compiling a Subscription: its EventTypes (same namespace only), filters, sink and delivery. */
import {
  CONFIG_FORMAT,
  type CompiledSubscription,
  type SealedSecret,
} from '../core/config/model.js';
import { compileSqlFilter, isFilterError } from '../core/filters/index.js';
import { Limits } from '../core/resources/schema-parts.js';
import { Defaults, Kind, type Filter, type Subscription } from '../core/resources/types.js';
import { consumerNameFor } from '../core/topology.js';
import {
  idOf,
  namespaceOf,
  ProblemReason,
  ResourceContext,
  sealRef,
  sealSigningSecretRef,
  type Env,
} from './compile-context.js';
import { compileOAuth2 } from './compile-oauth2.js';
import { startTimeOf } from './jetstream-config.js';

/** CESQL filters with their paths, at any depth of all/any/not. */
function findSqlFilters(f: Filter, path: string): { path: string; expression: string }[] {
  if ('sql' in f) return [{ path: `${path}.sql`, expression: f.sql }];
  if ('all' in f) return f.all.flatMap((g, i) => findSqlFilters(g, `${path}.all[${i}]`));
  if ('any' in f) return f.any.flatMap((g, i) => findSqlFilters(g, `${path}.any[${i}]`));
  if ('not' in f) return findSqlFilters(f.not, `${path}.not`);
  return [];
}

function compileSink(env: Env, ctx: ResourceContext, sink: Subscription['spec']['sink']) {
  const out: CompiledSubscription['sink'] = {
    uri: sink.uri,
    verification: sink.verification ?? Defaults.verification,
  };
  const auth = sink.auth;
  if (!auth) return out;
  const base = 'spec.sink.auth';
  out.auth = {
    ...(auth.apiKey && {
      apiKey: {
        header: auth.apiKey.header,
        value: sealRef(env, ctx, auth.apiKey.secretRef, `${base}.apiKey.secretRef`),
      },
    }),
    ...(auth.bearer && {
      bearer: { token: sealRef(env, ctx, auth.bearer.secretRef, `${base}.bearer.secretRef`) },
    }),
    ...(auth.oauth2 && { oauth2: compileOAuth2(env, ctx, auth.oauth2) }),
  };
  return out;
}

/**
 * The sealed signing secrets, in the order their signatures are sent: secretRef, then
 * secretRefs as listed. A reference named twice signs once. The schema already refuses an
 * empty `signing` and more than Limits.signingSecrets secrets; checked again here because
 * resources reach the compiler unvalidated in tests and tools.
 */
function compileSigningSecrets(
  env: Env,
  ctx: ResourceContext,
  signing: NonNullable<Subscription['spec']['delivery']>['signing'],
): SealedSecret[] {
  if (!signing) return [];
  const base = 'spec.delivery.signing';
  const refs = [
    ...(signing.secretRef ? [{ ref: signing.secretRef, path: `${base}.secretRef` }] : []),
    ...(signing.secretRefs ?? []).map((ref, i) => ({ ref, path: `${base}.secretRefs[${i}]` })),
  ];
  if (refs.length === 0) {
    ctx.fail(
      ProblemReason.InvalidValue,
      'signing names no secret: set secretRef or secretRefs, or leave signing out to send unsigned',
      base,
    );
    return [];
  }
  if (refs.length > Limits.signingSecrets) {
    ctx.fail(
      ProblemReason.InvalidValue,
      `signing names ${refs.length} secrets; at most ${Limits.signingSecrets} (secretRef and secretRefs together)`,
      base,
    );
    return [];
  }
  const seen = new Set<string>();
  const sealed: SealedSecret[] = [];
  for (const { ref, path } of refs) {
    const id = `${ref.name}\0${ref.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    sealed.push(sealSigningSecretRef(env, ctx, ref, path));
  }
  return sealed;
}

type Retry = NonNullable<NonNullable<Subscription['spec']['delivery']>['retry']>;

/**
 * initialDelay and maxDelay, with maxDelay ≥ initialDelay: when only one is written, the
 * defaulted other gives way (as a defaulted duplicateWindow does to a short maxAge); when both
 * are written and disagree, maxDelay is refused.
 */
function compileRetryDelays(ctx: ResourceContext, retry: Retry) {
  const base = 'spec.delivery.retry';
  let initialDelayMs = ctx.durationMs(retry.initialDelay, 'initialDelay', `${base}.initialDelay`);
  let maxDelayMs = ctx.durationMs(retry.maxDelay, 'maxDelay', `${base}.maxDelay`);
  // 0 = refused already (unparsable or zero): one problem per mistake.
  if (initialDelayMs > 0 && maxDelayMs > 0 && initialDelayMs > maxDelayMs) {
    if (retry.maxDelay === undefined) maxDelayMs = initialDelayMs;
    else if (retry.initialDelay === undefined) initialDelayMs = maxDelayMs;
    else {
      ctx.fail(
        ProblemReason.InvalidValue,
        `maxDelay (${retry.maxDelay}) must not be less than initialDelay (${retry.initialDelay})`,
        `${base}.maxDelay`,
      );
    }
  }
  return { initialDelayMs, maxDelayMs };
}

export function compileSubscription(env: Env, r: Subscription): CompiledSubscription | undefined {
  const namespace = namespaceOf(r);
  const name = r.metadata.name;
  const ctx = new ResourceContext(Kind.Subscription, namespace, name, env.problems);
  const { spec } = r;
  const eventTypes = spec.eventTypes.map((et, i) => {
    const found = env.eventTypes.get(idOf(namespace, et));
    if (!found) {
      // Namespace is the tenant boundary: only EventTypes of the Subscription's own namespace.
      ctx.fail(
        ProblemReason.EventTypeNotFound,
        `EventType "${namespace}/${et}" does not exist or has problems of its own`,
        `spec.eventTypes[${i}]`,
      );
    }
    return found;
  });
  const filters = spec.filters ?? [];
  // CESQL is checked now, with the dispatcher's own compiler, so an expression that does not
  // parse (or can never match) shows on the Subscription instead of stalling its events.
  for (const { path, expression } of filters.flatMap((f, i) =>
    findSqlFilters(f, `spec.filters[${i}]`),
  )) {
    try {
      compileSqlFilter(expression, path);
    } catch (err) {
      if (!isFilterError(err)) throw err;
      ctx.fail(ProblemReason.InvalidFilter, err.detail, path);
    }
  }
  const startFrom = spec.startFrom ?? Defaults.startFrom;
  // A real RFC 3339 time (core/cloudevents isTimestamp): 2024-02-30 is refused, not rolled
  // over into March as `new Date` would.
  if (startFrom !== 'new' && startFrom !== 'earliest' && startTimeOf(startFrom) === undefined) {
    ctx.fail(
      ProblemReason.InvalidValue,
      `startFrom must be "new", "earliest" or a real RFC 3339 time, not "${startFrom}"`,
      'spec.startFrom',
    );
  }
  const delivery = spec.delivery ?? {};
  const retry = delivery.retry ?? {};
  const sink = compileSink(env, ctx, spec.sink);
  const signingSecrets = compileSigningSecrets(env, ctx, delivery.signing);
  const ordering = delivery.ordering ?? Defaults.ordering;
  const compiled: CompiledSubscription = {
    format: CONFIG_FORMAT,
    namespace,
    name,
    generation: r.metadata.generation ?? 1,
    eventTypes: [...spec.eventTypes],
    // Filters pass through unchanged (sql as its text): the dispatcher compiles them again.
    filters,
    sink,
    delivery: {
      mode: delivery.mode ?? Defaults.deliveryMode,
      signingSecrets,
      timeoutMs: ctx.durationMs(delivery.timeout, 'timeout', 'spec.delivery.timeout'),
      retry: {
        maxAttempts: retry.maxAttempts ?? Defaults.maxAttempts,
        backoff: retry.backoff ?? Defaults.backoff,
        ...compileRetryDelays(ctx, retry),
        retryAfterMaxMs: ctx.durationMs(
          retry.retryAfterMax,
          'retryAfterMax',
          'spec.delivery.retry.retryAfterMax',
        ),
      },
      ...(delivery.deadLetter && { deadLetterSinkUri: delivery.deadLetter.sink.uri }),
      // Ordered delivery means one event in flight, whatever maxInFlight says.
      maxInFlight: ordering === 'ordered' ? 1 : (delivery.maxInFlight ?? Defaults.maxInFlight),
      ...(delivery.rateLimit && { rateLimit: { ...delivery.rateLimit } }),
      ordering,
      autoPauseAfterMs: ctx.durationMs(
        delivery.autoPauseAfter,
        'autoPauseAfter',
        'spec.delivery.autoPauseAfter',
      ),
    },
    startFrom,
    paused: spec.paused ?? false,
    consumers: eventTypes.flatMap((et) =>
      et ? [{ eventType: et.name, stream: et.stream, durable: consumerNameFor(name) }] : [],
    ),
  };
  return ctx.failed ? undefined : compiled;
}
