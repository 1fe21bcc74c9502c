/**
 * The one way tests get NATS: a real nats-server with JetStream on a free port and a
 * temporary store, stopped (and its store removed) by `stop()`. Typical use:
 *
 *   let nats: TestNatsServer;
 *   before(async () => { nats = await startTestNatsServer(); });
 *   after(() => nats.stop());
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerProcess } from '../../cli/nats-server-process.js';

export interface TestNatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly process: NatsServerProcess;
  /** A client connection, closed by stop(). */
  connect(): Promise<NatsConnection>;
  /**
   * Stops the server (SIGKILL with `kill`), keeping the store, runs `whileDown` if given (an
   * outage), then starts it again on the same port.
   */
  restart(opts?: { kill?: boolean; whileDown?: () => Promise<void> }): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestNatsServer(): Promise<TestNatsServer> {
  const storeDir = mkdtempSync(join(tmpdir(), 'herald-nats-'));
  const binary = process.env.NATS_SERVER_BIN ?? 'nats-server';
  let proc = await startNatsServer({ storeDir, binary });
  const connections: NatsConnection[] = [];
  const handle: TestNatsServer = {
    get url() {
      return proc.url;
    },
    get port() {
      return proc.port;
    },
    storeDir,
    get process() {
      return proc;
    },
    async connect() {
      const nc = await connect({ servers: proc.url });
      connections.push(nc);
      return nc;
    },
    async restart({ kill = false, whileDown } = {}) {
      const port = proc.port;
      await (kill ? proc.kill() : proc.stop());
      try {
        await whileDown?.();
      } finally {
        proc = await startNatsServer({ storeDir, binary, port });
      }
    },
    async stop() {
      await Promise.allSettled(connections.map((nc) => nc.close()));
      await proc.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return handle;
}
