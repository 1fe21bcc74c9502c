/**
 * Reading and writing the compiled config in KV `herald-config`. The operator writes with
 * `writeCompiledConfig` (only entries that changed); brokers and dispatchers keep a live
 * `ConfigCache` through `watchConfig`.
 */
import { EventEmitter } from 'node:events';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { CONFIG_BUCKET, ConfigKeyPrefix, configKeyFor, parseConfigKey } from '../topology.js';
import {
  CONFIG_FORMAT,
  type CompiledConfig,
  type CompiledEntry,
  type CompiledEventType,
  type CompiledProducer,
  type CompiledSubscription,
} from './model.js';

/**
 * Opens (creating when absent) the config bucket. One revision per key is all readers need.
 * `replicas` applies only when it is created: the operator keeps an existing one in line.
 */
export async function openConfigBucket(js: JetStreamClient, replicas = 1): Promise<KV> {
  return new Kvm(js).create(CONFIG_BUCKET, { history: 1, replicas });
}

function keyOf(prefix: ConfigKeyPrefix, entry: CompiledEntry): string {
  return configKeyFor(prefix, entry.namespace, entry.name);
}

/** Every key→JSON text of the desired config. */
export function serializeCompiledConfig(config: CompiledConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of config.eventTypes)
    out.set(keyOf(ConfigKeyPrefix.EventType, e), JSON.stringify(e));
  for (const p of config.producers) out.set(keyOf(ConfigKeyPrefix.Producer, p), JSON.stringify(p));
  for (const s of config.subscriptions) {
    out.set(keyOf(ConfigKeyPrefix.Subscription, s), JSON.stringify(s));
  }
  return out;
}

/** Reads every live Herald entry of the bucket as key→JSON text. */
export async function readConfigEntries(kv: KV): Promise<Map<string, string>> {
  const current = new Map<string, string>();
  const keys: string[] = [];
  for await (const k of await kv.keys()) if (parseConfigKey(k)) keys.push(k);
  for (const k of keys) {
    const e = await kv.get(k);
    if (e && e.operation === 'PUT') current.set(k, e.string());
  }
  return current;
}

export interface ConfigWriteResult {
  put: string[];
  deleted: string[];
}

/** Makes the bucket hold exactly `config`, touching only keys whose value differs. */
export async function writeCompiledConfig(
  kv: KV,
  config: CompiledConfig,
): Promise<ConfigWriteResult> {
  const desired = serializeCompiledConfig(config);
  const current = await readConfigEntries(kv);
  const result: ConfigWriteResult = { put: [], deleted: [] };
  for (const [k, v] of desired) {
    if (current.get(k) === v) continue;
    await kv.put(k, v);
    result.put.push(k);
  }
  for (const k of current.keys()) {
    if (desired.has(k)) continue;
    await kv.delete(k);
    result.deleted.push(k);
  }
  return result;
}

export interface ConfigChange {
  key: string;
  prefix: ConfigKeyPrefix;
  namespace: string;
  name: string;
  /** The new value; undefined when the entry was deleted. */
  value: CompiledEntry | undefined;
  previous: CompiledEntry | undefined;
}

const nsName = (namespace: string, name: string): string => `${namespace}/${name}`;

/**
 * Drops an index entry only while it still points at `owner`. The writer puts new keys before
 * deleting old ones, so after a rename the index already points at the new entry and a
 * blind delete would make a live type (or API key) vanish.
 */
function deleteIfOwnedBy<V>(index: Map<string, V>, key: string, owner: V): void {
  if (index.get(key) === owner) index.delete(key);
}

/**
 * The live view of the config a broker or dispatcher works from. Lookups on the hot path
 * (event type by CloudEvents type, producer by API key hash) are single map reads.
 * Emits `change` (ConfigChange) after each applied entry.
 */
