/**
 * The reader (services/reader): the /v1 HTTP API over the cache levels
 * L1 in-process LRU ▶ L2 Redis ▶ L3 materialized state ▶ L4 log tail.
 * Exported: what main.ts, the tests and the benchmark use.
 */
// The process (main.ts, test/integration, test/e2e, bench/reader.ts).
export { Reader, type ReaderOptions } from './reader.ts';
// Access control as the tests configure it (test/integration/reader.test.ts).
export { AccessControl, hashToken } from './auth.ts';
// The whole-list stream, whose snapshot test/integration/reader.test.ts watches directly.
export { streamWholeListIfLarge } from './whole-list-stream.ts';
// Pure request rules, for their unit tests (test/unit/reader-*.test.ts).
export { acceptsGzip } from './accept-encoding.ts';
export { clientHasContent, parseIfNoneMatch } from './conditional-request.ts';
export { problemFor } from './errors.ts';
export { versionSelectorOf } from './version-resolution.ts';
// The L2 budget's bookkeeping, driven with a fake clock by test/integration/reader-flood.test.ts.
export { L2WriteBudget } from './l2-write-budget.ts';
// Which level answers a version, for the tail-bound test (test/integration/reader-limits.test.ts).
export { cancelOnAbort, endLingeringWatches, inSnapshot, planInSnapshot, RequestAbandoned, requestAbandonment, RequestWatch, watchedUntilClosed, type Plan } from './snapshot-scope.ts';
// Delta Sharing's pure pieces, for their tests (test/unit/sharing-*.test.ts, test/integration/sharing-file-route.test.ts).
export { FileTokenError, fileTokenOfUrl, HmacFileUrlSigner, HmacSha256, issueFileToken, openFileToken, relativeFilePath, sharingUrlKey, type FileUrlSigner } from './sharing/file-urls.ts';
export { sharingFileRoute } from './sharing/file-route.ts';
export * from './sharing/responses.ts';
export { fileMayMatch, parseJsonPredicate, type PredicateNode, type PrunableFile } from './sharing/predicate-hints.ts';
export { parseChangesQuery, parseMetadataQuery, parseQueryBody, parseSharingTimestamp, parseVersionQuery } from './sharing/table-requests.ts';
export { partitionEqualities } from './sharing/predicate-pushdown.ts';
export { bucketedExpiry } from './sharing/answers.ts';
export { deletionVectorPath } from './sharing/deletion-vector-path.ts';
export { sharingErrorFor } from './sharing/errors.ts';
