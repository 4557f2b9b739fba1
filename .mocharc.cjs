// Mocha runs the TypeScript tests in place through tsx's loader. The spec
// (test/**/*.test.ts) is given by `npm test` (infra/bootstrap.mjs), so that
// `npx mocha test/x.test.ts` runs just that file.
module.exports = {
  'node-option': ['import=tsx'],
  require: ['test/support/global.ts'],
  reporter: 'test/support/reporter.cjs',
  timeout: 60_000,
  slow: 2_000,
  // A forgotten `.only` would quietly run a fraction of the suite, and a
  // skipped test reports nothing while passing: both fail the run instead.
  'forbid-only': true,
  'forbid-pending': true,
};
