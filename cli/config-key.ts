/**
 * Where the config sealing key comes from: HERALD_CONFIG_KEY (the key text), or a file
 * (--config-key-file; in a cluster, the mounted Secret). `herald run` keeps one in its data dir.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateConfigKey, parseConfigKey } from '../core/config/seal.js';
import { ErrorCode, HeraldError } from '../core/errors.js';

export function loadConfigKey(keyText: string | undefined, keyFile: string | undefined): Buffer {
  if (keyText) return parseConfigKey(keyText);
  if (keyFile) return parseConfigKey(readFileSync(keyFile, 'utf8'));
  throw new HeraldError(
    ErrorCode.Usage,
    'no config key: set HERALD_CONFIG_KEY or --config-key-file (32 bytes, hex or base64); every Herald process must use the same key',
  );
}

/** The data dir's key, created (mode 0600) on first use. */
export function ensureLocalConfigKey(dataDir: string): Buffer {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'config.key');
  if (!existsSync(file)) {
    writeFileSync(file, `${generateConfigKey()}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return parseConfigKey(readFileSync(file, 'utf8'));
}
