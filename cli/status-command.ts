/**
 * `herald status --nats URL [--subscription NS/NAME] [--json]`: each Subscription's endpoint
 * health from KV `herald-delivery-state` (docs/delivery.md "Endpoint health and pausing").
 * `herald resume --nats URL --subscription NS/NAME`: lifts a pause (410 or autoPauseAfter);
 * every dispatcher replica sees it and delivery continues from where it stopped.
 *
 * Both read the compiled config (KV `herald-config`) for the list of Subscriptions, so an
 * unknown name is an error rather than an empty answer. Neither creates a bucket.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { readConfigEntries } from '../core/config/kv.js';
import { CONFIG_FORMAT, type CompiledSubscription } from '../core/config/model.js';
import {
  findDeliveryStateBucket,
  isPauseInEffect,
  liftPause,
  listDeliveryStates,
  updateDeliveryState,
  type DeliveryState,
} from '../core/delivery-state.js';
import type { NatsAuth } from '../core/nats-connect-options.js';
import { CONFIG_BUCKET, ConfigKeyPrefix, parseConfigKey } from '../core/topology.js';
import type { FlagValues } from './flags.js';
import { connectForCommand, readNatsUrl, readSubscriptionId, UsageError } from './inspect-args.js';

export interface StatusCommandOptions {
  values: FlagValues;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  /** The command's help text, printed after a usage error. */
  usage: string;
  /** Where output goes (tests capture it); default the process's stdout and stderr. */
  out?: (line: string) => void;
  err?: (line: string) => void;
  now?: () => number;
}

/** How a subscription stands, as `herald status` shows it. */
export const SubscriptionHealth = {
  /** Held by endpoint health (410, autoPauseAfter): `herald resume` lifts it. */
  Paused: 'paused',
  /** `spec.paused: true`: the user's own switch. */
  PausedBySpec: 'paused-by-spec',
  /** The last attempt failed. */
  Failing: 'failing',
  Healthy: 'healthy',
  /** No attempt recorded yet. */
  NoAttempts: 'no-attempts',
} as const;
export type SubscriptionHealth = (typeof SubscriptionHealth)[keyof typeof SubscriptionHealth];

/** One line of `herald status --json`. */
export interface SubscriptionStatusLine {
  subscription: string;
  namespace: string;
  name: string;
  generation: number;
  state: SubscriptionHealth;
  specPaused: boolean;
  delivery?: DeliveryState;
}

const REASON_CHARS = 100;

interface Parsed {
  natsUrl: string;
  subscription?: { namespace: string; name: string };
  json: boolean;
}

function parseArgs(values: FlagValues, subscriptionRequired: boolean): Parsed {
  const natsUrl = readNatsUrl(values);
  const subscription = subscriptionRequired
    ? readSubscriptionId(values)
    : readSubscriptionId(values, false);
  return { natsUrl, ...(subscription && { subscription }), json: values.json === true };
}

/** Runs `herald status`: 0 done, 1 failed (NATS, unknown subscription), 2 usage error. */
export function runStatusCommand(options: StatusCommandOptions): Promise<number> {
  return runWith('status', options, false, async (io, parsed, nc) => {
    const subs = await readSubscriptions(nc);
    const wanted = parsed.subscription;
    const selected = wanted
      ? subs.filter((s) => s.namespace === wanted.namespace && s.name === wanted.name)
      : subs;
    if (wanted && selected.length === 0) {
      io.err(unknownSubscription('status', `${wanted.namespace}/${wanted.name}`));
      return 1;
    }
    if (selected.length === 0) {
      io.err('no Subscriptions in the config');
      return 0;
    }
    const kv = await findDeliveryStateBucket(jetstream(nc));
    const states = new Map<string, DeliveryState>();
    for (const s of kv ? await listDeliveryStates(kv) : []) {
      states.set(`${s.namespace}/${s.name}`, s);
    }
    const lines = selected.map((s) =>
      describeSubscription(s, states.get(`${s.namespace}/${s.name}`)),
    );
    if (parsed.json) for (const l of lines) io.out(JSON.stringify(l));
    else for (const l of formatStatusTable(lines)) io.out(l);
    return 0;
  });
}

