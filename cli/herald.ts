#!/usr/bin/env node
/**
 * `herald`: one executable for every part (DESIGN.md §6). Thin: parse flags and env, build
 * typed options, start the part, stop it cleanly on SIGINT/SIGTERM.
 */
import { startBroker } from '../broker/main.js';
import { RegistryAccess } from '../broker/registry.js';
import { createLogger } from '../core/logging.js';
import { isHeraldError } from '../core/errors.js';
import { startDispatcher } from '../dispatcher/main.js';
import { runAttemptsCommand } from './attempts-command.js';
import { loadConfigKey } from './config-key.js';
import { startDemoSink } from './demo-sink.js';
import { startMetricsServer } from './metrics-server.js';
import { startOperatorCommand } from './operator-command.js';
import { runDlqCommand } from './dlq-command.js';
import { runResumeCommand, runStatusCommand } from './status-command.js';
import {
  formatCommandHelp,
  parseCommandArgs,
  readByteSize,
  readList,
  readPort,
  readSwitch,
  type CommandSpec,
  type FlagValues,
} from './flags.js';
import { natsAuthOption } from './nats-auth-args.js';
import { runHerald } from './run.js';

/** The NATS credentials and TLS files: every command that takes --nats takes these too. */
const NATS_AUTH_FLAGS = ['nats-creds', 'nats-tls-ca', 'nats-tls-cert', 'nats-tls-key'] as const;

const COMMANDS = {
  run: {
    summary:
      'Run everything on this machine: a local nats-server (unless --nats), the operator in file mode, a broker, a dispatcher and the demo sink.',
    flags: [
      'resources',
      'http-port',
      'grpc-port',
      'nats',
      ...NATS_AUTH_FLAGS,
      'nats-port',
      'sink-port',
      'data-dir',
      'allow-private-sinks',
      'blocked-cidrs',
      'allowed-cidrs',
      'webhook-origin',
      'attempts-log',
      'max-body-bytes',
      'public-registry',
      'log-level',
    ],
    defaults: {
      resources: 'examples',
      'allow-private-sinks': true,
      'public-registry': true,
      'log-level': 'warn',
    },
  },
  operator: {
    summary:
      'Compile EventTypes, Producers and Subscriptions into the NATS config bucket, streams and consumers, and report their status. Reads the Kubernetes API like kubectl; with --resources DIR it reads YAML files instead (file mode).',
    flags: [
      'nats',
      ...NATS_AUTH_FLAGS,
      'resources',
      'kubeconfig',
      'leader-elect',
      'lease-namespace',
      'lease-duration',
      'resync-interval',
      'metrics-port',
      'system-replicas',
      'attempts-max-age',
      'attempts-max-bytes',
      'attempts-max-per-subject',
      'config-key-file',
      'log-level',
    ],
  },
  broker: {
    summary: 'Accept CloudEvents over HTTP (POST /events), authenticate, validate and store them.',
    flags: [
      'nats',
      ...NATS_AUTH_FLAGS,
      'http-port',
      'grpc-port',
      'config-key-file',
      'max-body-bytes',
      'public-registry',
      'log-level',
    ],
  },
  dispatcher: {
    summary: 'Deliver stored events to Subscription webhooks: signed, retried, dead-lettered.',
    flags: [
      'nats',
      ...NATS_AUTH_FLAGS,
      'allow-private-sinks',
      'blocked-cidrs',
      'allowed-cidrs',
      'webhook-origin',
      'attempts-log',
      'metrics-port',
      'config-key-file',
      'log-level',
    ],
  },
  attempts: {
    summary:
      'Print a Subscription’s latest delivery attempts from HERALD_ATTEMPTS. One line each: time, event, attempt, outcome, HTTP status or failure, latency, error and response excerpt (or --json lines).',
    flags: ['nats', ...NATS_AUTH_FLAGS, 'subscription', 'since', 'limit', 'json'],
  },
  dlq: {
    summary:
      'List a Subscription’s dead letters (list), queue them for redelivery to its current sink (redrive), or delete them from HERALD_DLQ (purge; only with --yes, else it shows what would go). All three take the same selection: --since, --id (repeatable), --source and --limit. Exit status: 0 done, 1 failed, 2 usage error or nothing done (purge without --yes; an --id found from several sources without --source), 3 done but an --id matched no dead letter.',
    flags: [
      'nats',
      ...NATS_AUTH_FLAGS,
      'subscription',
      'since',
      'id',
      'source',
      'limit',
      'json',
      'yes',
    ],
    positionals: 'list|redrive|purge',
  },
  status: {
    summary:
      'Print each Subscription’s endpoint health: paused or not (and why), consecutive failures, last status, last success and last failure.',
    flags: ['nats', ...NATS_AUTH_FLAGS, 'subscription', 'json'],
  },
  resume: {
    summary:
      'Resume a Subscription paused by its endpoint’s health (410 Gone, or autoPauseAfter): delivery continues from where it stopped.',
    flags: ['nats', ...NATS_AUTH_FLAGS, 'subscription'],
  },
  sink: {
    summary: 'A demo webhook receiver: prints each delivery and whether its signature verifies.',
    flags: ['port', 'secret'],
  },
} as const satisfies Record<string, CommandSpec>;
type CommandName = keyof typeof COMMANDS;

