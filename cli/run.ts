/**
 * `herald run`: the whole product in one process tree on a laptop. A local nats-server
 * (unless --nats), the operator in file mode, a broker, a dispatcher and the demo sink.
 */
import { join, resolve } from 'node:path';
import { startBroker, type RunningBroker } from '../broker/main.js';
import { RegistryAccess } from '../broker/registry.js';
import { startDispatcher, type RunningDispatcher } from '../dispatcher/main.js';
import { createLogger, type Logger } from '../core/logging.js';
import type { NatsAuth } from '../core/nats-connect-options.js';
import { startOperator, type RunningOperator } from '../operator/main.js';
import { DEFAULT_SINK_PORT, startDemoSink, type RunningDemoSink } from './demo-sink.js';
import { createSigningSecretLookup, findLocalSinkSubscriptions } from './run-resources.js';
import { startNatsServer, type NatsServerProcess } from './nats-server-process.js';
import { ensureLocalConfigKey } from './config-key.js';
import { describeNatsUrl } from './inspect-args.js';

export interface RunOptions {
  resourcesDir: string;
  dataDir: string;
  natsUrl?: string;
  /** Credentials and TLS files for the --nats server; the local nats-server needs none. */
  natsAuth?: NatsAuth;
  natsPort: number;
  httpPort: number;
  /** Broker gRPC port (0 = any free port); undefined = no gRPC server. */
  grpcPort?: number;
  sinkPort: number;
  allowPrivateSinks: boolean;
  /** SSRF policy lists for the dispatcher (docs/security.md). */
  blockedCidrs?: readonly string[];
  allowedCidrs?: readonly string[];
  /** WebHook-Request-Origin of the dispatcher's validation handshake; default `herald`. */
  webhookOrigin?: string;
  /** Record every delivery attempt in HERALD_ATTEMPTS (default true). */
  attemptsLog?: boolean;
  /** Broker request body limit; default 1 MiB. */
  maxBodyBytes?: number;
  /** Schema registry without credentials (a laptop has no partners to hide types from). */
  publicRegistry?: boolean;
  logLevel: string;
  /** Where component logs go; stderr by default so the sink's lines stay readable on stdout. */
  logDestination?: NodeJS.WritableStream;
  /** Where the sink and banner print; stdout by default. */
  write?: (line: string) => void;
}

export interface RunningHerald {
  natsUrl: string;
  brokerUrl: string;
  sinkUrl: string;
  stop(): Promise<void>;
}

/** Lines warning that Subscriptions still deliver to the default sink port the sink left. */
async function describeMissedSink(resourcesDir: string, sinkPort: number): Promise<string[]> {
  if (sinkPort === DEFAULT_SINK_PORT) return [];
  const missed = await findLocalSinkSubscriptions(resourcesDir, DEFAULT_SINK_PORT);
  if (missed.length === 0) return [];
  return [
    `Warning: the demo sink listens on port ${sinkPort}, but these Subscriptions deliver to port ${DEFAULT_SINK_PORT}, so their events do not reach it:`,
    ...missed.map((m) => `  ${m.subscription}  ${m.uri}`),
    `Set their spec.sink.uri to http://127.0.0.1:${sinkPort}/ (an edit applies while Herald runs).`,
  ];
}

export async function runHerald(options: RunOptions): Promise<RunningHerald> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const destination = options.logDestination ?? process.stderr;
  const logger = (name: string): Logger =>
    createLogger(name, { level: options.logLevel, destination });
  const log = logger('run');
  const dataDir = resolve(options.dataDir);
  const resourcesDir = resolve(options.resourcesDir);
  const configKey = ensureLocalConfigKey(dataDir);
  const stack: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const part of stack.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        log.error({ err, part: part.name }, 'stop failed');
      }
    }
  };
  try {
    let natsUrl = options.natsUrl;
    // Only an external server asks for credentials or TLS; the local one is started without.
    const natsAuth = natsUrl ? options.natsAuth : undefined;
    if (!natsUrl && options.natsAuth) {
      log.warn(
        'NATS credentials and TLS files are ignored without --nats: the local server needs none',
      );
    }
    if (!natsUrl) {
      const nats: NatsServerProcess = await startNatsServer({
        storeDir: join(dataDir, 'nats'),
        port: options.natsPort,
      });
      stack.push({ name: 'nats-server', stop: () => nats.stop() });
      natsUrl = nats.url;
    }
    // No attemptLog: HERALD_ATTEMPTS gets the operator's defaults, plenty for a laptop.
    const operator: RunningOperator = await startOperator({
      natsUrl,
      ...(natsAuth && { natsAuth }),
      resourcesDir,
      configKey,
      logger: logger('operator'),
      watch: true,
    });
    stack.push({ name: 'operator', stop: () => operator.stop() });
    const dispatcher: RunningDispatcher = await startDispatcher({
      natsUrl,
      ...(natsAuth && { natsAuth }),
      configKey,
      logger: logger('dispatcher'),
      allowPrivateSinks: options.allowPrivateSinks,
      ...(options.blockedCidrs && { blockedCidrs: options.blockedCidrs }),
      ...(options.allowedCidrs && { allowedCidrs: options.allowedCidrs }),
      ...(options.attemptsLog !== undefined && { attemptsLog: options.attemptsLog }),
      ...(options.webhookOrigin && { webhookOrigin: options.webhookOrigin }),
    });
    stack.push({ name: 'dispatcher', stop: () => dispatcher.stop() });
    // Looked up per delivery, so secrets edited while running verify too; read once now so
    // that a missing secret is reported at start.
    const secrets = createSigningSecretLookup(resourcesDir, log);
    await secrets();
    const sink: RunningDemoSink = await startDemoSink({
      port: options.sinkPort,
      secrets,
      write,
    });
    stack.push({ name: 'sink', stop: () => sink.stop() });
    const broker: RunningBroker = await startBroker({
      natsUrl,
      ...(natsAuth && { natsAuth }),
      httpPort: options.httpPort,
      ...(options.grpcPort !== undefined && { grpcPort: options.grpcPort }),
      configKey,
      ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
      registryAccess: options.publicRegistry ? RegistryAccess.Public : RegistryAccess.Producer,
      logger: logger('broker'),
    });
    stack.push({ name: 'broker', stop: () => broker.stop() });
    const brokerUrl = `http://127.0.0.1:${broker.port}`;
    write(
      [
        `Herald is running (resources: ${resourcesDir})`,
        `  broker   ${brokerUrl}/events`,
        ...(broker.grpcPort === undefined ? [] : [`  grpc     127.0.0.1:${broker.grpcPort}`]),
        `  nats     ${describeNatsUrl(natsUrl)}`,
        `  sink     ${sink.url}`,
        ...(await describeMissedSink(resourcesDir, sink.port)),
        'Press Ctrl-C to stop.',
      ].join('\n'),
    );
    return { natsUrl, brokerUrl, sinkUrl: sink.url, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
