/**
 * `--webhook-origin` / HERALD_WEBHOOK_ORIGIN: listed by `dispatcher` and `run`, and a value that
 * is not a DNS name stops the dispatcher at start with a clear message.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/processes.js';

const execFileAsync = promisify(execFile);

async function herald(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'cli/herald.ts', ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('herald --webhook-origin', function () {
  this.timeout(60_000);

  it('is a flag of `dispatcher` and `run`, with its env var', async () => {
    for (const cmd of ['dispatcher', 'run']) {
      const res = await herald([cmd, '--help']);
      assert.equal(res.code, 0, res.stderr);
      assert.ok(res.stdout.includes('--webhook-origin'), `herald ${cmd} --help`);
      assert.ok(res.stdout.includes('HERALD_WEBHOOK_ORIGIN'), `herald ${cmd} --help`);
    }
  });

  it('stops the dispatcher at start when the origin is not a DNS name', async () => {
    const res = await herald(['dispatcher', '--nats', 'nats://127.0.0.1:1'], {
      HERALD_CONFIG_KEY: randomBytes(32).toString('hex'),
      HERALD_WEBHOOK_ORIGIN: 'https://events.example.com/',
    });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /webhook origin must be a DNS name/);
  });
});
