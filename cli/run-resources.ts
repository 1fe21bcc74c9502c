/**
 * What `herald run` reads from its resources directory for the demo sink: every Subscription's
 * signing secrets (so the sink can say whether a delivery verifies) and the Subscriptions that
 * deliver to the sink's default address (so a moved sink is not silently missed).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/logging.js';
import { Defaults, type Subscription } from '../core/resources/types.js';
import { readSecretValue } from '../core/resources/validate.js';
import { isResourceFileName, loadResourceDirectory } from '../operator/files.js';

const namespaceOf = (r: { metadata: { namespace?: string } }): string =>
  r.metadata.namespace || Defaults.namespace;

/**
 * Every signing secret of every Subscription (secretRef and each of secretRefs), so the sink
 * verifies whichever secret the dispatcher signs with, rotation lists included.
 */
async function collectSigningSecrets(resourcesDir: string, log: Logger): Promise<string[]> {
  const { resources, secrets } = await loadResourceDirectory(resourcesDir);
  const found = new Set<string>();
  for (const r of resources) {
    if (r.kind !== 'Subscription') continue;
    const signing = r.spec.delivery?.signing;
    const ns = namespaceOf(r);
    for (const ref of [
      ...(signing?.secretRef ? [signing.secretRef] : []),
      ...(signing?.secretRefs ?? []),
    ]) {
      const secret = secrets.find((s) => s.metadata.name === ref.name && namespaceOf(s) === ns);
      const value = secret && readSecretValue(secret, ref.key);
      if (value) found.add(value);
      else
        log.warn(
          { subscription: `${ns}/${r.metadata.name}`, secretRef: `${ref.name}/${ref.key}` },
          'signing secret not found for the demo sink',
        );
    }
  }
  return [...found];
}

/** Name, size and modification time of every resource file: changes when any file does. */
async function fingerprintDirectory(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter(isResourceFileName).sort();
  const parts = await Promise.all(
    names.map(async (name) => {
      const s = await stat(join(dir, name)).catch(() => undefined);
      return `${name}:${s?.size}:${s?.mtimeMs}`;
    }),
  );
  return parts.join('\n');
}

/**
 * The demo sink's secret lookup for `herald run`: the signing secrets of the files as they are
 * now, re-read only when a file changed (reading and validating costs milliseconds; a stat per
 * delivery does not). The files change before the operator applies them, so the sink knows a
 * new secret before the dispatcher signs with it. Never rejects: on a read failure it keeps
 * the last secrets it found.
 */
export function createSigningSecretLookup(
  resourcesDir: string,
  log: Logger,
): () => Promise<readonly string[]> {
  let known: { fingerprint: string; secrets: readonly string[] } | undefined;
  return async () => {
    try {
      const fingerprint = await fingerprintDirectory(resourcesDir);
      if (known?.fingerprint !== fingerprint) {
        known = { fingerprint, secrets: await collectSigningSecrets(resourcesDir, log) };
      }
    } catch (err) {
      log.warn({ err }, 'cannot read the resources for the demo sink; using the last secrets read');
    }
    return known?.secrets ?? [];
  };
}

/** A Subscription whose webhook is on this machine, at the given port. */
export interface LocalSinkSubscription {
  subscription: string;
  uri: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isLocalUriOnPort(uri: string, port: number): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  const urlPort = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return LOOPBACK_HOSTS.has(url.hostname) && urlPort === port;
}

/** The Subscriptions of the directory that deliver to 127.0.0.1 (or localhost) on `port`. */
export async function findLocalSinkSubscriptions(
  resourcesDir: string,
  port: number,
): Promise<LocalSinkSubscription[]> {
  const { resources } = await loadResourceDirectory(resourcesDir);
  return resources
    .filter((r): r is Subscription => r.kind === 'Subscription')
    .filter((r) => isLocalUriOnPort(r.spec.sink.uri, port))
    .map((r) => ({ subscription: `${namespaceOf(r)}/${r.metadata.name}`, uri: r.spec.sink.uri }));
}
