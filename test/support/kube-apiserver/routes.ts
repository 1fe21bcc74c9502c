/** URL paths of the Kubernetes API, parsed into what a request addresses. */
import type { ResourceRegistry, ResourceType } from './resource-types.js';

export type Route =
  | { kind: 'version' }
  | { kind: 'health' }
  | { kind: 'root' }
  | { kind: 'core-versions' }
  | { kind: 'groups' }
  | { kind: 'group'; group: string }
  | { kind: 'resource-list'; group: string; version: string }
  | { kind: 'openapi-v2' }
  | { kind: 'openapi-v3-root' }
  | { kind: 'openapi-v3'; group: string; version: string }
  | {
      kind: 'resource';
      rt: ResourceType;
      namespace?: string;
      name?: string;
      subresource?: string;
    }
  | { kind: 'unknown' };

function resourceRoute(
  registry: ResourceRegistry,
  group: string,
  version: string,
  segments: string[],
): Route {
  const [first, second, third, fourth, fifth, ...rest] = segments;
  if (first === undefined) return { kind: 'resource-list', group, version };
  // /namespaces/<ns>/<resource>[/<name>[/<subresource>]] when <resource> is namespaced.
  if (first === 'namespaces' && second !== undefined && third !== undefined) {
    const rt = registry.find(group, version, third);
    if (rt?.namespaced && rest.length === 0) {
      return { kind: 'resource', rt, namespace: second, name: fourth, subresource: fifth };
    }
  }
  const rt = registry.find(group, version, first);
  if (!rt || (third !== undefined && fourth !== undefined)) return { kind: 'unknown' };
  if (third !== undefined && fourth === undefined && rest.length === 0 && !rt.namespaced) {
    return { kind: 'resource', rt, name: second, subresource: third };
  }
  if (third !== undefined) return { kind: 'unknown' };
  // A namespaced resource without a namespace: lists and watches across all namespaces.
  return { kind: 'resource', rt, name: second };
}

export function parseRoute(registry: ResourceRegistry, pathname: string): Route {
  const segments = pathname
    .split('/')
    .filter((s) => s.length > 0)
    .map(decodeURIComponent);
  const [head, a, b, ...rest] = segments;
  switch (head) {
    case undefined:
      return { kind: 'root' };
    case 'version':
      return segments.length === 1 ? { kind: 'version' } : { kind: 'unknown' };
    case 'healthz':
    case 'livez':
    case 'readyz':
      return { kind: 'health' };
    case 'openapi':
      if (a === 'v2') return { kind: 'openapi-v2' };
      if (a === 'v3' && b === undefined) return { kind: 'openapi-v3-root' };
      if (a === 'v3' && b === 'api' && rest.length === 1) {
        return { kind: 'openapi-v3', group: '', version: rest[0] ?? '' };
      }
      if (a === 'v3' && b === 'apis' && rest.length === 2) {
        return { kind: 'openapi-v3', group: rest[0] ?? '', version: rest[1] ?? '' };
      }
      return { kind: 'unknown' };
    case 'api':
      if (a === undefined) return { kind: 'core-versions' };
      return resourceRoute(registry, '', a, b === undefined ? [] : [b, ...rest]);
    case 'apis':
      if (a === undefined) return { kind: 'groups' };
      if (b === undefined) return { kind: 'group', group: a };
      return resourceRoute(registry, a, b, rest);
    default:
      return { kind: 'unknown' };
  }
}
