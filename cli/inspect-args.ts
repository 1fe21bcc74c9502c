/**
 * Arguments shared by the one-shot inspection commands (`attempts`, `dlq`, `status`,
 * `resume`): the NATS URL, `--subscription NS/NAME`, `--limit`, `--since`. Each throws
 * UsageError with the message the command prints above its usage (exit 2).
 */
import { isTimestamp } from '../core/cloudevents/value-formats.js';
import { isDuration, parseDuration } from '../core/duration.js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { buildNatsConnectOptions, type NatsAuth } from '../core/nats-connect-options.js';
import type { FlagValues } from './flags.js';

export class UsageError extends Error {}

const DNS_LABEL = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?';
const SUBSCRIPTION_ID = new RegExp(`^(${DNS_LABEL})/(${DNS_LABEL})$`);

export function readNatsUrl(values: FlagValues): string {
  const natsUrl = values.nats;
  if (typeof natsUrl !== 'string' || !natsUrl) {
    throw new UsageError('--nats URL (or NATS_URL) is required');
  }
  return natsUrl;
}

/**
 * A NATS URL (or comma-separated list) fit for output: user, password or token in it become
 * `***` (`nats://user:pass@host` is how some installs pass credentials).
 */
export function describeNatsUrl(url: string): string {
  return url.replace(/\/\/[^/@,]*@/g, '//***@');
}

/** `--subscription NAMESPACE/NAME`; undefined when absent and not required. */
export function readSubscriptionId(values: FlagValues): { namespace: string; name: string };
export function readSubscriptionId(
  values: FlagValues,
  required: false,
): { namespace: string; name: string } | undefined;
export function readSubscriptionId(
  values: FlagValues,
  required = true,
): { namespace: string; name: string } | undefined {
  const id = values.subscription;
  if (typeof id !== 'string' || !id) {
    if (required) throw new UsageError('--subscription NAMESPACE/NAME is required');
    return undefined;
  }
  const match = SUBSCRIPTION_ID.exec(id);
  if (!match) {
    throw new UsageError(`--subscription must be NAMESPACE/NAME (two DNS labels), got "${id}"`);
  }
  return { namespace: match[1] as string, name: match[2] as string };
}

export function readLimit(values: FlagValues): number {
  const limitText = String(values.limit ?? '100');
  const limit = /^\d+$/.test(limitText) ? Number(limitText) : NaN;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new UsageError(`--limit must be a positive whole number, got "${limitText}"`);
  }
  return limit;
}

/** `--since`: an RFC 3339 time, or a duration ago (`15m`, `2h`, `1h30m`). */
export function parseSince(text: string, nowMs: number): Date {
  const trimmed = text.trim();
  if (isTimestamp(trimmed)) {
    const ms = Date.parse(trimmed);
    if (!Number.isNaN(ms)) return new Date(ms);
  }
  if (isDuration(trimmed)) return new Date(nowMs - parseDuration(trimmed));
  throw new UsageError(
    `--since must be an RFC 3339 time (2024-05-01T12:00:00Z) or a duration ago (15m, 2h), got "${text}"`,
  );
}

/**
 * The one-shot commands' NATS connection (no reconnects: they answer and exit); undefined
 * after printing `herald <command>: cannot connect …` through `err`.
 */
export async function connectForCommand(
  command: string,
  natsUrl: string,
  natsAuth: NatsAuth | undefined,
  err: (line: string) => void,
): Promise<NatsConnection | undefined> {
  try {
    return await connect({
      servers: natsUrl,
      ...buildNatsConnectOptions(natsAuth),
      name: `herald-${command}`,
      maxReconnectAttempts: 0,
    });
  } catch (e) {
    err(
      `herald ${command}: cannot connect to NATS at ${describeNatsUrl(natsUrl)}: ${(e as Error).message}`,
    );
    return undefined;
  }
}
