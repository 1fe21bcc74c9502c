/**
 * Writes crds/<kind>.yaml from core/resources/schemas.ts (`npm run gen:crds`).
 * With --check it writes nothing and exits 1 when a file differs (for CI).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ALL_KINDS,
  CRD_FILE_NAMES,
  renderCustomResourceDefinition,
} from '../core/resources/crds.js';

const CRD_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'crds');

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function generateCrds(check: boolean): Promise<number> {
  await mkdir(CRD_DIR, { recursive: true });
  let stale = 0;
  for (const kind of ALL_KINDS) {
    const path = join(CRD_DIR, CRD_FILE_NAMES[kind]);
    const text = renderCustomResourceDefinition(kind);
    const shown = relative(process.cwd(), path);
    if ((await readIfPresent(path)) === text) {
      console.log(`${shown}: up to date`);
    } else if (check) {
      console.error(`${shown}: out of date; run npm run gen:crds`);
      stale += 1;
    } else {
      await writeFile(path, text);
      console.log(`${shown}: written`);
    }
  }
  return stale === 0 ? 0 : 1;
}

process.exitCode = await generateCrds(process.argv.includes('--check'));
