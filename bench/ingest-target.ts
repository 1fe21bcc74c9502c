/**
 * The servers bench/broker-ingest.ts measures: a bare node:http server (reads the body,
 * answers 202 with a receipt-sized body) and the broker. The bench runs each in its own
 * process (for rates) and, forked with this file as the entry, in a child process (so CPU and
 * RSS are the server's own). As a child it talks over IPC:
 *   child → parent  { port }                         once listening
 *   parent → child  'usage'                          child → parent TargetUsage
 *   parent → child  'stop'                           the child stops its server and exits
 *
 *   (forked) bench/ingest-target.ts bare|broker [natsUrl]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBroker } from '../broker/main.js';
import { createSilentLogger } from '../core/logging.js';

export interface RunningTarget {
  port: number;
  stop(): Promise<void>;
}

export interface TargetUsage {
  rss: number;
  heapUsed: number;
  /** process.cpuUsage() user + system since the process started, µs. */
  cpuMicros: number;
}

export async function startBareServer(): Promise<RunningTarget> {
  const body = '{"id":"x","source":"s","type":"t","sequence":1,"duplicate":false}';
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function startBenchBroker(natsUrl: string): Promise<RunningTarget> {
  const broker = await startBroker({
    natsUrl,
    httpPort: 0,
    host: '127.0.0.1',
    logger: createSilentLogger(),
    shutdownGraceMs: 0,
  });
  return { port: broker.port, stop: () => broker.stop() };
}

export function readUsage(): TargetUsage {
  const { rss, heapUsed } = process.memoryUsage();
  const { user, system } = process.cpuUsage();
  return { rss, heapUsed, cpuMicros: user + system };
}

async function serveAsChild(kind: string | undefined, natsUrl: string | undefined): Promise<void> {
  let target: RunningTarget;
  if (kind === 'bare') target = await startBareServer();
  else if (kind === 'broker' && natsUrl !== undefined) target = await startBenchBroker(natsUrl);
  else throw new Error('usage: ingest-target.ts bare|broker [natsUrl]');
  const exit = (): void => void target.stop().finally(() => process.exit(0));
  process.on('message', (message) => {
    if (message === 'usage') process.send?.(readUsage());
    else if (message === 'stop') exit();
  });
  process.on('disconnect', exit); // the parent went away: do not linger
  process.send?.({ port: target.port });
}

// Forked as a child (an IPC channel exists): serve. Imported: only the exports above.
if (process.send !== undefined && process.argv[1]?.endsWith('ingest-target.ts')) {
  await serveAsChild(process.argv[2], process.argv[3]);
}
