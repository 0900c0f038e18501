// ESLint flat config: @eslint/js and typescript-eslint recommended over every TypeScript and JavaScript file in the
// repository (src, test, bench, native/fuzz/*.ts, scripts, this file). `npm run lint` runs it, and .ci/run runs that.
// Type-aware rules (recommendedTypeChecked) are not on: with them a run took ~100 s on a loaded 2-vCPU machine
// against ~30 s without. Every rule changed below says why on the line above it.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Build output, installed packages, tap's cache, and the fuzzers' seed inputs (bytes, not code).
    ignores: ['build/**', 'build-*/**', 'dist/**', 'node_modules/**', '.tap/**', 'native/fuzz/corpus/**'],
  },
  {
    files: ['**/*.{ts,js,mjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
    rules: {
      // A variable a closure reads before its one assignment (a timer armed before `await` returns the value it
      // aborts) must stay `let`: as `const` that early read would throw (temporal dead zone).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // An interface method's parameters are named for readers even when an implementation ignores them: a leading
      // `_` says so (test doubles implement the addon's interfaces this way).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
);
