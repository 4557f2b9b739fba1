// Mocha runs the TypeScript tests in place through tsx's loader. The spec
// (test/**/*.test.ts) is given by `npm test` (infra/bootstrap.mjs), so that
// `npx mocha test/x.test.ts` runs just that file.
module.exports = {
  'node-option': ['import=tsx'],
  require: ['test/support/global.ts'],
  reporter: 'test/support/reporter.cjs',
  timeout: 60_000,
  slow: 2_000,
};
