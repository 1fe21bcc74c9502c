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
import { buildNatsConnectOptions, type NatsAuth } from '../core/nats-connect-options.js';
import { sendQueuedWrites } from '../core/nats-write-batch.js';
import { followConnection } from '../core/nats-connection-status.js';
import {
  registerReplicaGauge,
  ReplicaMembership,
  ReplicaRole,
} from '../core/replica-membership.js';
import {
  createDeliveryState,
  openDeliveryStateBucket,
  toTime,
  updateDeliveryState,
  watchDeliveryStates,
} from '../core/delivery-state.js';
import { ConfigKeyPrefix } from '../core/topology.js';
import { AttemptsLog } from './attempts-log.js';
import { startDeadLetterLoops } from './dead-letter-loops.js';
import type { DeliveryHooks } from './delivery-hooks.js';
import { SinkClients } from './deliver.js';
import {
  checkWebhookOrigin,
  DEFAULT_WEBHOOK_ORIGIN,
  HandshakeHook,
  type VerificationState,
} from './handshake.js';
import { EndpointHealth } from './health.js';
import { createLedgerMetrics, DeliveryLedger } from './ledger.js';
import { openLedgerStore } from './ledger-client.js';
import { createDispatcherMetrics } from './metrics.js';
import { RateLimitHook } from './rate-limit.js';
import { createSinkAddressPolicy } from './ssrf-policy.js';
import { SubscriptionSupervisor } from './supervisor.js';
import { heraldUserAgent } from './version.js';

export interface DispatcherOptions {
  natsUrl: string;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
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
  /**
   * Whether to record every attempt in the HERALD_ATTEMPTS stream (`herald attempts` reads it).
   * Default true; off saves one unawaited publish per attempt (docs/delivery.md "Attempt log").
   */
  attemptsLog?: boolean;
  /**
   * `WebHook-Request-Origin` of the validation handshake (sink.verification: handshake): a DNS
   * name identifying this installation, the same on every replica. Default `herald`.
   */
  webhookOrigin?: string;
  /** Told whenever a handshake subscription's sink verification changes (SinkVerified). */
  onVerification?: (id: string, state: VerificationState) => void;
  /** Backoff between unanswered validation requests; default 1 s doubling to 2 min. */
  handshakeRetry?: { initialMs: number; maxMs: number };
  /**
   * How long a replica's announcement in KV `herald-replicas` lives (a crashed replica keeps
   * its share of the rate limits this long); used only when this dispatcher creates the
   * bucket. Default 15 s.
   */
  replicaTtlMs?: number;
}

