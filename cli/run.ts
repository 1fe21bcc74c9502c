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
import { readSecretValue } from '../core/resources/validate.js';
import { loadResourceDirectory } from '../operator/files.js';
import { startOperator, type RunningOperator } from '../operator/main.js';
import { startDemoSink, type RunningDemoSink } from './demo-sink.js';
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

/** Signing secrets of every Subscription in the resources, so the demo sink can verify them. */
async function collectSigningSecrets(resourcesDir: string, log: Logger): Promise<string[]> {
  const { resources, secrets } = await loadResourceDirectory(resourcesDir);
  const found: string[] = [];
  for (const r of resources) {
    if (r.kind !== 'Subscription') continue;
    const ref = r.spec.delivery?.signing?.secretRef;
    if (!ref) continue;
    const ns = r.metadata.namespace ?? 'default';
    const secret = secrets.find(
      (s) => s.metadata.name === ref.name && (s.metadata.namespace ?? 'default') === ns,
    );
    const value = secret && readSecretValue(secret, ref.key);
    if (value) found.push(value);
    else
      log.warn(
        { subscription: `${ns}/${r.metadata.name}` },
        'signing secret not found for the demo sink',
      );
  }
  return found;
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
    const sink: RunningDemoSink = await startDemoSink({
      port: options.sinkPort,
      secrets: await collectSigningSecrets(resourcesDir, log),
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
        'Press Ctrl-C to stop.',
      ].join('\n'),
    );
    return { natsUrl, brokerUrl, sinkUrl: sink.url, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
