/**
 * An in-memory Kubernetes API server for tests and demos (DESIGN.md §9): plain HTTP on
 * 127.0.0.1, any bearer token (or none) accepted, spoken to by the real
 * `@kubernetes/client-node` and the real `kubectl`. Typical use:
 *
 *   const api = await startKubeApiServer();          // CRDs from the repo's crds/
 *   const kc = new KubeConfig(); kc.loadFromFile(api.kubeconfigPath);
 *   ...
 *   await api.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_TYPES } from './builtins.js';
import { makeCrdType, readCrdFiles } from './crds.js';
import {
  makeApiGroup,
  makeApiGroupList,
  makeApiResourceList,
  makeApiVersions,
} from './discovery.js';
import { ApiError, StatusReason, makeStatus, methodNotAllowed } from './errors.js';
import { writeKubeconfig } from './kubeconfig.js';
import type { KubeObject } from './objects.js';
import { makeOpenApiV3Document, makeOpenApiV3Root } from './openapi.js';
import {
  ResourceHandler,
  type AppliedConfigurations,
  type ResourceRequest,
  type RestResult,
} from './rest.js';
import { ResourceRegistry } from './resource-types.js';
import { parseRoute, type Route } from './routes.js';
import { ObjectStore } from './store.js';
import { makeTable, wantsTable } from './table.js';
import { serveWatch } from './watch.js';
import { Writer } from './writes.js';

export const DEFAULT_CRDS_DIR = fileURLToPath(new URL('../../../crds/', import.meta.url));
const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export interface KubeApiServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Directory of CRD YAML registered at start; `false` for none. Default: the repo's crds/. */
  crdsDir?: string | false;
  /** Namespaces that exist from the start besides default, kube-system, kube-public, kube-node-lease. */
  namespaces?: string[];
  /** Interval of BOOKMARK events on watches that allow them. Default 60 s (kube-apiserver's order). */
  bookmarkIntervalMs?: number;
  /** Watch events kept for resuming; older resourceVersions get 410 Gone. Default 10,000. */
  watchHistory?: number;
  /** Delay before a deleted namespace's (or CRD's) contents are deleted. Default 200 ms. */
  cleanupDelayMs?: number;
  /** Where to write the kubeconfig; a new temporary directory by default. */
  kubeconfigDir?: string;
  /** Receives one line per request (method, path, status); for debugging. */
  log?: (line: string) => void;
}

export interface KubeApiServer {
  readonly url: string;
  readonly port: number;
  readonly kubeconfigPath: string;
  close(): Promise<void>;
}

