/**
 * The dispatcher: watches the compiled config in KV and delivers every Subscription's events
 * from its JetStream consumers to its webhook (DESIGN.md §4 "Dispatcher → webhook").
 * Stateless: all progress is in JetStream, so any number of replicas can run, and killing one
 * at any instant loses nothing. Reads no flags or env vars: the CLI passes everything in.
 */
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import { openConfigBucket, watchConfig, type ConfigChange } from '../core/config/kv.js';
import type { Logger } from '../core/logging.js';
import { ConfigKeyPrefix } from '../core/topology.js';
import { SinkClients } from './deliver.js';
import { createLedgerMetrics, DeliveryLedger } from './ledger.js';
import { openLedgerStore } from './ledger-client.js';
import { createDispatcherMetrics } from './metrics.js';
import { createSinkAddressPolicy } from './ssrf-policy.js';
import { SubscriptionSupervisor } from './supervisor.js';
import { heraldUserAgent } from './version.js';

export interface DispatcherOptions {
  natsUrl: string;
  /** The installation's 32-byte config key, to unseal signing secrets and sink credentials. */
  configKey: Buffer;
  logger: Logger;
  /**
   * Whether sinks on loopback, private, link-local and CGNAT addresses may be called (default
   * false, the cluster default; `herald run` sets it). Metadata, multicast and reserved
   * addresses stay refused either way (docs/security.md).
   */
  allowPrivateSinks?: boolean;
  /** CIDRs always refused (the cluster's pod and service ranges), even with allowPrivateSinks. */
  blockedCidrs?: readonly string[];
  /** CIDRs, IPs or exact host names allowed even when private; the longer prefix wins. */
  allowedCidrs?: readonly string[];
  /**
   * Dedup window (TTL) of the delivery ledger bucket, used only when this dispatcher creates
   * the bucket (before the operator ran); an existing bucket keeps its own. Default 1 h.
   */
  ledgerWindowMs?: number;
}

export interface RunningDispatcher {
  /** Stops consuming, lets in-flight deliveries finish (buffered ones are nak'd), drains NATS. */
  stop(): Promise<void>;
  /** The dispatcher's metrics, for the CLI's /metrics endpoint. */
  readonly registry: Registry;
  /** As given; see DispatcherOptions.allowPrivateSinks. */
  readonly allowPrivateSinks: boolean;
}

export async function startDispatcher(options: DispatcherOptions): Promise<RunningDispatcher> {
  const { logger } = options;
  const allowPrivateSinks = options.allowPrivateSinks ?? false;
  // Built before connecting, so a bad CIDR fails the start instead of every delivery.
  const policy = createSinkAddressPolicy({
    allowPrivateSinks,
    blockedCidrs: options.blockedCidrs ?? [],
    allowedCidrs: options.allowedCidrs ?? [],
  });
  const nc = await connect({
    servers: options.natsUrl,
    name: 'herald-dispatcher',
    maxReconnectAttempts: -1,
    // nats.js otherwise builds an Error per request for async stack traces: measured ~20 µs of
    // CPU per delivery (consume, ack, ledger get and put).
    noAsyncTraces: true,
  });
  try {
    const js = jetstream(nc);
    const kv = await openConfigBucket(js);
    const watch = await watchConfig(kv, (err) => logger.error({ err }, 'config watch error'));
    const metrics = createDispatcherMetrics();
    const opened = await openLedgerStore({
      nc,
      js,
      ...(options.ledgerWindowMs !== undefined && { windowMs: options.ledgerWindowMs }),
    });
    const ledger = new DeliveryLedger(opened.store, createLedgerMetrics(metrics.registry));
    if (opened.windowMs === 0) {
      logger.warn('the delivery ledger bucket has no TTL: its entries never expire');
    }
    const sinks = new SinkClients({ policy, logger });
    const supervisor = new SubscriptionSupervisor({
      js,
      cache: watch.cache,
      configKey: options.configKey,
      sinks,
      metrics,
      ledger,
      logger,
      userAgent: heraldUserAgent(),
    });
    const onChange = (change: ConfigChange): void => {
      if (change.prefix !== ConfigKeyPrefix.Subscription) return;
      void supervisor.reconcile(change.namespace, change.name);
    };
    // Listen first, then sweep: a change landing in between is caught by one or the other.
    watch.cache.on('change', onChange);
    await supervisor.reconcileAll();
    logger.info(
      {
        subscriptions: watch.cache.subscriptions.size,
        ledgerWindowMs: opened.windowMs,
        ssrf: {
          allowPrivateSinks,
          blockedCidrs: options.blockedCidrs ?? [],
          allowedCidrs: options.allowedCidrs ?? [],
        },
      },
      'dispatcher started',
    );

    let stopped: Promise<void> | undefined;
    return {
      registry: metrics.registry,
      allowPrivateSinks,
      stop() {
        stopped ??= (async () => {
          watch.cache.off('change', onChange);
          watch.stop();
          await supervisor.stop();
          ledger.close();
          await sinks.close();
          await nc.drain().catch(() => nc.close());
          logger.info('dispatcher stopped');
        })();
        return stopped;
      },
    };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}
