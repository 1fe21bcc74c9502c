/**
 * Endpoint health per Subscription (DESIGN.md §2 status `delivery`), in KV
 * `herald-delivery-state`, one JSON record per subscription under `subscription.<ns>.<name>`.
 * Dispatchers write it (several replicas write the same key, so every write is a
 * compare-and-set that re-reads and merges on conflict); every dispatcher watches it, because
 * a paused subscription must run on no replica; the operator copies it into the
 * Subscription's status; `herald status` and `herald resume` read and lift it.
 */
import { EventEmitter } from 'node:events';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import {
  DELIVERY_STATE_BUCKET,
  DELIVERY_STATE_BUCKET_DESCRIPTION,
  deliveryStateKeyFor,
} from './topology.js';

/** Bumped when the stored shape changes incompatibly; readers treat other versions as absent. */
export const DELIVERY_STATE_FORMAT = 1;

/** Why a subscription was paused, as a stable code (the operator's condition reason). */
export const PauseCode = {
  /** The sink answered 410 Gone: it asked for no more deliveries. */
  SinkGone: 'SinkGone',
  /** Only failures for `delivery.autoPauseAfter`. */
  FailingTooLong: 'FailingTooLong',
} as const;
export type PauseCode = (typeof PauseCode)[keyof typeof PauseCode];

/** One subscription's endpoint health. Times are RFC 3339 (UTC, milliseconds). */
export interface DeliveryState {
  format: typeof DELIVERY_STATE_FORMAT;
  namespace: string;
  name: string;
  /** The Subscription generation the writing dispatcher ran (the highest seen). */
  generation: number;
  lastSuccessTime?: string;
  lastFailureTime?: string;
  /** HTTP status of the last attempt; absent when it got no response. */
  lastStatus?: number;
  /** The last attempt's failure when it failed: `timeout: …`, `network: …`, `sink answered HTTP 503`. */
  lastError?: string;
  /** Failed attempts since the last success (across replicas; see docs/delivery.md). */
  consecutiveFailures: number;
  /** The first failure after the last success (or after a resume): the auto-pause clock. */
  failingSince?: string;
  pausedReason?: string;
  pausedCode?: PauseCode;
  pausedAt?: string;
  /** The generation paused; a Subscription edited past it is resumed. */
  pausedGeneration?: number;
  /** When the last pause was lifted. */
  resumedAt?: string;
  /**
   * The webhook validation handshake (sink.verification: handshake), as the last dispatcher to
   * ask saw it: `verified`, `pending` or `refused`, why, and since when.
   */
  sinkVerification?: {
    status: string;
    reason: string;
    message: string;
    since: string;
    /** scheme://host:port of the sink the verdict is about (a changed sink is asked anew). */
    sinkOrigin?: string;
  };
  updatedAt: string;
}

/** A record as stored, with its KV revision; `state` is absent for a deleted or unreadable one. */
export interface StoredDeliveryState {
  state?: DeliveryState;
  revision: number;
}

export const DeliveryStateErrorCode = {
  /** Other writers kept changing the record: no compare-and-set succeeded within the tries. */
  Contended: 'ERR_DELIVERY_STATE_CONTENDED',
} as const;
export type DeliveryStateErrorCode =
  (typeof DeliveryStateErrorCode)[keyof typeof DeliveryStateErrorCode];

export class DeliveryStateError extends Error {
  readonly code: DeliveryStateErrorCode;
  constructor(code: DeliveryStateErrorCode, message: string) {
    super(message);
    this.name = 'DeliveryStateError';
    this.code = code;
  }
}

export const toTime = (ms: number): string => new Date(ms).toISOString();
/** Milliseconds of an RFC 3339 time; undefined for absent or unparsable. */
export function timeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export function createDeliveryState(
  namespace: string,
  name: string,
  generation: number,
  nowMs: number,
): DeliveryState {
  return {
    format: DELIVERY_STATE_FORMAT,
    namespace,
    name,
    generation,
    consecutiveFailures: 0,
    updatedAt: toTime(nowMs),
  };
}

/** Whether `state` holds `generation` back: paused, and not edited since the pause. */
export function isPauseInEffect(state: DeliveryState | undefined, generation: number): boolean {
  if (state?.pausedReason === undefined) return false;
  return state.pausedGeneration === undefined || generation <= state.pausedGeneration;
}

/**
 * The record with its pause lifted. The auto-pause clock restarts (failingSince cleared);
 * consecutiveFailures stays, it is still the truth about the endpoint until a success.
 */
export function liftPause(state: DeliveryState, nowMs: number): DeliveryState {
  const next: DeliveryState = { ...state, resumedAt: toTime(nowMs), updatedAt: toTime(nowMs) };
  delete next.pausedReason;
  delete next.pausedCode;
  delete next.pausedAt;
  delete next.pausedGeneration;
  delete next.failingSince;
  return next;
}

/** Parses a stored record; undefined when it is not one this version reads. */
export function parseDeliveryState(text: string): DeliveryState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<DeliveryState>;
  if (v.format !== DELIVERY_STATE_FORMAT) return undefined;
  if (typeof v.namespace !== 'string' || typeof v.name !== 'string') return undefined;
  if (typeof v.generation !== 'number' || typeof v.consecutiveFailures !== 'number') {
    return undefined;
  }
  return v as DeliveryState;
}

/** Opens the bucket, creating it when nobody has yet (the operator creates it the same way). */
export function openDeliveryStateBucket(js: JetStreamClient, replicas = 1): Promise<KV> {
  return new Kvm(js).create(DELIVERY_STATE_BUCKET, {
    history: 1,
    replicas,
    description: DELIVERY_STATE_BUCKET_DESCRIPTION,
  });
}