export interface RunningDispatcher {
  /** Stops consuming, lets in-flight deliveries finish (buffered ones are nak'd), drains NATS. */
  stop(): Promise<void>;
  /** The dispatcher's metrics, for the CLI's /metrics endpoint. */
  readonly registry: Registry;
  /** As given; see DispatcherOptions.allowPrivateSinks. */
  readonly allowPrivateSinks: boolean;
  /** A handshake subscription's sink verification here (`ns/name`); undefined before it starts. */
  verificationOf(id: string): VerificationState | undefined;
  /** Connected to NATS now (false while nats.js reconnects): the CLI's /readyz. */
  isConnected(): boolean;
  /** The live dispatcher replicas the delivery rate limits are divided by. */
  readonly membership: ReplicaMembership;
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
  const webhookOrigin = checkWebhookOrigin(options.webhookOrigin ?? DEFAULT_WEBHOOK_ORIGIN);
  const nc = await connect({
    servers: options.natsUrl,
    ...buildNatsConnectOptions(options.natsAuth),
    name: 'herald-dispatcher',
    maxReconnectAttempts: -1,
    // nats.js otherwise builds an Error per request for async stack traces: measured ~20 µs of
    // CPU per delivery (consume, ack, ledger get and put).
    noAsyncTraces: true,
  });
  // From the start: status events are not replayed, and starting can take a while.
  let natsConnected = true;
  void followConnection(nc, logger, (connected) => (natsConnected = connected));
  let membership: ReplicaMembership | undefined;
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
    const attemptsLog =
      options.attemptsLog === false ? undefined : new AttemptsLog({ nc, metrics, logger });
    const stateKv = await openDeliveryStateBucket(js);
    // Each verification change goes to the subscription's delivery state, where the operator
    // reads it for the SinkVerified condition.
    const recordVerification = (id: string, state: VerificationState): void => {
      options.onVerification?.(id, state);
      const [namespace = '', name = ''] = id.split('/');
      const generation = watch.cache.findSubscription(namespace, name)?.generation ?? 1;
      const now = Date.now();
      void updateDeliveryState(stateKv, namespace, name, (current) => ({
        ...(current ?? createDeliveryState(namespace, name, generation, now)),
        sinkVerification: {
          status: state.status,
          reason: state.reason,
          message: state.message,
          since: toTime(state.since),
          sinkOrigin: state.sinkOrigin,
        },
        updatedAt: toTime(now),
      })).catch((err: unknown) =>
        logger.warn({ err, subscription: id }, 'cannot record the sink verification'),
      );
    };
    // The handshake first: no token is spent on a sink that has not consented.
    const handshake = new HandshakeHook({
      sinks,
      origin: webhookOrigin,
      logger,
      onVerification: recordVerification,
      ...(options.handshakeRetry && { retry: options.handshakeRetry }),
    });
    const rateLimit = new RateLimitHook({ capOf: (sub) => handshake.grantedRateOf(sub) });
    const replicas = new ReplicaMembership({
      js,
      role: ReplicaRole.Dispatcher,
      logger,
      ...(options.replicaTtlMs !== undefined && { ttlMs: options.replicaTtlMs }),
    });
    membership = replicas;
    replicas.on('change', (count) => rateLimit.setReplicaCount(count));
    registerReplicaGauge(metrics.registry, replicas);
    // Not awaited: deliveries never wait for it (alone, a replica applies the whole rate).
    void replicas.start();
    const hooks: DeliveryHooks[] = [handshake, rateLimit];
    if (attemptsLog) hooks.push(attemptsLog);
    // Endpoint health: records outcomes in KV, pauses on 410 and after autoPauseAfter of
    // failures; every replica watches the records, so a paused subscription runs nowhere.
    const states = await watchDeliveryStates(stateKv, (err) =>
      logger.error({ err }, 'delivery state watch error'),
    );
    const health = new EndpointHealth({
      kv: stateKv,
      view: states.view,
      cache: watch.cache,
      metrics,
      logger,
    });
    hooks.push(health);
    const supervisor = new SubscriptionSupervisor({
      js,
      cache: watch.cache,
      configKey: options.configKey,
      sinks,
      metrics,
      ledger,
      logger,
      userAgent: heraldUserAgent(),
      hooks,
      pauses: health,
    });
    const onChange = (change: ConfigChange): void => {
      if (change.prefix !== ConfigKeyPrefix.Subscription) return;
      const { namespace, name } = change;
      // Before the loops update: attempts waiting for the old sink's consent must let go.
      handshake.configChanged(
        `${namespace}/${name}`,
        watch.cache.findSubscription(namespace, name),
      );
      health.noteConfigChange(change);
      void supervisor.reconcile(change.namespace, change.name);
    };
    // Listen first, then sweep: a change landing in between is caught by one or the other.
    watch.cache.on('change', onChange);
    health.on('change', (namespace, name) => void supervisor.reconcile(namespace, name));
    await supervisor.reconcileAll();
    void health.removeOrphans();
    // Dead-letter sinks and redrives, on shared durables of HERALD_DLQ and HERALD_REDRIVE.
    const deadLetterLoops = startDeadLetterLoops({
      js,
      cache: watch.cache,
      configKey: options.configKey,
      userAgent: heraldUserAgent(),
      sinks,
      metrics,
      ledger,
      hooks,
      isPaused: (sub) => health.pausedReasonFor(sub) !== undefined,
      logger,
    });
    logger.info(
      {
        subscriptions: watch.cache.subscriptions.size,
        ledgerWindowMs: opened.windowMs,
        webhookOrigin,
        attemptsLog: attemptsLog !== undefined,
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
      isConnected: () => natsConnected && !nc.isClosed(),
      verificationOf: (id) => handshake.verificationOf(id),
      membership: replicas,
      stop() {
        stopped ??= (async () => {
          watch.cache.off('change', onChange);
          watch.stop();
          // Deleting the key hands this replica's share to the others at once.
          await replicas.stop();
          await Promise.all([supervisor.stop(), deadLetterLoops.stop()]);
          sendQueuedWrites(); // the last acks and records go out before anything closes
          await health.close();
          states.stop();
          handshake.close();
          rateLimit.close();
          await attemptsLog?.close();
          ledger.close();
          await sinks.close();
          await nc.drain().catch(() => nc.close());
          logger.info('dispatcher stopped');
        })();
        return stopped;
      },
    };
  } catch (err) {
    await membership?.stop(0);
    await nc.close().catch(() => undefined);
    throw err;
  }
}