const VERSION_INFO = {
  major: '1',
  minor: '35',
  emulationMajor: '1',
  emulationMinor: '35',
  minCompatibilityMajor: '1',
  minCompatibilityMinor: '34',
  gitVersion: 'v1.35.0-herald-fake',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.25.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function sendJson(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (warnings.length > 0) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startKubeApiServer(
  options: KubeApiServerOptions = {},
): Promise<KubeApiServer> {
  const store = new ObjectStore(options.watchHistory ?? 10_000);
  const registry = new ResourceRegistry();
  for (const rt of BUILTIN_TYPES) registry.add(rt);
  const crdType = makeCrdType(registry);
  registry.add(crdType);
  const writer = new Writer(store, registry, options.cleanupDelayMs ?? 200);
  const applied: AppliedConfigurations = new Map();
  const handler = new ResourceHandler(store, writer, applied);
  const settings = {
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    defaultTimeoutSeconds: 1800,
  };
  const setup = { dryRun: false, fieldValidation: 'Strict', warnings: [] };

  const namespaceType = registry.find('', 'v1', 'namespaces');
  for (const name of new Set([...DEFAULT_NAMESPACES, ...(options.namespaces ?? [])])) {
    if (namespaceType) writer.create(namespaceType, undefined, { metadata: { name } }, setup);
  }
  const crdsDir = options.crdsDir === undefined ? DEFAULT_CRDS_DIR : options.crdsDir;
  if (crdsDir !== false) {
    for (const crd of readCrdFiles(crdsDir)) writer.create(crdType, undefined, crd, setup);
  }

  let address = '';
  const answer = (route: Route): unknown => {
    switch (route.kind) {
      case 'version':
        return VERSION_INFO;
      case 'core-versions':
        return makeApiVersions(address);
      case 'groups':
        return makeApiGroupList(registry);
      case 'group':
        return makeApiGroup(registry, route.group);
      case 'resource-list':
        return makeApiResourceList(registry, route.group, route.version);
      case 'openapi-v3-root':
        return makeOpenApiV3Root(registry);
      case 'openapi-v3':
        return makeOpenApiV3Document(registry, route.group, route.version);
      case 'root':
        return { paths: ['/api', '/api/v1', '/apis', '/healthz', '/openapi/v3', '/version'] };
      default:
        return undefined;
    }
  };

  const serveResource = (
    route: Extract<Route, { kind: 'resource' }>,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: Buffer,
  ): void => {
    const request: ResourceRequest = {
      rt: route.rt,
      namespace: route.namespace,
      name: route.name,
      subresource: route.subresource,
      query: url.searchParams,
      body,
      contentType: req.headers['content-type'] ?? 'application/json',
    };
    if (
      request.subresource !== undefined &&
      !(request.subresource === 'status' && route.rt.statusSubresource)
    ) {
      throw new ApiError(
        404,
        StatusReason.NotFound,
        'the server could not find the requested resource',
      );
    }
    if (request.subresource !== undefined && (req.method === 'POST' || req.method === 'DELETE')) {
      throw methodNotAllowed('the server does not allow this method on the requested resource');
    }
    const allNamespaces = route.rt.namespaced && route.namespace === undefined;
    if (allNamespaces && (request.name !== undefined || req.method !== 'GET')) {
      throw new ApiError(
        404,
        StatusReason.NotFound,
        'the server could not find the requested resource',
      );
    }
    const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
    const asTable = wantsTable(req.headers.accept);
    let result: RestResult;
    switch (req.method) {
      case 'GET':
        if (watch) return serveWatch(store, request, req, res, { ...settings, asTable });
        if (request.name !== undefined) {
          result = handler.get(request);
          if (asTable) {
            result.body = makeTable(route.rt, [result.body as KubeObject], {}, tableOptions(url));
          }
        } else if (asTable) {
          const { items, metadata } = handler.list(request);
          result = { code: 200, body: makeTable(route.rt, items, metadata, tableOptions(url)) };
        } else result = handler.listResult(request);
        break;
      case 'POST':
        result = handler.create(request);
        break;
      case 'PUT':
        result = handler.update(request);
        break;
      case 'PATCH':
        result = handler.patch(request);
        break;
      case 'DELETE':
        result =
          request.name === undefined ? handler.deleteCollection(request) : handler.delete(request);
        break;
      default:
        throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
    sendJson(res, result.code, result.body, result.warnings);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      try {
        const body = await readBody(req);
        const route = parseRoute(registry, url.pathname);
        if (route.kind === 'resource') serveResource(route, req, res, url, body);
        else if (route.kind === 'health') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end('ok');
        } else {
          const answered = req.method === 'GET' ? answer(route) : undefined;
          if (answered === undefined) {
            throw new ApiError(
              404,
              StatusReason.NotFound,
              'the server could not find the requested resource',
            );
          }
          sendJson(res, 200, answered);
        }
      } catch (err) {
        const status =
          err instanceof ApiError
            ? err.toStatus()
            : makeStatus(
                500,
                StatusReason.InternalError,
                `Internal error occurred: ${(err as Error).message}`,
              );
        if (!res.headersSent) sendJson(res, status.code, status);
        else res.end();
      }
      options.log?.(`${req.method ?? ''} ${url.pathname}${url.search} ${res.statusCode}`);
    })();
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  address = `127.0.0.1:${port}`;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfigPath = writeKubeconfig(url, options.kubeconfigDir);
  return {
    url,
    port,
    kubeconfigPath,
    async close() {
      writer.stop();
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
      if (!options.kubeconfigDir) rmSync(dirname(kubeconfigPath), { recursive: true, force: true });
    },
  };
}

function tableOptions(url: URL): { includeObject: string; withColumns: boolean } {
  return { includeObject: url.searchParams.get('includeObject') ?? 'Metadata', withColumns: true };
}