const USAGE = [
  'Usage: herald <command> [flags]',
  '',
  'Commands:',
  ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)}${c.summary.split('. ')[0]}`),
  '',
  'Run `herald <command> --help` for its flags.',
].join('\n');

function requireNats(values: FlagValues, command: string): string {
  const url = values.nats;
  if (typeof url !== 'string' || !url) {
    throw new Error(`herald ${command} needs --nats URL (or NATS_URL)`);
  }
  return url;
}

/** The commands that keep running until a signal stops them. */
const LONG_RUNNING: ReadonlySet<string> = new Set([
  'run',
  'operator',
  'broker',
  'dispatcher',
  'sink',
]);

/**
 * SIGINT/SIGTERM stop a long-running part cleanly. The handlers go in before the part starts:
 * a signal while it starts (e.g. right after `herald run` printed its banner, before it
 * returned) is held and acted on once it has started, instead of killing the process midway.
 */
function trapShutdown(): (stop: () => Promise<void>) => void {
  let stop: (() => Promise<void>) | undefined;
  let requested = false;
  let stopping = false;
  const begin = (): void => {
    if (!stop || stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  const handler = (): void => {
    // A second signal while stopping, or while still starting, does not wait any longer.
    if (stopping || requested) process.exit(130);
    requested = true;
    begin();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return (started) => {
    stop = started;
    if (requested) begin();
  };
}

/**
 * Starts a long-running part and returns its stopper, or runs a one-shot command (`dlq`,
 * `attempts`, …) to completion and returns its exit code.
 */
async function startCommand(
  name: CommandName,
  values: FlagValues,
  positionals: string[],
): Promise<(() => Promise<void>) | number> {
  const level = typeof values['log-level'] === 'string' ? values['log-level'] : 'info';
  const env = process.env;
  void positionals; // read by the one-shot commands that take some
  switch (name) {
    case 'run': {
      const running = await runHerald({
        resourcesDir: String(values.resources),
        dataDir: String(values['data-dir']),
        ...(typeof values.nats === 'string' ? { natsUrl: values.nats } : {}),
        ...natsAuthOption(values),
        natsPort: readPort(values, 'nats-port'),
        httpPort: readPort(values, 'http-port'),
        grpcPort: readPort(values, 'grpc-port'),
        sinkPort: readPort(values, 'sink-port'),
        allowPrivateSinks: values['allow-private-sinks'] === true,
        blockedCidrs: readList(values, 'blocked-cidrs'),
        allowedCidrs: readList(values, 'allowed-cidrs'),
        ...(typeof values['webhook-origin'] === 'string' && {
          webhookOrigin: values['webhook-origin'],
        }),
        attemptsLog: readSwitch(values, 'attempts-log'),
        maxBodyBytes: readByteSize(values, 'max-body-bytes'),
        publicRegistry: values['public-registry'] === true,
        logLevel: level,
      });
      return running.stop;
    }
    case 'operator':
      return startOperatorCommand(values, env, requireNats(values, name), level);
    case 'broker': {
      const broker = await startBroker({
        natsUrl: requireNats(values, name),
        ...natsAuthOption(values),
        httpPort: readPort(values, 'http-port'),
        grpcPort: readPort(values, 'grpc-port'),
        // Unseals producers' HMAC secrets: the same key as the operator's.
        configKey: loadConfigKey(
          env.HERALD_CONFIG_KEY,
          values['config-key-file'] as string | undefined,
        ),
        maxBodyBytes: readByteSize(values, 'max-body-bytes'),
        registryAccess:
          values['public-registry'] === true ? RegistryAccess.Public : RegistryAccess.Producer,
        logger: createLogger('broker', { level }),
      });
      return () => broker.stop();
    }
    case 'dispatcher': {
      const d = await startDispatcher({
        natsUrl: requireNats(values, name),
        ...natsAuthOption(values),
        configKey: loadConfigKey(
          env.HERALD_CONFIG_KEY,
          values['config-key-file'] as string | undefined,
        ),
        logger: createLogger('dispatcher', { level }),
        allowPrivateSinks: values['allow-private-sinks'] === true,
        blockedCidrs: readList(values, 'blocked-cidrs'),
        allowedCidrs: readList(values, 'allowed-cidrs'),
        ...(typeof values['webhook-origin'] === 'string' && {
          webhookOrigin: values['webhook-origin'],
        }),
        attemptsLog: readSwitch(values, 'attempts-log'),
      });
      const metrics = await startMetricsServer({
        port: readPort(values, 'metrics-port'),
        registries: () => [d.registry],
        // Not ready while NATS is away (it reconnects by itself: /healthz stays 200).
        ready: () => d.isConnected(),
      });
      return async () => {
        await d.stop();
        await metrics.stop();
      };
    }
    case 'attempts':
      return runAttemptsCommand({
        values,
        ...natsAuthOption(values),
        usage: formatCommandHelp(name, COMMANDS.attempts),
      });
    case 'dlq':
      return runDlqCommand({
        values,
        ...natsAuthOption(values),
        positionals,
        usage: formatCommandHelp(name, COMMANDS.dlq),
      });
    case 'status':
      return runStatusCommand({
        values,
        ...natsAuthOption(values),
        usage: formatCommandHelp(name, COMMANDS.status),
      });
    case 'resume':
      return runResumeCommand({
        values,
        ...natsAuthOption(values),
        usage: formatCommandHelp(name, COMMANDS.resume),
      });
    case 'sink': {
      const secrets =
        typeof values.secret === 'string' ? values.secret.split(/[\s,]+/).filter(Boolean) : [];
      const sink = await startDemoSink({ port: readPort(values, 'port'), secrets });
      console.log(`demo sink listening on ${sink.url}`);
      return () => sink.stop();
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    console.error(`herald: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  const command: CommandSpec = COMMANDS[name as CommandName];
  let values: FlagValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseCommandArgs(command, rest, process.env));
  } catch (err) {
    console.error(
      `herald ${name}: ${(err as Error).message}\n\n${formatCommandHelp(name, command)}`,
    );
    return 2;
  }
  if (values.help) {
    console.log(formatCommandHelp(name, command));
    return 0;
  }
  try {
    const onStarted = LONG_RUNNING.has(name) ? trapShutdown() : undefined;
    const started = await startCommand(name as CommandName, values, positionals);
    if (typeof started === 'number') return started;
    onStarted?.(started);
    return -1; // keep running
  } catch (err) {
    console.error(`herald ${name}: ${isHeraldError(err) ? err.message : (err as Error).message}`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
