// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Deployables never import each other: what they share lives in core/. */
const deployables = ['operator', 'broker', 'dispatcher'];
const isolateDeployable = (name) => ({
  files: [`${name}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: deployables
          .filter((other) => other !== name)
          .map((other) => ({
            group: [`**/${other}/*`, `**/${other}`],
            message: `${name}/ must not import ${other}/: move shared code to core/.`,
          })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.herald/**', '.prof/**', 'test/support/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: false },
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: deployables.map((d) => ({
            group: [`**/${d}/*`, `**/${d}`],
            message: 'core/ is shared by every deployable and must not import one.',
          })),
        },
      ],
    },
  },
  ...deployables.map(isolateDeployable),
);