/** Opens the bucket without creating it (read-only tools); undefined when it does not exist. */
export async function findDeliveryStateBucket(js: JetStreamClient): Promise<KV | undefined> {
  const kv = await new Kvm(js).open(DELIVERY_STATE_BUCKET);
  try {
    await kv.status();
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      return undefined;
    }
    throw err;
  }
  return kv;
}

export async function readDeliveryState(
  kv: KV,
  namespace: string,
  name: string,
): Promise<StoredDeliveryState | undefined> {
  const e = await kv.get(deliveryStateKeyFor(namespace, name));
  if (!e) return undefined;
  if (e.operation !== 'PUT') return { revision: e.revision };
  const state = parseDeliveryState(e.string());
  return state ? { state, revision: e.revision } : { revision: e.revision };
}

/** Every live record in the bucket. */
export async function listDeliveryStates(kv: KV): Promise<DeliveryState[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  const out: DeliveryState[] = [];
  for (const k of keys) {
    const e = await kv.get(k);
    const state = e?.operation === 'PUT' ? parseDeliveryState(e.string()) : undefined;
    if (state) out.push(state);
  }
  return out;
}

const isCasConflict = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
    err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

export interface UpdateDeliveryStateOptions {
  /** What the caller believes is stored (saves a read); a stale one only costs a retry. */
  known?: StoredDeliveryState;
  /** Compare-and-set tries before giving up (DeliveryStateError Contended). Default 10. */
  maxTries?: number;
}

/**
 * Read-modify-write with compare-and-set: `change` gets the current record (undefined when
 * there is none) and returns the next one, or undefined to write nothing. On a conflict
 * (another replica wrote meanwhile) the record is read again and `change` runs again, so it
 * must merge rather than overwrite. Resolves with what is stored afterwards.
 */
export async function updateDeliveryState(
  kv: KV,
  namespace: string,
  name: string,
  change: (current: DeliveryState | undefined) => DeliveryState | undefined,
  options: UpdateDeliveryStateOptions = {},
): Promise<StoredDeliveryState | undefined> {
  const key = deliveryStateKeyFor(namespace, name);
  let current = options.known ?? (await readDeliveryState(kv, namespace, name));
  const maxTries = options.maxTries ?? 10;
  for (let tryNo = 1; tryNo <= maxTries; tryNo++) {
    const next = change(current?.state);
    if (next === undefined) return current;
    const text = JSON.stringify(next);
    try {
      const revision = current?.revision
        ? await kv.update(key, text, current.revision)
        : await kv.create(key, text);
      return { state: next, revision };
    } catch (err) {
      if (!isCasConflict(err)) throw err;
      current = await readDeliveryState(kv, namespace, name);
    }
  }
  throw new DeliveryStateError(
    DeliveryStateErrorCode.Contended,
    `the delivery state of ${namespace}/${name} kept changing; gave up after ${maxTries} tries`,
  );
}

export function deleteDeliveryState(kv: KV, namespace: string, name: string): Promise<void> {
  return kv.delete(deliveryStateKeyFor(namespace, name));
}

export interface DeliveryStateChange {
  namespace: string;
  name: string;
  state: DeliveryState | undefined;
  previous: DeliveryState | undefined;
}

/**
 * The latest known record per subscription: fed by the bucket watch and by the holder's own
 * writes (so it does not wait for the echo). The higher revision wins, whichever came first.
 * Emits `change` when a record changes.
 */
export class DeliveryStateView extends EventEmitter<{ change: [DeliveryStateChange] }> {
  private readonly entries = new Map<
    string,
    StoredDeliveryState & { namespace: string; name: string }
  >();

  get(namespace: string, name: string): StoredDeliveryState | undefined {
    return this.entries.get(`${namespace}/${name}`);
  }

  /** Every live record. */
  *states(): IterableIterator<DeliveryState> {
    for (const e of this.entries.values()) if (e.state) yield e.state;
  }

  /** Takes `stored` when it is newer than what is held; true when it was taken. */
  apply(namespace: string, name: string, stored: StoredDeliveryState): boolean {
    const id = `${namespace}/${name}`;
    const held = this.entries.get(id);
    if (held && held.revision >= stored.revision) return false;
    this.entries.set(id, { ...stored, namespace, name });
    this.emit('change', { namespace, name, state: stored.state, previous: held?.state });
    return true;
  }
}

export interface DeliveryStateWatch {
  view: DeliveryStateView;
  stop(): void;
}

/** Loads the bucket into a DeliveryStateView and keeps it current; resolves once loaded. */
export async function watchDeliveryStates(
  kv: KV,
  onError: (err: unknown) => void = () => {},
): Promise<DeliveryStateWatch> {
  const view = new DeliveryStateView();
  const status = await kv.status();
  const iter = await kv.watch({ key: '>' });
  let markLoaded!: () => void;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  if (status.values === 0) markLoaded();
  void (async () => {
    for await (const e of iter) {
      try {
        const [prefix, namespace, name, ...rest] = e.key.split('.');
        if (prefix && namespace && name && rest.length === 0) {
          const state = e.operation === 'PUT' ? parseDeliveryState(e.string()) : undefined;
          view.apply(
            namespace,
            name,
            state ? { state, revision: e.revision } : { revision: e.revision },
          );
        }
      } catch (err) {
        onError(err);
      }
      // As in watchConfig: delta 0 marks the last initial entry (and every later update).
      if (e.delta === 0) markLoaded();
    }
  })().catch(onError);
  await loaded;
  return { view, stop: () => iter.stop() };
}
