/**
 * The fake's etcd: objects by storage key, one global revision counter (every write takes the
 * next number as its resourceVersion, as etcd's revision does), and a bounded log of past
 * events. Watches resume from the log; a resourceVersion older than what the log keeps is
 * "compacted", and the API answers 410 Gone (reason Expired) for it, as the real one does.
 */
import { cloneJson, type KubeObject } from './objects.js';
import type { CommitType } from './resource-types.js';

export interface StoredEvent {
  revision: number;
  storageKey: string;
  type: CommitType;
  object: KubeObject;
  /** The object before this change (absent for ADDED). */
  previous?: KubeObject;
}

export type StoreListener = (event: StoredEvent) => void;

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class ObjectStore {
  private revision = 1;
  /** Events at or below this revision have been dropped from the log. */
  private compacted = 1;
  private readonly buckets = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoredEvent[] = [];
  private readonly listeners = new Set<StoreListener>();

  constructor(private readonly historyLimit: number) {}

  get currentRevision(): number {
    return this.revision;
  }

  get compactedRevision(): number {
    return this.compacted;
  }

  private bucket(storageKey: string): Map<string, KubeObject> {
    let bucket = this.buckets.get(storageKey);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(storageKey, bucket);
    }
    return bucket;
  }

  /** The stored object (a copy). */
  get(storageKey: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.buckets.get(storageKey)?.get(objectKey(namespace, name));
    return obj && cloneJson(obj);
  }

  /** Stored objects (copies), sorted by namespace then name; all namespaces when none given. */
  list(storageKey: string, namespace?: string): KubeObject[] {
    const items = [...(this.buckets.get(storageKey)?.values() ?? [])].filter(
      (obj) => namespace === undefined || obj.metadata.namespace === namespace,
    );
    return items
      .sort((a, b) => (objectSortKey(a) < objectSortKey(b) ? -1 : 1))
      .map((obj) => cloneJson(obj));
  }

  /** Whether any object of any kind lives in `namespace`. */
  hasObjectsIn(namespace: string): boolean {
    for (const bucket of this.buckets.values()) {
      for (const obj of bucket.values()) if (obj.metadata.namespace === namespace) return true;
    }
    return false;
  }

  /** Stores `obj` under the next revision and publishes ADDED or MODIFIED. */
  put(storageKey: string, obj: KubeObject, type: 'ADDED' | 'MODIFIED'): KubeObject {
    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    const bucket = this.bucket(storageKey);
    const previous = bucket.get(key);
    const stored = cloneJson(obj);
    stored.metadata.resourceVersion = String(++this.revision);
    bucket.set(key, stored);
    this.publish({ revision: this.revision, storageKey, type, object: stored, previous });
    return cloneJson(stored);
  }

  /** Removes `obj`; the DELETED event carries it with the deletion's revision. */
  remove(storageKey: string, obj: KubeObject): KubeObject {
    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    const bucket = this.bucket(storageKey);
    const previous = bucket.get(key);
    bucket.delete(key);
    const removed = cloneJson(obj);
    removed.metadata.resourceVersion = String(++this.revision);
    this.publish({
      revision: this.revision,
      storageKey,
      type: 'DELETED',
      object: removed,
      previous,
    });
    return cloneJson(removed);
  }

  /** Events after `revision`, or 'expired' when the log no longer reaches back that far. */
  eventsSince(revision: number): StoredEvent[] | 'expired' {
    if (revision < this.compacted) return 'expired';
    return this.history.filter((e) => e.revision > revision);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private publish(event: StoredEvent): void {
    this.history.push(event);
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift();
      if (dropped) this.compacted = dropped.revision;
    }
    for (const listener of [...this.listeners]) listener(event);
  }
}

/** Lists are ordered by namespace, then name, bytewise (as etcd keys are). */
export function objectSortKey(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}\u0000${obj.metadata.name ?? ''}`;
}
