import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_KINDS } from '../../../core/resources/crds.js';
import { DEFAULTED_FIELDS } from '../../../core/resources/schemas.js';
import { Defaults } from '../../../core/resources/types.js';

const DOC = readFileSync(
  join(import.meta.dirname, '..', '..', '..', 'docs', 'resources.md'),
  'utf8',
);

describe('docs/resources.md', () => {
  it('states every default with the value in Defaults', () => {
    for (const kind of ALL_KINDS) {
      const fields = DEFAULTED_FIELDS[kind] as Record<string, keyof typeof Defaults>;
      for (const [path, key] of Object.entries(fields)) {
        const row = DOC.split('\n').find((line) => line.startsWith(`| \`${path}\``));
        assert.ok(row, `${kind}: no table row for ${path}`);
        const defaultCell = row.split(/(?<!\\)\|/)[3] ?? '';
        assert.ok(
          defaultCell.includes(`\`${String(Defaults[key])}\``),
          `${path}: the default column should say \`${String(Defaults[key])}\`: ${row}`,
        );
      }
    }
  });

  it('mentions every short name and the nesting limit of filters', () => {
    for (const name of ['het', 'hprod', 'hsub', 'kubectl get herald', 'two levels']) {
      assert.ok(DOC.includes(name), name);
    }
  });
});
