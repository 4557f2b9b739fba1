/** Access rules the services share: what a token's table prefix covers, and reloading a tokens file while running. */
export { allTables, scopeCovers, scopeProblem, scopesForSql } from './table-scope.ts';
export { TokenReloader, type ReloadableTokens } from './token-reload.ts';
