/**
 * Wires the broker: NATS connection, the live config from KV, the ingest pipeline and the
 * HTTP server. Reads no env vars or flags — the CLI passes everything in.
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
import { createRequestHandler, type Readiness } from './http.js';
import { IngestPipeline } from './ingest.js';
import { createBrokerMetrics } from './metrics.js';
import { SchemaValidators } from './schemas.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

export interface BrokerOptions {
  natsUrl: string;
  /** 0 = any free port (see RunningBroker.port). */
  httpPort: number;
  /** Interface to listen on; default all. */
  host?: string;
  logger: Logger;
  /** Request body limit; default 1 MiB. */
  maxBodyBytes?: number;
  /** How long a publish waits for its PubAck before a 503; default 5 s. */
  publishTimeoutMs?: number;
  /** How long stop() lets in-flight requests finish before closing their connections; default 10 s. */
  shutdownGraceMs?: number;
}

export interface RunningBroker {
  /** The bound HTTP port. */
  port: number;
  /** The live config the broker works from (emits `change` after each applied entry). */
  config: ConfigCache;
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

  // Listen first so /healthz and /readyz answer while NATS and the config come up.
  const server = createServer(
    createRequestHandler({
      getPipeline: () => pipeline,
      metrics,
      // Refusals are logged per request; the binding tells them apart from gRPC's later.
      logger: logger.child({ transport: 'http' }),
      maxBodyBytes,
      getReadiness,
      isStopping: () => stopping,
    }),
  );
  // Slow clients may not hold a connection open indefinitely.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await listen(server, options.httpPort, options.host);
  const port = (server.address() as AddressInfo).port;

  try {
    nc = await connect({
      servers: options.natsUrl,
      name: 'herald-broker',
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      // nats.js otherwise builds two Error objects (stack traces) per request: ~15% of the
      // broker's CPU per publish. Publish failures are mapped to problems, never rethrown.
      noAsyncTraces: true,
    });
    natsConnected = true;
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
    pipeline = new IngestPipeline({
      cache,
      js,
      validators,
      metrics,
      isConnected: () => natsConnected,
      publishTimeoutMs: options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS,
    });
  } catch (err) {
    watch?.stop();
    await nc?.close().catch(() => {});
    await closeServer(server, 0);
    throw err;
  }
  logger.info({ port, eventTypes: watch.cache.eventTypes.size }, 'broker listening');

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    stopping = true;
    await closeServer(server, options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
    watch?.stop();
    if (nc && !nc.isClosed()) await nc.drain().catch(() => {});
    logger.info('broker stopped');
  };
  return {
    port,
    config: watch.cache,
    stop: () => (stopped ??= stop()),
  };
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

/** Tracks connectivity so publishes fail fast while NATS is away. */
async function followConnection(
  nc: NatsConnection,
  logger: Logger,
  setConnected: (connected: boolean) => void,
): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        setConnected(false);
        logger.warn({ server: status.server }, 'NATS disconnected');
        break;
      case 'reconnect':
        setConnected(true);
        logger.info({ server: status.server }, 'NATS reconnected');
        break;
      case 'close':
        setConnected(false);
        break;
    }
  }
}
