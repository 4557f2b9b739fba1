/**
 * The committer (services/committer): the HTTP commit API for writers,
 * `POST /v1/tables/{name}/commits`, over the library's commit.
 * Exported: what main.ts, the tests and the benchmark use.
 */
export { Committer, startCommitter, type CommitterOptions } from './committer.ts';
export { buildCommitterApp, commitsRoute, ndjsonContentType, type CommitResponse, type CommitterDeps } from './committer-app.ts';
export { loadCommitterConfig, type CommitterConfig } from './config.ts';
export { committerMetrics, commitOutcomes, type CommitOutcome, type CommitterMetrics } from './metrics.ts';
export { hashWriteToken, WriteAccess, type WriteGrant, type WriteGrantSpec } from './write-tokens.ts';
export { checkCommitterRole } from './role-check.ts';
