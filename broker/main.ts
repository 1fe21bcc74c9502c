/**
 * Wires the broker: NATS connection, the live config from KV, the ingest pipeline, the
 * HTTP server and (with `grpcPort`) the gRPC server. Reads no env vars or flags — the CLI passes everything in.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  openConfigBucket,
  watchConfig,
  type ConfigCache,
  type ConfigWatch,
} from '../core/config/kv.js';
import { ConfigKeyPrefix } from '../core/topology.js';
import type { CompiledEventType } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import { buildNatsConnectOptions, type NatsAuth } from '../core/nats-connect-options.js';
import { followConnection } from '../core/nats-connection-status.js';
import {
  registerReplicaGauge,
  ReplicaMembership,
  ReplicaRole,
} from '../core/replica-membership.js';
import { createClientErrorListener } from './client-errors.js';
import { createProducerAuthenticator, type AuthSettings } from './auth/authenticator.js';
import { readHttpCredentials } from './auth/credentials.js';
import { startGrpcServer, type RunningGrpcServer } from './grpc.js';
import { createRequestHandler, type Readiness } from './http.js';
import { IngestPipeline } from './ingest.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import { createBrokerMetrics } from './metrics.js';
import { ProducerRateLimiter, type Clock } from './rate-limit.js';
import { RegistryAccess, SchemaRegistry } from './registry.js';
import { SchemaValidators } from './schemas.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/** node's own default; a larger header block is answered 431 before any handler runs. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_BODY_TIMEOUT_MS = 20_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface BrokerOptions {
  natsUrl: string;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  /** 0 = any free port (see RunningBroker.port). */
  httpPort: number;
  /** gRPC port (docs/grpc.md); undefined = no gRPC server, 0 = any free port. */
  grpcPort?: number;
  /** Interface to listen on; default all. */
  host?: string;
  logger: Logger;
  /** Request body limit; default 1 MiB. */
  maxBodyBytes?: number;
  /** How long a publish waits for its PubAck before a 503; default 5 s. */
  publishTimeoutMs?: number;
  /** How long stop() lets in-flight requests finish before closing their connections; default 10 s. */
  shutdownGraceMs?: number;
  /** Request line + headers limit (node's maxHeaderSize); over it node answers 431. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Time to receive the request headers, else 408; default 10 s. */
  headersTimeoutMs?: number;
  /** Time to receive the body once the headers are in, else 408; default 20 s. */
  bodyTimeoutMs?: number;
  /** Time to receive the whole request (node's requestTimeout), else 408; default 30 s. */
  requestTimeoutMs?: number;
  /** Clock of the rate-limit token buckets (ms, monotonic); tests inject one. */
  rateLimitClock?: Clock;
  /** Who may read the schema registry; default `producer` (credentials, own types only). */
  registryAccess?: RegistryAccess;
  /** Base URL partners use (the AsyncAPI server, registry links); default from the Host header. */
  publicUrl?: string;
  /** The installation's config key: unseals producers' HMAC secrets (none = HMAC answers 500). */
  configKey?: Buffer;
  /** Signature tolerance, JWT clock tolerance, JWKS caching (broker/auth/authenticator.ts). */
  auth?: Partial<AuthSettings>;
  /**
   * How long a replica's announcement in KV `herald-replicas` lives (a crashed replica keeps
   * its share this long); used only when this broker creates the bucket. Default 15 s.
   */
  replicaTtlMs?: number;
}