/** Runs `herald resume`: 0 resumed or not paused, 1 failed or unknown, 2 usage error. */
export function runResumeCommand(options: StatusCommandOptions): Promise<number> {
  return runWith('resume', options, true, async (io, parsed, nc) => {
    const { namespace, name } = parsed.subscription!;
    const id = `${namespace}/${name}`;
    const sub = (await readSubscriptions(nc)).find(
      (s) => s.namespace === namespace && s.name === name,
    );
    if (!sub) {
      io.err(unknownSubscription('resume', id));
      return 1;
    }
    const specNote = sub.paused
      ? `; note: its spec says paused: true, so it stays stopped until that is set to false`
      : '';
    const kv = await findDeliveryStateBucket(jetstream(nc));
    let was: DeliveryState | undefined;
    const nowMs = options.now?.() ?? Date.now();
    const stored =
      kv &&
      (await updateDeliveryState(kv, namespace, name, (current) => {
        was = current;
        return current?.pausedReason === undefined ? undefined : liftPause(current, nowMs);
      }));
    if (!stored || was?.pausedReason === undefined) {
      io.out(`${id} is not paused${specNote}`);
      return 0;
    }
    io.out(
      `resumed ${id} (it was paused ${was.pausedAt ?? ''}: ${was.pausedReason}); ` +
        `delivery continues from where it stopped${specNote}`,
    );
    return 0;
  });
}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

async function runWith(
  command: string,
  options: StatusCommandOptions,
  subscriptionRequired: boolean,
  body: (io: Io, parsed: Parsed, nc: NatsConnection) => Promise<number>,
): Promise<number> {
  const io: Io = {
    out: options.out ?? ((line: string) => void process.stdout.write(`${line}\n`)),
    err: options.err ?? ((line: string) => void process.stderr.write(`${line}\n`)),
  };
  let parsed: Parsed;
  try {
    parsed = parseArgs(options.values, subscriptionRequired);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`herald ${command}: ${e.message}\n\n${options.usage}`);
    return 2;
  }
  const nc = await connectForCommand(command, parsed.natsUrl, options.natsAuth, (line) =>
    io.err(line),
  );
  if (!nc) return 1;
  try {
    return await body(io, parsed, nc);
  } catch (e) {
    io.err(`herald ${command}: ${(e as Error).message}`);
    return 1;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

const unknownSubscription = (command: string, id: string): string =>
  `herald ${command}: no Subscription ${id} in the config (\`herald status\` lists them)`;

/** Every compiled Subscription, sorted by namespace and name. */
async function readSubscriptions(nc: NatsConnection): Promise<CompiledSubscription[]> {
  const kv: KV = await new Kvm(jetstream(nc)).open(CONFIG_BUCKET);
  try {
    await kv.status();
  } catch (cause) {
    throw new Error(
      `the config bucket ${CONFIG_BUCKET} does not exist: is the operator running against this NATS?`,
      { cause },
    );
  }
  const subs: CompiledSubscription[] = [];
  for (const [key, text] of await readConfigEntries(kv)) {
    if (parseConfigKey(key)?.prefix !== ConfigKeyPrefix.Subscription) continue;
    const value = JSON.parse(text) as CompiledSubscription;
    if (value.format === CONFIG_FORMAT) subs.push(value);
  }
  return subs.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export function describeSubscription(
  sub: CompiledSubscription,
  state: DeliveryState | undefined,
): SubscriptionStatusLine {
  let health: SubscriptionHealth;
  if (isPauseInEffect(state, sub.generation)) health = SubscriptionHealth.Paused;
  else if (sub.paused) health = SubscriptionHealth.PausedBySpec;
  else if (!state || (!state.lastSuccessTime && !state.lastFailureTime)) {
    health = SubscriptionHealth.NoAttempts;
  } else if (state.lastError !== undefined) health = SubscriptionHealth.Failing;
  else health = SubscriptionHealth.Healthy;
  return {
    subscription: `${sub.namespace}/${sub.name}`,
    namespace: sub.namespace,
    name: sub.name,
    generation: sub.generation,
    state: health,
    specPaused: sub.paused,
    ...(state && { delivery: state }),
  };
}

/** The last attempt's HTTP status, or its failure kind (`timeout`, `network`…). */
function lastStatusOf(d: DeliveryState | undefined): string {
  if (d?.lastStatus !== undefined) return String(d.lastStatus);
  return d?.lastError?.split(':')[0] ?? '-';
}

export function formatStatusTable(lines: readonly SubscriptionStatusLine[]): string[] {
  const header = [
    'SUBSCRIPTION',
    'STATE',
    'FAILURES',
    'LAST',
    'LAST SUCCESS',
    'LAST FAILURE',
    'REASON',
  ];
  const rows = lines.map((l) => {
    const d = l.delivery;
    const reason =
      l.state === SubscriptionHealth.Paused
        ? (d?.pausedReason ?? '')
        : l.state === SubscriptionHealth.Failing
          ? (d?.lastError ?? '')
          : '';
    return [
      l.subscription,
      l.state,
      String(d?.consecutiveFailures ?? 0),
      lastStatusOf(d),
      d?.lastSuccessTime ?? '-',
      d?.lastFailureTime ?? '-',
      reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 1)}…` : reason,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [format(header), ...rows.map(format)];
}
