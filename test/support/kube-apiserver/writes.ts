/**
 * The rules every write follows, kept apart from HTTP: server-owned metadata, resourceVersion
 * preconditions (409), generation bumped only by spec changes, the status subresource owning
 * status, finalizers and deletionTimestamp (admission.ts validates), and the "namespace
 * controller" / "CRD controller" that finish deleting what was waiting on contents.
 */
import { admit, checkName, checkNamespace, toStorage } from './admission.js';
import { ApiError, STALE_OBJECT, StatusReason, badRequest, conflict, invalid } from './errors.js';
import {
  cloneJson,
  equalJson,
  formatTime,
  generateNameSuffix,
  isMap,
  newUid,
  omitMetadataAndStatus,
  type KubeObject,
} from './objects.js';
import type { ResourceRegistry, ResourceType } from './resource-types.js';
import type { ObjectStore } from './store.js';
import { CRD_CLEANUP_FINALIZER } from './crds.js';

/** Per-request knobs from the query string, and warnings to send back. */
export interface WriteOptions {
  dryRun: boolean;
  /** Strict | Warn | Ignore (fieldValidation). */
  fieldValidation: string;
  warnings: string[];
}

const SERVER_OWNED_META = [
  'uid',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'resourceVersion',
  'namespace',
  'name',
  'selfLink',
] as const;

export class Writer {
  private readonly pending = new Set<NodeJS.Timeout>();

  /**
   * `cleanupDelayMs`: how long the "namespace controller" and "CRD controller" wait before
   * deleting the contents of a namespace or CRD being deleted. Real controllers act a moment
   * later too, so `kubectl delete -f dir/` still finds (and deletes) each object it lists.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly registry: ResourceRegistry,
    private readonly cleanupDelayMs: number,
  ) {}

  /** Cancels pending cleanups (the server is closing). */
  stop(): void {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }

