// Mocha runs the TypeScript tests in place through tsx's loader.
module.exports = {
  spec: ['test/**/*.test.ts'],
  'node-option': ['import=tsx'],
  require: ['test/support/global.ts'],
  reporter: 'test/support/reporter.cjs',
  timeout: 60_000,
  slow: 2_000,
};