export interface RunningBroker {
  /** The bound HTTP port. */
  port: number;
  /** The bound gRPC port; undefined when gRPC is not served. */
  grpcPort: number | undefined;
  /** The live config the broker works from (emits `change` after each applied entry). */
  config: ConfigCache;
  /** The broker's NATS connection (for diagnostics: stop() drains it). */
  nats: NatsConnection;
  /** The live broker replicas the rate limits are divided by. */
  membership: ReplicaMembership;
  /** Readiness false, stop accepting, finish in-flight requests, drain NATS. Idempotent. */
  stop(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const logger = options.logger;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const metrics = createBrokerMetrics();
  const validators = new SchemaValidators();
  let nc: NatsConnection | undefined;
  let natsConnected = false;
  let watch: ConfigWatch | undefined;
  let pipeline: IngestPipeline | undefined;
  let membership: ReplicaMembership | undefined;
  let stopping = false;

  const getReadiness = (): Readiness => {
    const reasons: string[] = [];
    if (stopping) reasons.push('shutting down');
    if (!natsConnected) reasons.push('NATS is not connected');
    if (!watch?.cache.loaded) reasons.push('the config is not loaded');
    return {
      ready: reasons.length === 0,
      checks: {
        nats: natsConnected ? 'connected' : 'disconnected',
        config: watch?.cache.loaded ? 'loaded' : 'loading',
        ...(stopping ? { broker: 'stopping' } : {}),
      },
      reasons,
    };
  };

  let registry: SchemaRegistry | undefined;
  const limits = resolveHttpLimits(options);
  // Refusals are logged per request; the binding tells them apart from gRPC's.
  const httpLogger = logger.child({ transport: 'http' });
  // Listen first so /healthz and /readyz answer while NATS and the config come up.
  const server = createServer(
    {
      // Slow clients may not hold a connection open indefinitely.
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often node checks those two: its 30 s default would make them that coarse.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1_000, (limits.headersTimeoutMs || 2_000) / 2),
      ),
    },
    createRequestHandler({
      getPipeline: () => pipeline,
      metrics,
      logger: httpLogger,
      maxBodyBytes,
      getReadiness,
      isStopping: () => stopping,
      bodyTimeoutMs: limits.bodyTimeoutMs,
      getRegistry: () => registry,
    }),
  );
  server.on('clientError', createClientErrorListener(httpLogger, limits.maxHeaderBytes));
  await listen(server, options.httpPort, options.host);
  const port = (server.address() as AddressInfo).port;
  let grpc: RunningGrpcServer | undefined;
  if (options.grpcPort !== undefined) {
    try {
      grpc = await startGrpcServer({
        port: options.grpcPort,
        host: options.host,
        maxMessageBytes: maxBodyBytes,
        getPipeline: () => pipeline,
        getReadiness,
        metrics,
        logger: logger.child({ transport: 'grpc' }),
      });
    } catch (err) {
      await closeServer(server, 0);
      throw err;
    }
  }

  try {
    nc = await connect({
      servers: options.natsUrl,
      ...buildNatsConnectOptions(options.natsAuth),
      name: 'herald-broker',
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      // nats.js otherwise builds two Error objects (stack traces) per request: ~15% of the
      // broker's CPU per publish. Publish failures are mapped to problems, never rethrown.
      noAsyncTraces: true,
    });
    natsConnected = true;
    // Publishes fail fast while NATS is away.
    void followConnection(nc, logger, (connected) => (natsConnected = connected));
    const js = jetstream(nc);
    const kv = await openConfigBucket(js);
    watch = await watchConfig(kv, (err) => logger.error({ err }, 'config watch error'));
    const cache = watch.cache;
    // Compile every schema now and on each change, keeping compiles off the request path.
    for (const et of cache.eventTypes.values()) validators.prepare(et);
    cache.on('change', (change) => {
      logger.debug({ key: change.key, deleted: change.value === undefined }, 'config changed');
      if (change.prefix !== ConfigKeyPrefix.EventType) return;
      if (change.value !== undefined) validators.prepare(change.value as CompiledEventType);
      validators.retainOnly(cache.eventTypes.values());
    });
    membership = new ReplicaMembership({
      js,
      role: ReplicaRole.Broker,
      logger,
      ...(options.replicaTtlMs !== undefined && { ttlMs: options.replicaTtlMs }),
    });
    registerReplicaGauge(metrics.registry, membership);
    // Not awaited: traffic never waits for the membership (alone, a replica applies it whole).
    void membership.start();
    const authenticator = await createProducerAuthenticator({
      js,
      cache,
      configKey: options.configKey,
      logger,
      settings: options.auth,
    });
    pipeline = new IngestPipeline({
      cache,
      publisher: new JetStreamPublisher(nc, options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS),
      validators,
      metrics,
      isConnected: () => natsConnected,
      rateLimiter: createRateLimiter(cache, membership, options.rateLimitClock),
      authenticator,
    });
    const ingest = pipeline;
    registry = new SchemaRegistry({
      cache,
      access: options.registryAccess ?? RegistryAccess.Producer,
      authenticate: (headers) => ingest.authenticate(readHttpCredentials(headers)),
      ...(options.publicUrl !== undefined && { publicUrl: options.publicUrl }),
    });
  } catch (err) {
    watch?.stop();
    await membership?.stop();
    await nc?.close().catch(() => {});
    await Promise.all([closeServer(server, 0), grpc?.stop(0)]);
    throw err;
  }
  logger.info(
    { port, grpcPort: grpc?.port, eventTypes: watch.cache.eventTypes.size },
    'broker listening',
  );

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    stopping = true;
    const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    await Promise.all([closeServer(server, graceMs), grpc?.stop(graceMs)]);
    watch?.stop();
    // Deleting the key hands this replica's share to the others at once.
    await membership?.stop();
    if (nc && !nc.isClosed()) await nc.drain().catch(() => {});
    logger.info('broker stopped');
  };
  return {
    port,
    grpcPort: grpc?.port,
    config: watch.cache,
    nats: nc,
    membership,
    stop: () => (stopped ??= stop()),
  };
}

interface HttpLimits {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  requestTimeoutMs: number;
}

/** The HTTP limits with defaults; node refuses a headers timeout above the request timeout. */
function resolveHttpLimits(options: BrokerOptions): HttpLimits {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  return {
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    // 0 disables a timeout (node's convention).
    headersTimeoutMs:
      requestTimeoutMs > 0 ? Math.min(headersTimeoutMs, requestTimeoutMs) : headersTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    requestTimeoutMs,
  };
}

/**
 * Token buckets per producer, divided among the live replicas; a producer leaving the config
 * takes its bucket along.
 */
function createRateLimiter(
  cache: ConfigCache,
  membership: ReplicaMembership,
  clock: Clock | undefined,
): ProducerRateLimiter {
  const limiter = new ProducerRateLimiter(clock === undefined ? {} : { now: clock });
  limiter.setReplicaCount(membership.count);
  membership.on('change', (count) => limiter.setReplicaCount(count));
  cache.on('change', (change) => {
    if (change.prefix === ConfigKeyPrefix.Producer && change.value === undefined) {
      limiter.forget(change.namespace, change.name);
    }
  });
  return limiter;
}

function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Stops accepting, closes idle keep-alive connections, and waits for in-flight requests
 * (their responses carry `Connection: close`); after `graceMs` the rest are cut.
 */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
