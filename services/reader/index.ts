/**
 * The reader (services/reader): the /v1 HTTP API over the cache levels
 * L1 in-process LRU ▶ L2 Redis ▶ L3 materialized state ▶ L4 log tail.
 */
export { Reader, readOnlyUrl, type ReaderOptions } from './reader.ts';
export { AccessControl, hashToken, type TokenGrant } from './auth.ts';
export { ForbiddenError, UnauthorizedError, problemFor, type Problem } from './errors.ts';
export { HeadTracker } from './head-tracker.ts';
export { ResponseCache, type CacheLevel, type CachedResponse, type ResponseCacheOptions } from './response-cache.ts';
export { matchesFilters, parseFileFilters, filtersSql, type FileFilters } from './file-filters.ts';
export { streamWholeListIfLarge, type WholeListStream } from './whole-list-stream.ts';
