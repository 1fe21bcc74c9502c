/**
 * CI reads only the last line of `.ci/run`: it must be "N passed, N failed" whatever failed —
 * lint, a test, a skipped test, or make itself.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/processes.js';

const SUMMARY = /^\d+ passed, \d+ failed$/;

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

describe('CI summary line', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-ci-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('the mocha reporter', () => {
    /** Runs mocha with the project's reporter on one spec file; its stdout. */
    function runMocha(spec: string): { stdout: string; status: number | null } {
      const file = join(dir, 'sample.test.cjs');
      writeFileSync(file, spec);
      const r = spawnSync(
        process.execPath,
        [
          join(REPO_ROOT, 'node_modules/mocha/bin/mocha.js'),
          '--no-config',
          '--reporter',
          join(REPO_ROOT, 'test/support/summary-reporter.cjs'),
          file,
        ],
        { encoding: 'utf8', cwd: dir },
      );
      return { stdout: r.stdout, status: r.status };
    }

    it('ends with passes and failures', () => {
      const r = runMocha(
        `it('a', () => {}); it('b', () => {}); it('c', () => { throw new Error('x'); });`,
      );
      assert.equal(lastLine(r.stdout), '2 passed, 1 failed');
      assert.notEqual(r.status, 0);
    });

    it('counts a skipped test as failed, and says so', () => {
      const r = runMocha(`it('a', () => {}); it.skip('b', () => {}); it('c');`);
      assert.match(r.stdout, /2 skipped, counted as failed/);
      assert.equal(lastLine(r.stdout), '1 passed, 2 failed');
    });
  });

  describe('.ci/run', () => {
    /** Runs .ci/run with a stand-in `make` first on PATH, scripted per target. */
    function runCi(make: { lint: string; test: string }): { out: string; status: number | null } {
      const bin = join(dir, 'bin');
      const script = join(bin, 'make');
      mkdirSync(bin, { recursive: true });
      writeFileSync(
        script,
        `#!/usr/bin/env bash\ncase "$1" in\n  lint) ${make.lint} ;;\n  test) ${make.test} ;;\nesac\n`,
      );
      chmodSync(script, 0o755);
      const r = spawnSync('bash', [join(REPO_ROOT, '.ci/run')], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      });
      return { out: r.stdout, status: r.status };
    }
    const testsPass = `echo '5 passed, 0 failed'; exit 0`;
    // As npm and make report a failing test run: their lines come after the reporter's.
    const testsFail = `echo '4 passed, 1 failed'; echo 'npm ERR! Test failed.'; echo 'make: *** [Makefile:22: test] Error 1'; exit 2`;

    it('passes with the tests’ own summary when all is well', () => {
      const r = runCi({ lint: 'exit 0', test: testsPass });
      assert.equal(lastLine(r.out), '5 passed, 0 failed');
      assert.equal(r.status, 0);
    });

    it('ends with the summary after make’s and npm’s error lines', () => {
      const r = runCi({ lint: 'exit 0', test: testsFail });
      assert.equal(lastLine(r.out), '4 passed, 1 failed');
      assert.notEqual(r.status, 0);
    });

    it('still runs the tests when lint fails, and counts lint as a failure', () => {
      const r = runCi({ lint: `echo 'lint: 3 problems'; exit 1`, test: testsPass });
      assert.match(r.out, /lint failed/);
      assert.equal(lastLine(r.out), '5 passed, 1 failed');
      assert.notEqual(r.status, 0);
    });

    it('reports a test run that never reached its summary', () => {
      const r = runCi({ lint: 'exit 0', test: `echo 'npm ERR! missing script'; exit 1` });
      assert.match(r.out, /did not run to their summary/);
      assert.match(lastLine(r.out), SUMMARY);
      assert.equal(lastLine(r.out), '0 passed, 1 failed');
      assert.notEqual(r.status, 0);
    });
  });
});