  private later(task: () => void): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      task();
    }, this.cleanupDelayMs);
    this.pending.add(timer);
  }

  /** The stored shape of an incoming object, with apiVersion/kind checked against the URL. */
  create(
    rt: ResourceType,
    namespace: string | undefined,
    incoming: unknown,
    options: WriteOptions,
  ): KubeObject {
    const obj = toStorage(rt, incoming);
    const meta = obj.metadata;
    if (rt.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace;
    } else delete meta.namespace;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${generateNameSuffix()}`;
    if (!meta.name) {
      throw invalid(rt, '', [
        {
          reason: 'FieldValueRequired',
          field: 'metadata.name',
          message: 'Required value: name or generateName is required',
        },
      ]);
    }
    const name = meta.name;
    checkName(rt, name);
    checkNamespace(this.store, rt, namespace, name);
    if (rt.crdName) {
      const crd = this.store.get(
        'customresourcedefinitions.apiextensions.k8s.io',
        undefined,
        rt.crdName,
      );
      if (crd?.metadata.deletionTimestamp) {
        throw new ApiError(
          405,
          StatusReason.MethodNotAllowed,
          `create not allowed while custom resource definition is terminating`,
        );
      }
    }
    if (this.store.get(rt.storageKey, meta.namespace, name)) {
      throw new ApiError(
        409,
        StatusReason.AlreadyExists,
        `${rt.group ? `${rt.plural}.${rt.group}` : rt.plural} "${name}" already exists`,
        {
          name,
          group: rt.group,
          kind: rt.plural,
        },
      );
    }
    if (meta.resourceVersion) {
      throw new ApiError(
        500,
        StatusReason.InternalError,
        'resourceVersion should not be set on objects to be created',
      );
    }
    meta.uid = newUid();
    meta.creationTimestamp = formatTime();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.selfLink;
    if (rt.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    // With a status subresource, status is the controller's: create never sets it.
    if (rt.statusSubresource && rt.crdName) delete obj.status;
    admit(rt, obj, undefined, options);
    if (options.dryRun) return obj;
    return this.commit(rt, obj, 'ADDED');
  }

  /**
   * Turns `incoming` (a PUT body, or the result of a patch) into the next stored object:
   * resourceVersion precondition, server-owned metadata kept, status routed by subresource,
   * generation bumped on spec changes, then validation. `patch` skips the rule that an
   * update must name the resourceVersion it read.
   */
  update(
    rt: ResourceType,
    old: KubeObject,
    incoming: unknown,
    options: WriteOptions & { subresource?: string; patch?: boolean },
  ): KubeObject {
    const proposed = toStorage(rt, incoming);
    const name = old.metadata.name ?? '';
    if (proposed.metadata.name !== undefined && proposed.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${proposed.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (
      rt.namespaced &&
      proposed.metadata.namespace !== undefined &&
      proposed.metadata.namespace !== '' &&
      proposed.metadata.namespace !== old.metadata.namespace
    ) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const rv = proposed.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion)
      throw conflict(rt, name, STALE_OBJECT);
    if ((rv === undefined || rv === '') && rt.requireResourceVersion && !options.patch) {
      throw invalid(rt, name, [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          message: 'Invalid value: 0x0: must be specified for an update',
        },
      ]);
    }
    let next: KubeObject;
    if (options.subresource === 'status') {
      next = cloneJson(old);
      if (proposed.status === undefined) delete next.status;
      else next.status = proposed.status;
    } else {
      next = proposed;
      if (rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = cloneJson(old.status);
      }
      const meta: Record<string, unknown> = next.metadata;
      for (const field of SERVER_OWNED_META) {
        if (old.metadata[field] === undefined) delete meta[field];
        else meta[field] = old.metadata[field];
      }
      next.metadata.managedFields = old.metadata.managedFields;
      if (next.metadata.managedFields === undefined) delete next.metadata.managedFields;
    }
    admit(rt, next, old, options);
    if (rt.tracksGeneration) {
      const keepStatus = !rt.statusSubresource;
      if (
        !equalJson(omitMetadataAndStatus(old, keepStatus), omitMetadataAndStatus(next, keepStatus))
      ) {
        next.metadata.generation = (old.metadata.generation ?? 0) + 1;
      }
    }
    if (equalJson(old, next) || options.dryRun) return next;
    return this.commit(rt, next, 'MODIFIED');
  }

  /**
   * DELETE: an object with finalizers only gets deletionTimestamp (once) and waits; without
   * them it is removed. Namespaces and CRDs first delete what they contain.
   */
  delete(rt: ResourceType, old: KubeObject, options: Pick<WriteOptions, 'dryRun'>): KubeObject {
    const waits = (old.metadata.finalizers ?? []).length > 0 || rt.plural === 'namespaces';
    if (options.dryRun) return old;
    if (!waits) return this.commit(rt, old, 'DELETED');
    if (old.metadata.deletionTimestamp) return old;
    const next = cloneJson(old);
    next.metadata.deletionTimestamp = formatTime();
    next.metadata.deletionGracePeriodSeconds = 0;
    if (rt.plural === 'namespaces')
      next.status = { ...(isMap(next.status) ? next.status : {}), phase: 'Terminating' };
    rt.hooks.prepare?.(next, old);
    const marked = this.commit(rt, next, 'MODIFIED');
    if (rt.plural === 'namespaces')
      this.later(() => this.emptyNamespace(marked.metadata.name ?? ''));
    if (rt.plural === 'customresourcedefinitions') this.later(() => this.emptyCrd(marked));
    return marked;
  }

  private commit(
    rt: ResourceType,
    obj: KubeObject,
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
  ): KubeObject {
    const deleting =
      type === 'DELETED' ||
      (obj.metadata.deletionTimestamp !== undefined &&
        (obj.metadata.finalizers ?? []).length === 0 &&
        rt.plural !== 'namespaces');
    const stored = deleting
      ? this.store.remove(rt.storageKey, obj)
      : this.store.put(rt.storageKey, obj, type);
    rt.hooks.afterCommit?.(stored, deleting ? 'DELETED' : type);
    if (deleting) this.finishTerminations(stored);
    return stored;
  }

  /** After a removal, completes namespace or CRD deletions that were waiting on it. */
  private finishTerminations(removed: KubeObject): void {
    const namespace = removed.metadata.namespace;
    if (namespace !== undefined) {
      const ns = this.store.get('namespaces', undefined, namespace);
      if (
        ns?.metadata.deletionTimestamp &&
        !this.store.hasObjectsIn(namespace) &&
        (ns.metadata.finalizers ?? []).length === 0
      ) {
        this.commit(this.typeOf('namespaces'), ns, 'DELETED');
      }
    }
    for (const crd of this.store.list('customresourcedefinitions.apiextensions.k8s.io')) {
      if (crd.metadata.deletionTimestamp) this.releaseCrdIfEmpty(crd);
    }
  }

  private typeOf(storageKey: string): ResourceType {
    const rt = this.registry.byStorageKey(storageKey)[0];
    if (!rt) throw new Error(`no resource type for ${storageKey}`);
    return rt;
  }

  private emptyNamespace(namespace: string): void {
    for (const rt of this.registry.all()) {
      if (!rt.namespaced || this.registry.byStorageKey(rt.storageKey)[0] !== rt) continue;
      for (const obj of this.store.list(rt.storageKey, namespace))
        this.delete(rt, obj, { dryRun: false });
    }
    const ns = this.store.get('namespaces', undefined, namespace);
    if (ns && !this.store.hasObjectsIn(namespace) && (ns.metadata.finalizers ?? []).length === 0) {
      this.commit(this.typeOf('namespaces'), ns, 'DELETED');
    }
  }

  private emptyCrd(crd: KubeObject): void {
    const storageKey = `${String(readSpec(crd, 'names', 'plural'))}.${String(readSpec(crd, 'group'))}`;
    const rt = this.registry.byStorageKey(storageKey)[0];
    if (rt) for (const obj of this.store.list(storageKey)) this.delete(rt, obj, { dryRun: false });
    this.releaseCrdIfEmpty(crd);
  }

  private releaseCrdIfEmpty(crd: KubeObject): void {
    const storageKey = `${String(readSpec(crd, 'names', 'plural'))}.${String(readSpec(crd, 'group'))}`;
    const current = this.store.get(
      'customresourcedefinitions.apiextensions.k8s.io',
      undefined,
      crd.metadata.name ?? '',
    );
    if (!current || this.store.list(storageKey).length > 0) return;
    const finalizers = current.metadata.finalizers ?? [];
    if (!finalizers.includes(CRD_CLEANUP_FINALIZER)) return;
    current.metadata.finalizers = finalizers.filter((f) => f !== CRD_CLEANUP_FINALIZER);
    this.commit(this.typeOf('customresourcedefinitions.apiextensions.k8s.io'), current, 'MODIFIED');
  }
}

function readSpec(obj: KubeObject, ...path: string[]): unknown {
  let current: unknown = obj.spec;
  for (const key of path) current = isMap(current) ? current[key] : undefined;
  return current;
}
