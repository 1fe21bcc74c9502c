/**
 * The chart's `operator.systemReplicas`, rendered with the real `helm`: it reaches the operator
 * as HERALD_SYSTEM_REPLICAS, and a count JetStream cannot take is refused at render time.
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

interface Rendered {
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } };
  };
}

describe('Helm chart: operator.systemReplicas', function () {
  this.timeout(60_000);
  let helmHome: string;

  before(() => {
    helmHome = mkdtempSync(join(tmpdir(), 'herald-chart-replicas-'));
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

  function systemReplicasEnv(stdout: string): string | undefined {
    const deployment = parseAllDocuments(stdout)
      .map((d) => d.toJS() as Rendered | null)
      .find((o) => o?.kind === 'Deployment' && o.metadata.name === 'herald-operator');
    assert.ok(deployment, `no operator Deployment in:\n${stdout}`);
    const env = deployment.spec?.template?.spec?.containers?.[0]?.env ?? [];
    return env.find((e) => e.name === 'HERALD_SYSTEM_REPLICAS')?.value;
  }

  it('passes 1 by default, and the value set, as HERALD_SYSTEM_REPLICAS', async () => {
    const [defaults, three] = await Promise.all([
      renderOperator([]),
      renderOperator(['operator.systemReplicas=3']),
    ]);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.equal(systemReplicasEnv(defaults.stdout), '1');
    assert.equal(three.code, 0, three.stderr);
    assert.equal(systemReplicasEnv(three.stdout), '3');
  });

  it('refuses 0, 6 and a non-number (values.schema.json), naming the value', async () => {
    const runs = await Promise.all(
      ['0', '6', 'three'].map((v) => renderOperator([`operator.systemReplicas=${v}`])),
    );
    for (const run of runs) {
      assert.notEqual(run.code, 0, `rendered:\n${run.stdout}`);
      assert.match(run.stderr, /systemReplicas/);
    }
  });
});
