/**
 * A real nats-server that asks for more than a URL (TLS with client certificates, nkey users),
 * and the `herald` executable run to its end, for the NATS authentication tests.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerProcess } from '../../cli/nats-server-process.js';
import { openConfigBucket, writeCompiledConfig } from '../../core/config/kv.js';
import { buildNatsConnectOptions, type NatsAuth } from '../../core/nats-connect-options.js';
import { ensureSystemTopology } from '../../operator/jetstream-resource-apply.js';
import { buildSubscription } from '../dispatcher/support.js';
import { REPO_ROOT } from './processes.js';

const execFileAsync = promisify(execFile);

/** The committed test-only TLS files (see fixtures/nats-tls/README.md). */
export const TLS_FIXTURES = {
  ca: join(REPO_ROOT, 'test/support/fixtures/nats-tls/ca.crt'),
  serverCert: join(REPO_ROOT, 'test/support/fixtures/nats-tls/server.crt'),
  serverKey: join(REPO_ROOT, 'test/support/fixtures/nats-tls/server.key'),
  clientCert: join(REPO_ROOT, 'test/support/fixtures/nats-tls/client.crt'),
  clientKey: join(REPO_ROOT, 'test/support/fixtures/nats-tls/client.key'),
} as const;

/** The chart's NATS variables, all empty: no file from the test runner's own env leaks in. */
export const NO_NATS_AUTH_ENV = {
  NATS_CREDS_FILE: '',
  NATS_TLS_CA_FILE: '',
  NATS_TLS_CERT_FILE: '',
  NATS_TLS_KEY_FILE: '',
} as const;

export interface ConfiguredNatsServer {
  readonly process: NatsServerProcess;
  /** `nats://127.0.0.1:PORT`, as the chart's nats.url would be. */
  readonly url: string;
  /** A scratch directory removed by stop(), for creds files and the like. */
  readonly dir: string;
  stop(): Promise<void>;
}

/** Starts `nats-server -js` on a free port with `config` (nats-server syntax) as its -c file. */
export async function startConfiguredNatsServer(config: string): Promise<ConfiguredNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-secured-nats-'));
  const configFile = join(dir, 'nats-server.conf');
  writeFileSync(configFile, config);
  let proc: NatsServerProcess;
  try {
    proc = await startNatsServer({
      storeDir: join(dir, 'store'),
      configFile,
      binary: process.env.NATS_SERVER_BIN ?? 'nats-server',
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    process: proc,
    url: proc.url,
    dir,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** nats-server config: TLS required, and a client certificate signed by the test CA. */
export function mutualTlsConfig(): string {
  return [
    'tls {',
    `  cert_file: ${JSON.stringify(TLS_FIXTURES.serverCert)}`,
    `  key_file: ${JSON.stringify(TLS_FIXTURES.serverKey)}`,
    `  ca_file: ${JSON.stringify(TLS_FIXTURES.ca)}`,
    '  verify: true',
    '}',
    '',
  ].join('\n');
}

/** nats-server config: only this nkey user may connect. */
export function nkeyUserConfig(publicKey: string): string {
  return `authorization {\n  users: [ { nkey: ${publicKey} } ]\n}\n`;
}

/** A credentials file as `nsc` writes it; a server without operator mode ignores the JWT. */
export function formatCredsFile(seed: string, jwt = 'eyJhbGciOiJlZDI1NTE5In0.e30.test'): string {
  return (
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    `************************* IMPORTANT *************************\n` +
    `NKEY Seed printed below can be used to sign and prove identity.\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`
  );
}

export interface HeraldRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `herald <args>` (from the TypeScript sources) to its end with `env` added. */
export async function runHeraldToEnd(args: string[], env: NodeJS.ProcessEnv): Promise<HeraldRun> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'cli/herald.ts', ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 120_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * What the operator would have made, written through Herald's own connect options: a config
 * holding one Subscription, shop/orders (and the system streams when asked).
 */
export async function seedOrdersSubscription(
  url: string,
  auth: NatsAuth,
  { systemTopology = false } = {},
): Promise<void> {
  const nc = await connect({ servers: url, ...buildNatsConnectOptions(auth) });
  try {
    if (systemTopology) await ensureSystemTopology(await jetstreamManager(nc));
    await writeCompiledConfig(await openConfigBucket(jetstream(nc)), {
      eventTypes: [],
      producers: [],
      subscriptions: [buildSubscription('shop', 'orders', 'https://partner.example/hook')],
    });
  } finally {
    await nc.close();
  }
}
