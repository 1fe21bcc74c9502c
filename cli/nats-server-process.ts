/**
 * Starts and stops a local `nats-server -js`, for `herald run` and for tests. Like the
 * nats.js test launcher: port -1 (the server picks a free port) and the server itself says
 * which (its "Listening for client connections" line: the ports file is written only after
 * "ready", too late to wait on); a clean stop waits for exit; a missing binary is a clear
 * error, not a hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { ErrorCode, HeraldError } from '../core/errors.js';

export interface NatsServerOptions {
  /** JetStream store directory (created when missing). */
  storeDir: string;
  /** Port to listen on; -1 (default) lets the server choose a free one. */
  port?: number;
  host?: string;
  /** The executable; default `nats-server` on PATH. */
  binary?: string;
  /** Receives the server's log lines. */
  onLog?: (line: string) => void;
  /**
   * A nats-server config file (`-c`), e.g. for TLS or authorization blocks. The flags above
   * still apply and win over the file's port, host and store settings.
   */
  configFile?: string;
  startTimeoutMs?: number;
}

export interface NatsServerProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly storeDir: string;
  /** Resolves when the process has exited; SIGTERM first, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Sends SIGKILL and waits for exit: a crash, for fault tests. */
  kill(): Promise<void>;
}

const READY_LINE = 'Server is ready';
const LISTEN_LINE = /Listening for client connections on [^\s]*:(\d+)/;

export async function startNatsServer(options: NatsServerOptions): Promise<NatsServerProcess> {
  const {
    storeDir,
    port = -1,
    host = '127.0.0.1',
    binary = 'nats-server',
    onLog,
    startTimeoutMs = 15_000,
    configFile,
  } = options;
  mkdirSync(storeDir, { recursive: true });
  const args = ['-js', '-a', host, '-p', String(port), '-sd', storeDir];
  if (configFile) args.push('-c', configFile);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const boundPort = await new Promise<number>((resolve, reject) => {
    let tail = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new HeraldError(
          ErrorCode.NatsServerStart,
          `nats-server did not become ready within ${startTimeoutMs} ms; last output: ${tail.slice(-500)}`,
        ),
      );
    }, startTimeoutMs);
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      if (onLog) for (const line of text.split('\n')) if (line) onLog(line);
      const listening = LISTEN_LINE.exec(tail);
      if (listening && tail.includes(READY_LINE)) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        if (onLog)
          child.stderr?.on('data', (c: Buffer) =>
            c
              .toString()
              .split('\n')
              .forEach((l) => l && onLog(l)),
          );
        else child.stderr?.resume();
        resolve(Number(listening[1]));
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.resume();
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === 'ENOENT'
          ? new HeraldError(
              ErrorCode.NatsServerMissing,
              `"${binary}" was not found on PATH. Install it (Debian: apt-get install nats-server) or pass --nats URL to use a running server.`,
              { cause: err },
            )
          : new HeraldError(ErrorCode.NatsServerStart, `cannot start ${binary}: ${err.message}`, {
              cause: err,
            }),
      );
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new HeraldError(
          ErrorCode.NatsServerStart,
          `nats-server exited before it was ready (code ${code}, signal ${signal}); last output: ${tail.slice(-500)}`,
        ),
      );
    });
  });

  const pid = child.pid as number;
  const url = `nats://${host}:${boundPort}`;
  return {
    url,
    port: boundPort,
    pid,
    storeDir,
    stop: (graceMs = 5_000) => stopChild(child, exited, graceMs),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<void>,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
