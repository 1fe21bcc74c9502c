/**
 * Every JetStream name Herald uses, made here and nowhere else (DESIGN.md §3), so the
 * stream-per-EventType decision can move without touching the deployables.
 */
import { createHash, hash } from 'node:crypto';

export const CONFIG_BUCKET = 'herald-config';
export const LEDGER_BUCKET = 'herald-delivered';
/** The stream behind the ledger bucket (NATS KV names its stream `KV_<bucket>`). */
export const LEDGER_STREAM = `KV_${LEDGER_BUCKET}`;
export const LEDGER_BUCKET_DESCRIPTION = 'Herald delivery ledger';
/**
 * Default dedup window of the delivery ledger (its bucket TTL). A redelivery of an acknowledged
 * message comes back within ack_wait (a dispatcher crash) or when nats-server restarts (its
 * crash), so an hour covers both with a wide margin. Longer costs server memory: nats-server
 * 2.9 keeps every entry in its subject index (docs/delivery.md "The delivery ledger").
 */
export const LEDGER_DEFAULT_WINDOW_MS = 3_600_000;
/**
 * Endpoint health per Subscription (core/delivery-state.ts): written by dispatchers, read by
 * every dispatcher (a paused subscription runs nowhere), the operator (Subscription status)
 * and `herald status`.
 */
export const DELIVERY_STATE_BUCKET = 'herald-delivery-state';
export const DELIVERY_STATE_BUCKET_DESCRIPTION = 'Herald endpoint health per subscription';
export const DELIVERY_STATE_STREAM = `KV_${DELIVERY_STATE_BUCKET}`;
/** Standard Webhooks request ids seen by any broker replica (signed-request replay guard). */
export const REPLAY_BUCKET = 'herald-replay';
export const DLQ_STREAM = 'HERALD_DLQ';
export const ATTEMPTS_STREAM = 'HERALD_ATTEMPTS';
export const EVENT_STREAM_PREFIX = 'HERALD_EVT_';

/** Stream holding one EventType's events. Namespaces and names are DNS labels, valid in stream names. */
export function streamNameFor(namespace: string, eventType: string): string {
  return `${EVENT_STREAM_PREFIX}${namespace}_${eventType}`;
}

export function subjectFor(namespace: string, eventType: string): string {
  return `herald.evt.${namespace}.${eventType}`;
}

/** The durable consumer of a Subscription on each of its EventTypes' streams. */
export function consumerNameFor(subscription: string): string {
  return subscription;
}

export function dlqSubjectFor(namespace: string, subscription: string): string {
  return `herald.dlq.${namespace}.${subscription}`;
}

export const DLQ_SUBJECTS = 'herald.dlq.>';

export function attemptsSubjectFor(namespace: string, subscription: string): string {
  return `herald.attempts.${namespace}.${subscription}`;
}

export const ATTEMPTS_SUBJECTS = 'herald.attempts.>';

/** Dead letters queued for redelivery by `herald dlq redrive` (docs/delivery.md "Redrive"). */
export const REDRIVE_STREAM = 'HERALD_REDRIVE';

export function redriveSubjectFor(namespace: string, subscription: string): string {
  return `herald.redrive.${namespace}.${subscription}`;
}

export const REDRIVE_SUBJECTS = 'herald.redrive.>';

/** The dispatchers' shared durable on HERALD_DLQ: delivers dead letters to dead-letter sinks. */
export const DLQ_SINK_CONSUMER = 'herald-dlq-sink';
/** The dispatchers' shared durable on HERALD_REDRIVE. */
export const REDRIVE_CONSUMER = 'herald-redrive';

export const ConfigKeyPrefix = {
  EventType: 'eventtype',
  Producer: 'producer',
  Subscription: 'subscription',
} as const;
export type ConfigKeyPrefix = (typeof ConfigKeyPrefix)[keyof typeof ConfigKeyPrefix];

export function configKeyFor(prefix: ConfigKeyPrefix, namespace: string, name: string): string {
  return `${prefix}.${namespace}.${name}`;
}

/** Splits a config key back into its parts; undefined for keys Herald does not own. */
export function parseConfigKey(
  key: string,
): { prefix: ConfigKeyPrefix; namespace: string; name: string } | undefined {
  const [prefix, namespace, name, ...rest] = key.split('.');
  if (rest.length > 0 || !namespace || !name) return undefined;
  const known = Object.values(ConfigKeyPrefix) as string[];
  if (!prefix || !known.includes(prefix)) return undefined;
  return { prefix: prefix as ConfigKeyPrefix, namespace, name };
}

/**
 * `Nats-Msg-Id` for an event: the producer's namespace, `source` and `id` identify it
 * (CloudEvents: source+id is unique per event). Length-prefixed so no two triples collide.
 */
export function messageIdFor(namespace: string, source: string, id: string): string {
  // One-shot hash of the three length-prefixed parts (half the cost of a Hash object).
  return hash(
    'sha256',
    `${Buffer.byteLength(namespace)}:${namespace}${Buffer.byteLength(source)}:${source}` +
      `${Buffer.byteLength(id)}:${id}`,
    'base64url',
  );
}

/** Ledger key for a (subscription, event) pair; KV keys allow only [-/_=.a-zA-Z0-9]. */
export function ledgerKeyFor(namespace: string, subscription: string, messageId: string): string {
  return `${namespace}.${subscription}.${messageId.replace(/[^-_=a-zA-Z0-9]/g, '_')}`;
}

/** Delivery-state key of a Subscription: one record per subscription, shared by all replicas. */
export function deliveryStateKeyFor(namespace: string, subscription: string): string {
  return `${ConfigKeyPrefix.Subscription}.${namespace}.${subscription}`;
}

/**
 * Replay-guard key of a signed request: its producer and `webhook-id`, length-prefixed and
 * hashed so any id fits the KV key alphabet and no two pairs collide.
 */
export function replayKeyFor(namespace: string, producer: string, webhookId: string): string {
  const h = createHash('sha256');
  for (const part of [namespace, producer, webhookId]) {
    h.update(`${Buffer.byteLength(part)}:`);
    h.update(part);
  }
  return h.digest('base64url');
}
