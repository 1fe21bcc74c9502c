/**
 * Replays the Dockerfile's stages into a directory, without a container runtime, and runs
 * processes from the result as the chart's pods would (test/repo/image.test.ts). Each stage's
 * filesystem is a directory; COPY copies as Docker does (from the build context filtered by
 * .dockerignore, or from an earlier stage) and each RUN runs the command it stands for.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { REPO_ROOT } from '../support/processes.js';
import { isIgnored, readCopy, type Dockerfile, type IgnorePattern } from './dockerfile.js';

const toContextPath = (hostPath: string): string =>
  relative(REPO_ROOT, hostPath).split(sep).join('/');

async function run(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, `${command} ${args.join(' ')} failed in ${cwd}:\n${output}`);
}

/** One RUN of the Dockerfile, `&&`-joined commands run as what each stands for. */
async function replayRun(line: string, cwd: string): Promise<void> {
  for (const command of line.split('&&').map((c) => c.trim())) {
    const argv = command.split(/\s+/);
    if (argv[0] === 'npm' && argv[1] === 'ci' && argv.includes('--omit=dev')) {
      // Exactly the image's install of the production dependencies (network or the npm cache).
      await run('npm', argv.slice(1), cwd);
    } else if (argv[0] === 'npm' && argv[1] === 'ci') {
      // The build's full install is the repository's node_modules, made by `npm ci` from the
      // same lockfile; installing the development set again would take minutes.
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(cwd, 'node_modules'), 'dir');
    } else if (command === 'npm run build') {
      await run('npm', ['run', 'build', '--silent'], cwd);
    } else if (argv[0] === 'rm' && argv.slice(2).every((p) => p.startsWith('/usr/local/'))) {
      // Removes the base image's own files (npm), which are not replayed.
    } else {
      throw new Error(`image.test.ts cannot replay RUN ${command}: teach replayRun what it does`);
    }
  }
}

/** Replays every stage under `root`; returns each stage's filesystem root. */
export async function replayDockerfile(
  dockerfile: Dockerfile,
  ignore: IgnorePattern[],
  root: string,
): Promise<Map<string, string>> {
  const roots = new Map<string, string>();
  for (const stage of dockerfile.stages) {
    const stageRoot = join(root, stage.name);
    roots.set(stage.name, stageRoot);
    let workdir = '/';
    mkdirSync(stageRoot, { recursive: true });
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        workdir = posix.resolve(workdir, args);
        mkdirSync(join(stageRoot, workdir), { recursive: true });
      } else if (keyword === 'RUN') {
        await replayRun(args, join(stageRoot, workdir));
      } else if (keyword === 'COPY') {
        const copy = readCopy(args);
        const into = posix.resolve(workdir, copy.dest);
        const intoDir = copy.dest.endsWith('/') || copy.sources.length > 1;
        for (const source of copy.sources) {
          const fromRoot = copy.from === undefined ? undefined : roots.get(copy.from);
          if (copy.from !== undefined) assert.ok(fromRoot, `COPY --from=${copy.from}: no stage`);
          const from = fromRoot
            ? join(fromRoot, posix.resolve('/', source))
            : join(REPO_ROOT, source);
          // A directory's contents are copied, not the directory itself (Docker's rule).
          const target =
            statSync(from).isDirectory() || !intoDir
              ? into
              : posix.join(into, posix.basename(source));
          cpSync(from, join(stageRoot, target), {
            recursive: true,
            verbatimSymlinks: true,
            filter: (p) => fromRoot !== undefined || !isIgnored(toContextPath(p), ignore),
          });
        }
      }
    }
  }
  return roots;
}

export interface Running {
  /** Resolves with the exit code once the process has exited and its output is read. */
  exited: Promise<number | null>;
  /** Resolves once the output matches `pattern`; rejects if the process exits first. */
  waitForOutput(pattern: RegExp): Promise<void>;
  stop(): Promise<number | null>;
  output(): string;
}

/**
 * Starts a process as the chart's pods run it: the pod's uid and gid (when this runs as root,
 * which can switch to them), so the root-owned image tree is read-only to it, as in the chart.
 */
export function startAsPodUser(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
  user: { uid: number; gid: number },
): Running {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(process.getuid?.() === 0 && { uid: user.uid, gid: user.gid }),
  });
  let out = '';
  const waiters = new Set<() => void>();
  const take = (c: Buffer): void => {
    out += c.toString();
    for (const w of waiters) w();
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  // 'close', not 'exit': everything the process printed has been read by then.
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    exited,
    output: () => out,
    waitForOutput: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(out)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
        void exited.then((code) =>
          reject(new Error(`exited (${code}) before printing ${pattern}:\n${out}`)),
        );
      }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
