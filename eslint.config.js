import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs', 'path', 'child_process', 'os', 'crypto', 'http', 'https', 'net', 'url', 'util', 'stream',
  'events', 'process', 'timers', 'worker_threads', 'dns', 'zlib', 'readline', 'buffer', 'cluster', 'tls',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.culvert/**', 'dist/**', 'db/migrations/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed deterministically inside Temporal's sandbox: no I/O, no Node.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
        patterns: [{ group: ['node:*'], message: 'Node built-ins are not allowed in workflow code.' }],
      }],
      'no-restricted-globals': ['error', { name: 'process', message: 'No process in workflow code.' }, { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' }],
    },
  },
);
