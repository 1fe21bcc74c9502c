/**
 * The `herald` executable as a user meets it: --help on every command, and `herald run` on a
 * copy of examples/ doing what the README's quick start promises.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findFreePort, REPO_ROOT, spawnHerald } from '../support/processes.js';

const execFileAsync = promisify(execFile);

async function runHeraldToEnd(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'cli/herald.ts', ...args],
      {
        cwd: REPO_ROOT,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('herald command line', function () {
  this.timeout(60_000);

  it('prints help for every command, naming its flags and env vars', async () => {
    const top = await runHeraldToEnd(['--help']);
    assert.equal(top.code, 0);
    for (const cmd of ['run', 'operator', 'broker', 'dispatcher', 'sink'])
      assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
    const expected: Record<string, string[]> = {
      run: [
        '--resources',
        'HERALD_RESOURCES',
        '--http-port',
        'HERALD_HTTP_PORT',
        '--grpc-port',
        '--nats',
        'NATS_URL',
        '--nats-port',
        '--sink-port',
        '--data-dir',
        '--allow-private-sinks',
      ],
      operator: ['--nats', '--resources'],
      broker: ['--nats', '--http-port', '--grpc-port'],
      dispatcher: ['--nats', '--allow-private-sinks', 'HERALD_ALLOW_PRIVATE_SINKS'],
      sink: ['--port', 'HERALD_SINK_PORT', '--secret'],
    };
    for (const [cmd, words] of Object.entries(expected)) {
      const res = await runHeraldToEnd([cmd, '--help']);
      assert.equal(res.code, 0, res.stderr);
      for (const w of words) assert.ok(res.stdout.includes(w), `herald ${cmd} --help lacks ${w}`);
    }
  });

  it('refuses an unknown command or flag with exit code 2 and the usage', async () => {
    const bad = await runHeraldToEnd(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command "frobnicate"/);
    const badFlag = await runHeraldToEnd(['broker', '--nope']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--nope/);
    const noNats = await runHeraldToEnd(['broker']);
    assert.equal(noNats.code, 1);
    assert.match(noNats.stderr, /--nats URL/);
  });

  it('herald run: the README curl gets a receipt and the demo sink prints a verified delivery', async () => {
    const [httpPort, sinkPort, natsPort] = [
      await findFreePort(),
      await findFreePort(),
      await findFreePort(),
    ];
    const work = mkdtempSync(join(tmpdir(), 'herald-run-'));
    const resources = join(work, 'resources');
    mkdirSync(resources);
    // Pointed at the free sink port, as the warning at start tells a user of --sink-port to do
    // (herald-run.test.ts runs the unmodified examples and shows that warning).
    for (const f of readdirSync(join(REPO_ROOT, 'examples'))) {
      const text = readFileSync(join(REPO_ROOT, 'examples', f), 'utf8').replaceAll(
        ':8088',
        `:${sinkPort}`,
      );
      writeFileSync(join(resources, f), text);
    }
    const herald = spawnHerald([
      'run',
      '--resources',
      resources,
      '--data-dir',
      join(work, 'data'),
      '--http-port',
      String(httpPort),
      '--grpc-port',
      '0',
      '--sink-port',
      String(sinkPort),
      '--nats-port',
      String(natsPort),
    ]);
    try {
      await herald.waitForOutput(/Herald is running[^]*Press Ctrl-C/);
      assert.doesNotMatch(herald.stdout(), /Warning/, 'the Subscription matches the sink port');
      // The README's quick-start request, byte for byte in what matters.
      const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
      const key = /Authorization: Bearer ([^'\s]+)/.exec(readme)?.[1];
      assert.ok(key, 'README shows an API key');
      const body = /-d '([^']+)'/s.exec(readme)?.[1];
      assert.ok(body, 'README shows a request body');
      const res = await fetch(`http://127.0.0.1:${httpPort}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/cloudevents+json' },
        body,
      });
      assert.equal(res.status, 202, await res.clone().text());
      const receipt = (await res.json()) as { id: string; duplicate: boolean };
      assert.equal(receipt.id, 'order-1001');
      assert.equal(receipt.duplicate, false);
      const line = await herald.waitForOutput(
        /\[sink\] com\.example\.order\.created\s+id=order-1001.*signature: \w+/,
      );
      assert.match(line, /signature: verified/);
    } finally {
      const code = await herald.stop();
      rmSync(work, { recursive: true, force: true });
      assert.equal(code, 0, `herald run did not stop cleanly:\n${herald.stderr()}`);
    }
  });
});
