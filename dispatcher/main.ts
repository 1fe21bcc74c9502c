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
import { createDispatcherMetrics } from './metrics.js';
import { SubscriptionSupervisor } from './supervisor.js';
import { heraldUserAgent } from './version.js';

export interface DispatcherOptions {
  natsUrl: string;
  /** The installation's 32-byte config key, to unseal signing secrets and sink credentials. */
  configKey: Buffer;
  logger: Logger;
  /**
   * Whether sinks on loopback/private/link-local/cluster addresses may be called. Accepted and
   * stored, but NOT enforced yet: the SSRF guard comes in a later issue, and until then every
   * sink is called whatever this says.
   */
  allowPrivateSinks?: boolean;
}

export interface RunningDispatcher {
  /** Stops consuming, lets in-flight deliveries finish (buffered ones are nak'd), drains NATS. */
  stop(): Promise<void>;
  /** The dispatcher's metrics, for the CLI's /metrics endpoint. */
  readonly registry: Registry;
  /** As given; see DispatcherOptions.allowPrivateSinks (not enforced yet). */
  readonly allowPrivateSinks: boolean;
}

export async function startDispatcher(options: DispatcherOptions): Promise<RunningDispatcher> {
  const { logger } = options;
  const allowPrivateSinks = options.allowPrivateSinks ?? false;
  if (!allowPrivateSinks) {
    logger.warn('the SSRF guard is not implemented yet: sinks on private networks are NOT refused');
  }
  const nc = await connect({
    servers: options.natsUrl,
    name: 'herald-dispatcher',
    maxReconnectAttempts: -1,
  });
  try {
    const js = jetstream(nc);
    const kv = await openConfigBucket(js);
    const watch = await watchConfig(kv, (err) => logger.error({ err }, 'config watch error'));
    const metrics = createDispatcherMetrics();
    const sinks = new SinkClients();
    const supervisor = new SubscriptionSupervisor({
      js,
      cache: watch.cache,
      configKey: options.configKey,
      sinks,
      metrics,
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
    logger.info({ subscriptions: watch.cache.subscriptions.size }, 'dispatcher started');

    let stopped: Promise<void> | undefined;
    return {
      registry: metrics.registry,
      allowPrivateSinks,
      stop() {
        stopped ??= (async () => {
          watch.cache.off('change', onChange);
          watch.stop();
          await supervisor.stop();
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
