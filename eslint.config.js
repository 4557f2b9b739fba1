// Lint: typescript-eslint with type information. Floating promises, deep
// imports into another module's internals and `any` in the open are errors.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from './infra/lint/module-boundaries.mjs';

export default tseslint.config(
  { ignores: ['node_modules/**', '.stack/**', '.venv/**', 'dist/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    plugins: { deltameta: boundaries },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // shared/ never imports services/, services never import each other, and a
      // module is imported only through its index.ts (infra/lint/module-boundaries.mjs).
      'deltameta/module-boundaries': ['error', { root: import.meta.dirname }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly', __dirname: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The launcher loads the CLI's entry point (a process boundary, not a library import).
    files: ['bin/**'],
    rules: { 'deltameta/module-boundaries': 'off' },
  },
  {
    // Mocha's `this` and chai's property assertions.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
  },
);
