import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Herald's version from its package.json, found by walking up from this file, which sits at a
 * different depth from source (tsx) and from dist/ (built).
 */
export function readHeraldVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'herald' && pkg.version) return pkg.version;
    } catch {
      // not here: keep walking up
    }
    dir = dirname(dir);
  }
  return '0.0.0-unknown';
}

/** The user-agent every delivery carries. */
export function heraldUserAgent(): string {
  return `Herald/${readHeraldVersion()}`;
}
