import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_KINDS } from '../../../core/resources/crds.js';
import {
  DURATION_RANGES,
  type DurationField,
  type DurationRange,
} from '../../../core/resources/duration-ranges.js';
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

  it('states the range of every duration field, in its table and under Duration ranges', () => {
    const lines = DOC.split('\n');
    for (const kind of ALL_KINDS) {
      const fields = DEFAULTED_FIELDS[kind] as Record<string, string>;
      for (const [path, key] of Object.entries(fields)) {
        if (!(key in DURATION_RANGES)) continue;
        const range: DurationRange = DURATION_RANGES[key as DurationField];
        const typeCell = lines.find((l) => l.startsWith(`| \`${path}\``))?.split('|')[2] ?? '';
        assert.ok(typeCell.includes(`${range.min}–${range.max}`), `${path}: ${typeCell}`);
        assert.equal(typeCell.includes('`0s`'), range.zero !== undefined, `${path}: ${typeCell}`);
        const rangeRow = lines.find((l) => l.startsWith(`| ${kind} \`${path}\``)) ?? '';
        assert.ok(rangeRow.includes(`\`${range.min}\`–\`${range.max}\``), `${kind} ${path}`);
        assert.equal(rangeRow.split('|')[3]?.trim() === 'refused', range.zero === undefined, path);
      }
    }
  });

  it('mentions every short name and the nesting limit of filters', () => {
    for (const name of ['het', 'hprod', 'hsub', 'kubectl get herald', 'two levels']) {
      assert.ok(DOC.includes(name), name);
    }
  });
});
