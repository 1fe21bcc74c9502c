/**
 * A kubeconfig pointing at the fake: plain HTTP on 127.0.0.1 and a token it accepts (any).
 * `insecure-skip-tls-verify` is set because client-node refuses http:// servers without it
 * (there is no TLS to verify either way); kubectl accepts it too.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const KUBECONFIG_CONTEXT = 'herald-fake';

export function makeKubeconfig(url: string, namespace = 'default'): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: KUBECONFIG_CONTEXT, cluster: { server: url, 'insecure-skip-tls-verify': true } },
    ],
    users: [{ name: KUBECONFIG_CONTEXT, user: { token: 'herald-fake-token' } }],
    contexts: [
      {
        name: KUBECONFIG_CONTEXT,
        context: { cluster: KUBECONFIG_CONTEXT, user: KUBECONFIG_CONTEXT, namespace },
      },
    ],
    'current-context': KUBECONFIG_CONTEXT,
    preferences: {},
  };
}

/** Writes the kubeconfig into `dir` (a new temporary directory by default); returns its path. */
export function writeKubeconfig(url: string, dir?: string): string {
  const target = dir ?? mkdtempSync(join(tmpdir(), 'herald-kube-'));
  const path = join(target, 'kubeconfig');
  writeFileSync(path, stringify(makeKubeconfig(url)), { mode: 0o600 });
  return path;
}
