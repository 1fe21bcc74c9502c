/**
 * `helm template` of the chart's operator Deployment with the real helm, for the tests of
 * single chart values (system replicas, attempt-log limits): Helm's cache and config live in a
 * scratch directory, never the user's, and no cluster is contacted.
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

export interface RenderResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface OperatorRenderer {
  /** Renders with `--set` for each entry; resolves with exit code, stdout and stderr. */
  render(set: string[]): Promise<RenderResult>;
  /** Removes the scratch directory. */
  close(): void;
}

export function createOperatorRenderer(): OperatorRenderer {
  const helmHome = mkdtempSync(join(tmpdir(), 'herald-chart-operator-'));
  return {
    async render(set) {
      const args = ['template', 'herald', CHART, '--namespace', 'herald-system'];
      args.push('--show-only', 'templates/operator.yaml', '--set', 'nats.url=nats://nats:4222');
      for (const s of set) args.push('--set', s);
      try {
        const { stdout, stderr } = await execFileAsync(findKubeTools().helm, args, {
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
    },
    close: () => rmSync(helmHome, { recursive: true, force: true }),
  };
}

/** The value of env var `name` of the rendered operator container, if set. */
export function readOperatorEnv(stdout: string, name: string): string | undefined {
  const deployment = parseAllDocuments(stdout)
    .map((d) => d.toJS() as Rendered | null)
    .find((o) => o?.kind === 'Deployment' && o.metadata.name === 'herald-operator');
  assert.ok(deployment, `no operator Deployment in:\n${stdout}`);
  const env = deployment.spec?.template?.spec?.containers?.[0]?.env ?? [];
  return env.find((e) => e.name === name)?.value;
}
