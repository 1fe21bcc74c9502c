/**
 * `/metrics`, `/healthz` and `/readyz` for the deployables without an HTTP port of their own
 * (operator, dispatcher), on `--metrics-port`. The broker serves the same paths on its API port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  readonly port: number;
  stop(): Promise<void>;
}

export async function startMetricsServer(options: {
  port: number;
  host?: string;
  registries: () => Registry[];
  /** Ready to work (e.g. connected; for the operator: running, leader or not). */
  ready?: () => boolean;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = options.ready?.() ?? true;
      res
        .writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' })
        .end(ok ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      const registries = options.registries();
      Promise.all(registries.map((r) => r.metrics())).then(
        (texts) => {
          res
            .writeHead(200, { 'Content-Type': registries[0]?.contentType ?? 'text/plain' })
            .end(texts.join('\n'));
        },
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
