import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // .scratch*/: engineers' uncommitted experiments (gitignored), never part of the product.
  { ignores: ['node_modules/', 'data/', 'dist/', 'test-results/', 'bench/results/', 'src/web/vendor/', '.scratch*/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['src/web/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', localStorage: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', WebSocket: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', TextEncoder: 'readonly', crypto: 'readonly', navigator: 'readonly', location: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', requestAnimationFrame: 'readonly' } },
  },
);
