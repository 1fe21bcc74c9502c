/**
 * The REST verbs on one resource: get, list (selectors, limit/continue), create, update,
 * patch (four content types), delete and deletecollection. Each returns the HTTP status and
 * body; the rules of writing live in writes.ts.
 */
import { parse as parseYaml } from 'yaml';
import {
  ApiError,
  StatusReason,
  badRequest,
  conflict,
  expired,
  makeStatus,
  methodNotAllowed,
  notFound,
} from './errors.js';
import { isMap, type JsonMap, type KubeObject } from './objects.js';
import { decodeKubernetesProtobuf } from './protobuf.js';
import {
  PatchError,
  PatchType,
  applyConfiguration,
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
} from './patch.js';
import { apiVersionOf, type ResourceType } from './resource-types.js';
import {
  FIELD_SELECTORS,
  parseFieldSelector,
  parseLabelSelector,
  type Matcher,
} from './selectors.js';
import { objectSortKey, type ObjectStore } from './store.js';
import type { WriteOptions, Writer } from './writes.js';

export interface ResourceRequest {
  rt: ResourceType;
  /** Undefined for cluster-scoped resources, and for lists across all namespaces. */
  namespace?: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
  body: Buffer;
  contentType: string;
}

export interface RestResult {
  code: number;
  body: unknown;
  warnings?: string[];
}

/** The shape clients see: this version's fields, apiVersion and kind first. */
export function presentObject(rt: ResourceType, stored: KubeObject, typed = true): KubeObject {
  const converted = rt.hooks.fromStorage ? rt.hooks.fromStorage(stored) : stored;
  const { apiVersion: _a, kind: _k, ...rest } = converted;
  return typed ? { apiVersion: apiVersionOf(rt), kind: rt.kind, ...rest } : (rest as KubeObject);
}

/** Matches objects against the request's labelSelector and fieldSelector. */
export function makeMatcher(rt: ResourceType, query: URLSearchParams): Matcher {
  const labels = parseLabelSelector(query.get('labelSelector'));
  const fields = parseFieldSelector(
    query.get('fieldSelector'),
    FIELD_SELECTORS[rt.storageKey] ?? [],
  );
  return (obj) => labels(obj) && fields(obj);
}

