/**
 * JetStream per resource, for the Kubernetes mode, where each object is reconciled on its own
 * (file mode applies the whole config at once: jetstream-apply.ts). Each function returns
 * what it changed; JetStream refusals land in `failed`, anything else (NATS down) throws.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { CompiledEventType, CompiledSubscription } from '../core/config/model.js';
import {
  ensureTopology,
  TopologyApplier,
  type ApplyReport,
  type ApplyTopologyOptions,
} from './jetstream-apply.js';
import { buildConsumerConfig, buildStreamConfig } from './jetstream-config.js';

/** The system streams (HERALD_DLQ, HERALD_ATTEMPTS, …) and KV buckets. */
export async function ensureSystemTopology(
  jsm: JetStreamManager,
  options: Pick<
    ApplyTopologyOptions,
    'logger' | 'systemReplicas' | 'ledgerWindowMs' | 'attemptLog'
  > = {},
): Promise<ApplyReport> {
  return ensureTopology(jsm, { eventTypes: [], producers: [], subscriptions: [] }, options);
}

/** One EventType's stream: created, or updated where it drifted. */
export async function ensureEventTypeStream(
  jsm: JetStreamManager,
  et: CompiledEventType,
  options: Pick<ApplyTopologyOptions, 'logger'> = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  await applier.ensureStream(buildStreamConfig(et));
  return applier.report;
}

/**
 * One Subscription's consumers: each wanted one created or updated; its consumers on the
 * `previousStreams` it no longer reads (an EventType dropped from its list) deleted.
 */
export async function ensureSubscriptionConsumers(
  jsm: JetStreamManager,
  sub: CompiledSubscription,
  options: Pick<ApplyTopologyOptions, 'logger'> & { previousStreams?: readonly string[] } = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  for (const c of sub.consumers)
    await applier.ensureConsumer(c.stream, buildConsumerConfig(sub, c));
  const wanted = new Set(sub.consumers.map((c) => c.stream));
  const dropped = (options.previousStreams ?? []).filter((s) => !wanted.has(s));
  await applier.removeOwnedConsumers(sub.namespace, sub.name, dropped);
  return applier.report;
}

/**
 * Deletes the consumers a Subscription owns (checked by description) on `streams`;
 * not-found is success.
 */
export async function removeSubscriptionConsumers(
  jsm: JetStreamManager,
  namespace: string,
  name: string,
  streams: Iterable<string>,
  options: Pick<ApplyTopologyOptions, 'logger'> = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  await applier.removeOwnedConsumers(namespace, name, streams);
  return applier.report;
}

/** Deletes one EventType's stream (and with it its consumers); not-found is success. */
export async function removeEventTypeStream(
  jsm: JetStreamManager,
  stream: string,
  options: Pick<ApplyTopologyOptions, 'logger'> = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  await applier.removeStream(stream);
  return applier.report;
}
