/**
 * The operator's Kubernetes API access, through the real @kubernetes/client-node: loading a
 * kubeconfig as kubectl does, and the few writes the reconciler makes (status, finalizers).
 * Every write is a JSON merge patch; those carrying `metadata.resourceVersion` fail with 409
 * when the object changed meanwhile, and the work queue retries them.
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { GROUP, VERSION, type Kind } from '../../core/resources/types.js';

/** The finalizer that makes a deletion wait for Herald's cleanup. */
export const FINALIZER = 'herald.dev/cleanup';

export const PLURALS = {
  EventType: 'eventtypes',
  Producer: 'producers',
  Subscription: 'subscriptions',
} as const satisfies Record<Kind, string>;

export interface KubeClients {
  kc: KubeConfig;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
}

/**
 * Like kubectl: the given kubeconfig file; else, in a pod, the service account; else
 * KUBECONFIG or ~/.kube/config (client-node's loadFromDefault reads those).
 */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  return kc;
}

export function createKubeClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call, if it was one. */
export function statusCodeOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusCodeOf(err) === 409;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON merge patch (RFC 7386) that turns `before` into `after`: keys that vanished are set
 * to null (a merge patch would otherwise keep them), nested objects are diffed, anything else
 * (arrays included) is replaced whole.
 */
export function buildMergePatch(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    patch[key] = isPlainObject(old) && isPlainObject(value) ? buildMergePatch(old, value) : value;
  }
  return patch;
}

/** Makes `.status` equal `status` through the status subresource (a merge patch from `previous`). */
export async function patchStatus(
  clients: KubeClients,
  kind: Kind,
  namespace: string,
  name: string,
  status: Record<string, unknown>,
  previous: Record<string, unknown> = {},
): Promise<void> {
  await clients.custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURALS[kind],
      name,
      body: { status: buildMergePatch(previous, status) },
    },
    mergePatch,
  );
}

/** Sets the finalizer list, if the object is still at `resourceVersion` (else 409). */
export async function patchFinalizers(
  clients: KubeClients,
  kind: Kind,
  namespace: string,
  name: string,
  finalizers: string[],
  resourceVersion: string | undefined,
): Promise<void> {
  await clients.custom.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURALS[kind],
      name,
      body: { metadata: { finalizers, ...(resourceVersion && { resourceVersion }) } },
    },
    mergePatch,
  );
}
