/**
 * Starts the two loops that serve dead letters for every subscription — delivery to
 * dead-letter sinks (dead-letter-sink.ts) and redrive (redrive.ts) — over one view of the
 * live config, so startDispatcher wires them with one call and stops them with one.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledSubscription } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import { createDeadLetterMetrics } from './dead-letter-metrics.js';
import { startDeadLetterSinkLoop } from './dead-letter-sink.js';
import type { DeliveryHooks } from './delivery-hooks.js';
import type { SinkClients } from './deliver.js';
import type { DeliveryLedger } from './ledger.js';
import type { DispatcherMetrics } from './metrics.js';
import { PreparedSubscriptions } from './prepared-subscriptions.js';
import { startRedriveLoop } from './redrive.js';

export interface DeadLetterLoopsOptions {
  js: JetStreamClient;
  cache: ConfigCache;
  configKey: Buffer;
  userAgent: string;
  sinks: SinkClients;
  metrics: DispatcherMetrics;
  ledger?: DeliveryLedger;
  /** The supervisor's delivery hooks: redrives go through them like any delivery. */
  hooks?: readonly DeliveryHooks[];
  /** A pause beyond `spec.paused` (endpoint health): redrives for it are dropped. */
  isPaused?: (sub: CompiledSubscription) => boolean;
  logger: Logger;
  random?: () => number;
}

export interface DeadLetterLoops {
  /** Stops both loops; requests in flight finish first. */
  stop(): Promise<void>;
}

export function startDeadLetterLoops(options: DeadLetterLoopsOptions): DeadLetterLoops {
  const subscriptions = new PreparedSubscriptions({
    cache: options.cache,
    configKey: options.configKey,
    userAgent: options.userAgent,
    ...(options.isPaused ? { isPaused: options.isPaused } : {}),
  });
  const deadLetterMetrics = createDeadLetterMetrics(options.metrics.registry);
  const common = {
    js: options.js,
    subscriptions,
    sinks: options.sinks,
    logger: options.logger,
    ...(options.random ? { random: options.random } : {}),
  };
  const sink = startDeadLetterSinkLoop({ ...common, metrics: deadLetterMetrics });
  const redrive = startRedriveLoop({
    ...common,
    metrics: options.metrics,
    deadLetterMetrics,
    ...(options.ledger ? { ledger: options.ledger } : {}),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
  return {
    stop: () => Promise.all([sink.stop(), redrive.stop()]).then(() => undefined),
  };
}