function parseBody(req: ResourceRequest): unknown {
  if (/protobuf|cbor/.test(req.contentType)) {
    const decoded = /protobuf/.test(req.contentType)
      ? decodeKubernetesProtobuf(req.body)
      : undefined;
    if (decoded) return decoded;
    throw new ApiError(
      415,
      StatusReason.UnsupportedMediaType,
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    );
  }
  const text = req.body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return /yaml/.test(req.contentType) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding request body: ${(err as Error).message}`);
  }
}

function writeOptions(query: URLSearchParams): WriteOptions {
  const fieldValidation = query.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(fieldValidation)) {
    throw badRequest(
      `fieldValidation: Unsupported value: "${fieldValidation}": supported values: "Ignore", "Strict", "Warn"`,
    );
  }
  return { dryRun: query.get('dryRun') === 'All', fieldValidation, warnings: [] };
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeContinue(text: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as ContinueToken;
    if (typeof token.rv === 'number' && typeof token.start === 'string') return token;
  } catch {
    // fall through
  }
  throw badRequest(
    'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
  );
}

/** Server-side apply bookkeeping: each manager's last applied configuration, per object uid. */
export type AppliedConfigurations = Map<string, Map<string, JsonMap>>;

export class ResourceHandler {
  constructor(
    private readonly store: ObjectStore,
    private readonly writer: Writer,
    private readonly applied: AppliedConfigurations,
  ) {}

  private load(req: ResourceRequest): KubeObject {
    const obj = this.store.get(req.rt.storageKey, req.namespace, req.name ?? '');
    if (!obj) throw notFound(req.rt, req.name ?? '');
    return obj;
  }

  get(req: ResourceRequest): RestResult {
    return { code: 200, body: presentObject(req.rt, this.load(req)) };
  }

  /** A list, with `metadata.resourceVersion` to watch from; `limit`/`continue` paginate. */
  list(req: ResourceRequest): { items: KubeObject[]; metadata: JsonMap } {
    const { rt, query } = req;
    const matches = makeMatcher(rt, query);
    const continueText = query.get('continue');
    const token = continueText ? decodeContinue(continueText) : undefined;
    if (token && token.rv < this.store.compactedRevision) {
      throw expired(
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
      );
    }
    let items = this.store.list(rt.storageKey, req.namespace).filter(matches);
    if (token) items = items.filter((o) => objectSortKey(o) > token.start);
    const revision = token?.rv ?? this.store.currentRevision;
    const metadata: JsonMap = { resourceVersion: String(revision) };
    const limit = Number(query.get('limit') ?? 0);
    if (limit > 0 && items.length > limit) {
      const page = items.slice(0, limit);
      const last = page[page.length - 1];
      metadata.continue = encodeContinue({ rv: revision, start: last ? objectSortKey(last) : '' });
      metadata.remainingItemCount = items.length - limit;
      items = page;
    }
    return { items: items.map((o) => presentObject(rt, o, rt.listItemsTyped)), metadata };
  }

  listResult(req: ResourceRequest): RestResult {
    const { items, metadata } = this.list(req);
    return {
      code: 200,
      body: { apiVersion: apiVersionOf(req.rt), kind: req.rt.listKind, metadata, items },
    };
  }

  create(req: ResourceRequest): RestResult {
    if (req.name !== undefined)
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    const options = writeOptions(req.query);
    const created = this.writer.create(req.rt, req.namespace, parseBody(req), options);
    return { code: 201, body: presentObject(req.rt, created), warnings: options.warnings };
  }

  update(req: ResourceRequest): RestResult {
    const old = this.load(req);
    const options = writeOptions(req.query);
    const next = this.writer.update(req.rt, old, parseBody(req), {
      ...options,
      subresource: req.subresource,
    });
    return { code: 200, body: presentObject(req.rt, next), warnings: options.warnings };
  }

  patch(req: ResourceRequest): RestResult {
    const type = req.contentType.split(';')[0]?.trim() ?? '';
    const options = writeOptions(req.query);
    const patch = parseBody(req);
    if (type === PatchType.Apply) return this.apply(req, patch, options);
    const old = this.load(req);
    const current = presentObject(req.rt, old);
    let patched: unknown;
    try {
      if (type === PatchType.Merge) patched = applyMergePatch(current, patch);
      else if (type === PatchType.Json) patched = applyJsonPatch(current, patch);
      else if (type === PatchType.Strategic && !req.rt.crdName)
        patched = applyStrategicMergePatch(current, patch);
      else {
        throw new ApiError(
          415,
          StatusReason.UnsupportedMediaType,
          `the body of the request was in an unknown format - accepted media types include: ${[
            PatchType.Json,
            PatchType.Merge,
            ...(req.rt.crdName ? [] : [PatchType.Strategic]),
            PatchType.Apply,
          ].join(', ')}`,
        );
      }
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      const reason = err.code === 400 ? StatusReason.BadRequest : StatusReason.Invalid;
      throw new ApiError(err.code, reason, err.message);
    }
    const next = this.writer.update(req.rt, old, patched, {
      ...options,
      subresource: req.subresource,
      patch: true,
    });
    return { code: 200, body: presentObject(req.rt, next), warnings: options.warnings };
  }

  /** Server-side apply: create when missing, else merge this manager's configuration in. */
  private apply(req: ResourceRequest, config: unknown, options: WriteOptions): RestResult {
    const manager = req.query.get('fieldManager');
    if (!manager) {
      throw new ApiError(
        422,
        StatusReason.Invalid,
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    }
    if (!isMap(config))
      throw badRequest('error decoding YAML: the applied configuration must be an object');
    const name = isMap(config.metadata) ? config.metadata.name : undefined;
    if (name !== undefined && name !== req.name) {
      throw badRequest(
        `the name of the object (${String(name)}) does not match the name on the URL (${req.name ?? ''})`,
      );
    }
    const remember = (obj: KubeObject): void => {
      if (options.dryRun || !obj.metadata.uid) return;
      const managers = this.applied.get(obj.metadata.uid) ?? new Map<string, JsonMap>();
      managers.set(manager, config);
      this.applied.set(obj.metadata.uid, managers);
    };
    const old = this.store.get(req.rt.storageKey, req.namespace, req.name ?? '');
    if (!old) {
      if (req.subresource) throw notFound(req.rt, req.name ?? '');
      const created = this.writer.create(req.rt, req.namespace, config, options);
      remember(created);
      return { code: 201, body: presentObject(req.rt, created), warnings: options.warnings };
    }
    const rv = isMap(config.metadata) ? config.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== old.metadata.resourceVersion)
      throw conflict(
        req.rt,
        req.name ?? '',
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    const previous = this.applied.get(old.metadata.uid ?? '')?.get(manager);
    const current = presentObject(req.rt, old);
    const merged = applyConfiguration(current, config, previous);
    const next = this.writer.update(req.rt, old, merged, {
      ...options,
      subresource: req.subresource,
      patch: true,
    });
    remember(next);
    return { code: 200, body: presentObject(req.rt, next), warnings: options.warnings };
  }

  delete(req: ResourceRequest): RestResult {
    const old = this.load(req);
    const body = parseBody(req);
    const preconditions = isMap(body) && isMap(body.preconditions) ? body.preconditions : {};
    if (preconditions.uid !== undefined && preconditions.uid !== old.metadata.uid) {
      throw conflict(
        req.rt,
        req.name ?? '',
        `Precondition failed: UID in precondition: ${String(preconditions.uid)}, UID in object meta: ${old.metadata.uid ?? ''}`,
      );
    }
    if (
      preconditions.resourceVersion !== undefined &&
      preconditions.resourceVersion !== old.metadata.resourceVersion
    ) {
      throw conflict(
        req.rt,
        req.name ?? '',
        `Precondition failed: ResourceVersion in precondition: ${String(preconditions.resourceVersion)}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ''}`,
      );
    }
    const dryRun =
      req.query.get('dryRun') === 'All' ||
      (isMap(body) && Array.isArray(body.dryRun) && body.dryRun.includes('All'));
    const result = this.writer.delete(req.rt, old, { dryRun });
    const gone = !dryRun && !this.store.get(req.rt.storageKey, req.namespace, req.name ?? '');
    if (gone) this.applied.delete(old.metadata.uid ?? '');
    if (gone && req.rt.deleteReturnsStatus) {
      return {
        code: 200,
        body: makeStatus(200, undefined, '', {
          name: req.name,
          group: req.rt.group,
          kind: req.rt.plural,
          uid: old.metadata.uid,
        }),
      };
    }
    return { code: 200, body: presentObject(req.rt, result) };
  }

  deleteCollection(req: ResourceRequest): RestResult {
    const dryRun = req.query.get('dryRun') === 'All';
    const matches = makeMatcher(req.rt, req.query);
    const deleted = this.store
      .list(req.rt.storageKey, req.namespace)
      .filter(matches)
      .map((obj) =>
        presentObject(req.rt, this.writer.delete(req.rt, obj, { dryRun }), req.rt.listItemsTyped),
      );
    return {
      code: 200,
      body: {
        apiVersion: apiVersionOf(req.rt),
        kind: req.rt.listKind,
        metadata: { resourceVersion: String(this.store.currentRevision) },
        items: deleted,
      },
    };
  }
}
