/** Helpers for tests that run the `herald` executable as a real process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A port free right now (bound and released); good enough for a test's own processes. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface HeraldProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout has printed text matching `pattern` (rejects if the process exits first). */
  waitForOutput(pattern: RegExp): Promise<string>;
  stop(): Promise<number | null>;
}

/** Runs `herald <args>` from the TypeScript sources (as `npm run herald` does). */
export function spawnHerald(args: string[], env: NodeJS.ProcessEnv = {}): HeraldProcess {
  return spawnNode(['--import', 'tsx', 'cli/herald.ts', ...args], env);
}

/** Runs the built CLI, `node dist/cli/herald.js <args>` (run `npm run build` first). */
export function spawnBuiltHerald(args: string[], env: NodeJS.ProcessEnv = {}): HeraldProcess {
  return spawnNode(['dist/cli/herald.js', ...args], env);
}

function spawnNode(nodeArgs: string[], env: NodeJS.ProcessEnv): HeraldProcess {
  const child = spawn(process.execPath, nodeArgs, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForOutput(pattern) {
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const m = pattern.exec(out);
          if (m) {
            listeners.delete(check);
            resolve(m[0]);
          }
        };
        listeners.add(check);
        check();
        void exited.then((code) =>
          reject(
            new Error(
              `herald exited (${code}) before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`,
            ),
          ),
        );
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
