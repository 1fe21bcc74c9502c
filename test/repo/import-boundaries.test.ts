/** The deployables never import each other; core/ imports none of them (ESLint enforces it). */
import { strict as assert } from 'node:assert';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../support/processes.js';

async function lintAs(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: REPO_ROOT });
  const [result] = await eslint.lintText(code, { filePath: `${REPO_ROOT}${filePath}` });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

describe('import boundaries', function () {
  this.timeout(30_000);
  const cases = [
    { file: 'dispatcher/x.ts', imports: '../broker/main.js', refused: true },
    { file: 'broker/x.ts', imports: '../operator/compile.js', refused: true },
    { file: 'operator/x.ts', imports: '../dispatcher/retry.js', refused: true },
    { file: 'core/x.ts', imports: '../broker/main.js', refused: true },
    { file: 'broker/x.ts', imports: '../core/topology.js', refused: false },
    { file: 'cli/x.ts', imports: '../broker/main.js', refused: false },
  ];
  for (const c of cases) {
    it(`${c.refused ? 'refuses' : 'allows'} ${c.file} importing ${c.imports}`, async () => {
      const messages = await lintAs(
        c.file,
        `import { x } from '${c.imports}';\nexport const y = x;\n`,
      );
      assert.equal(messages.length > 0, c.refused, messages.join('; '));
    });
  }
});
