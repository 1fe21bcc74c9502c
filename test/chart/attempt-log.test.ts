/**
 * The chart's `operator.attemptLog`, rendered with the real `helm`: its limits reach the
 * operator as HERALD_ATTEMPTS_MAX_AGE, _MAX_BYTES and _MAX_PER_SUBJECT, and values the operator
 * would refuse (zero, negative, not a duration or size) are refused at render time.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { findKubeTools } from '../support/kube-tools.js';
import { REPO_ROOT } from '../support/processes.js';

const execFileAsync = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts/herald');
const ENV_NAMES = [
  'HERALD_ATTEMPTS_MAX_AGE',
  'HERALD_ATTEMPTS_MAX_BYTES',
  'HERALD_ATTEMPTS_MAX_PER_SUBJECT',
] as const;

interface Rendered {
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } };
  };
}

describe('Helm chart: operator.attemptLog', function () {
  this.timeout(60_000);
  let helmHome: string;

  before(() => {
    helmHome = mkdtempSync(join(tmpdir(), 'herald-chart-attempt-log-'));
  });
  after(() => rmSync(helmHome, { recursive: true, force: true }));

  /** `helm template` of the operator Deployment; resolves with exit code, stdout and stderr. */
  async function renderOperator(
    set: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const args = ['template', 'herald', CHART, '--namespace', 'herald-system'];
    args.push('--show-only', 'templates/operator.yaml', '--set', 'nats.url=nats://nats:4222');
    for (const s of set) args.push('--set', s);
    try {
      const { stdout, stderr } = await execFileAsync(findKubeTools().helm, args, {
        // Helm's cache and config in a scratch dir, never the user's; no cluster is contacted.
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_DATA_HOME: join(helmHome, 'data'),
        },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  /** The three env vars of the operator container, in ENV_NAMES order. */
  function attemptLogEnv(stdout: string): (string | undefined)[] {
    const deployment = parseAllDocuments(stdout)
      .map((d) => d.toJS() as Rendered | null)
      .find((o) => o?.kind === 'Deployment' && o.metadata.name === 'herald-operator');
    assert.ok(deployment, `no operator Deployment in:\n${stdout}`);
    const env = deployment.spec?.template?.spec?.containers?.[0]?.env ?? [];
    return ENV_NAMES.map((name) => env.find((e) => e.name === name)?.value);
  }

  it('passes the CLI defaults (7d, 256Mi, 10000), and the values set, to the operator', async () => {
    const [defaults, custom, plainNumbers] = await Promise.all([
      renderOperator([]),
      renderOperator([
        'operator.attemptLog.maxAge=36h',
        'operator.attemptLog.maxBytes=2Gi',
        'operator.attemptLog.maxPerSubject=2500',
      ]),
      // Large numbers stay whole numbers (not 1.073741824e+09).
      renderOperator([
        'operator.attemptLog.maxBytes=1073741824',
        'operator.attemptLog.maxPerSubject=1000000',
      ]),
    ]);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.deepEqual(attemptLogEnv(defaults.stdout), ['7d', '256Mi', '10000']);
    assert.equal(custom.code, 0, custom.stderr);
    assert.deepEqual(attemptLogEnv(custom.stdout), ['36h', '2Gi', '2500']);
    assert.equal(plainNumbers.code, 0, plainNumbers.stderr);
    assert.deepEqual(attemptLogEnv(plainNumbers.stdout), ['7d', '1073741824', '1000000']);
  });

  it('refuses zero, negative and unparsable limits (values.schema.json), naming the value', async () => {
    const bad: [string, RegExp][] = [
      ['maxAge=0s', /maxAge/],
      ['maxAge=-1h', /maxAge/],
      ['maxAge=a week', /maxAge/],
      ['maxBytes=0', /maxBytes/],
      ['maxBytes=-5', /maxBytes/],
      ['maxBytes=0Mi', /maxBytes/],
      ['maxBytes=256MB', /maxBytes/],
      ['maxPerSubject=0', /maxPerSubject/],
      ['maxPerSubject=-1', /maxPerSubject/],
      ['maxPerSubject=many', /maxPerSubject/],
      ['maxPerSubject=null', /maxPerSubject/],
    ];
    const runs = await Promise.all(bad.map(([s]) => renderOperator([`operator.attemptLog.${s}`])));
    runs.forEach((run, i) => {
      const [set, names] = bad[i]!;
      assert.notEqual(run.code, 0, `${set} rendered:\n${run.stdout}`);
      assert.match(run.stderr, names, `${set}: ${run.stderr}`);
    });
  });
});