export class ConfigCache extends EventEmitter<{ change: [ConfigChange] }> {
  readonly eventTypes = new Map<string, CompiledEventType>();
  readonly producers = new Map<string, CompiledProducer>();
  readonly subscriptions = new Map<string, CompiledSubscription>();
  private readonly eventTypesByCeType = new Map<string, CompiledEventType>();
  private readonly producersByApiKeyHash = new Map<string, CompiledProducer>();
  /** True once the bucket's initial contents have been read. */
  loaded = false;

  findEventType(namespace: string, name: string): CompiledEventType | undefined {
    return this.eventTypes.get(nsName(namespace, name));
  }

  findEventTypeByCeType(namespace: string, ceType: string): CompiledEventType | undefined {
    return this.eventTypesByCeType.get(`${namespace}\0${ceType}`);
  }

  findProducerByApiKeyHash(hash: string): CompiledProducer | undefined {
    return this.producersByApiKeyHash.get(hash);
  }

  findSubscription(namespace: string, name: string): CompiledSubscription | undefined {
    return this.subscriptions.get(nsName(namespace, name));
  }

  /** Applies one KV entry (value undefined = deleted). Unknown keys and other formats are ignored. */
  applyEntry(key: string, value: CompiledEntry | undefined): void {
    const parsed = parseConfigKey(key);
    if (!parsed) return;
    if (value !== undefined && value.format !== CONFIG_FORMAT) return;
    const id = nsName(parsed.namespace, parsed.name);
    let previous: CompiledEntry | undefined;
    switch (parsed.prefix) {
      case ConfigKeyPrefix.EventType: {
        const old = this.eventTypes.get(id);
        previous = old;
        if (old) deleteIfOwnedBy(this.eventTypesByCeType, `${old.namespace}\0${old.type}`, old);
        if (value) {
          const et = value as CompiledEventType;
          this.eventTypes.set(id, et);
          this.eventTypesByCeType.set(`${et.namespace}\0${et.type}`, et);
        } else this.eventTypes.delete(id);
        break;
      }
      case ConfigKeyPrefix.Producer: {
        const old = this.producers.get(id);
        previous = old;
        for (const h of old?.apiKeyHashes ?? [])
          deleteIfOwnedBy(this.producersByApiKeyHash, h, old);
        if (value) {
          const p = value as CompiledProducer;
          this.producers.set(id, p);
          for (const h of p.apiKeyHashes) this.producersByApiKeyHash.set(h, p);
        } else this.producers.delete(id);
        break;
      }
      case ConfigKeyPrefix.Subscription: {
        previous = this.subscriptions.get(id);
        if (value) this.subscriptions.set(id, value as CompiledSubscription);
        else this.subscriptions.delete(id);
        break;
      }
    }
    this.emit('change', { key, ...parsed, value, previous });
  }
}

export interface ConfigWatch {
  cache: ConfigCache;
  stop(): void;
}

/**
 * Loads the bucket into a ConfigCache and keeps it current. Resolves once the initial
 * contents are in (an empty bucket counts as loaded).
 */
export async function watchConfig(
  kv: KV,
  onError: (err: unknown) => void = () => {},
): Promise<ConfigWatch> {
  const cache = new ConfigCache();
  const status = await kv.status();
  const iter = await kv.watch({ key: '>' });
  let markLoaded!: () => void;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  if (status.values === 0) markLoaded();
  void (async () => {
    for await (const e of iter) {
      try {
        const value = e.operation === 'PUT' ? (e.json<CompiledEntry>() ?? undefined) : undefined;
        cache.applyEntry(e.key, value);
      } catch (err) {
        onError(err);
      }
      // delta is the count of initial entries still pending; 0 marks the last one. (nats.js
      // flags that last initial entry isUpdate, so isUpdate cannot tell it apart; later
      // updates also have delta 0, where resolving again is a no-op.)
      if (e.delta === 0) markLoaded();
    }
  })().catch(onError);
  await loaded;
  cache.loaded = true;
  return { cache, stop: () => iter.stop() };
}
