/**
 * Every Redis key and channel two deltameta processes must agree on, under
 * the deployment's prefix (DELTAMETA_REDIS_PREFIX). Writers and readers
 * build names only through these functions.
 *
 * | name            | written by                | read by                         |
 * |-----------------|---------------------------|---------------------------------|
 * | head:{table}    | invalidator, refresher    | reader, status, bench           |
 * | heads (channel) | advance-head.lua          | reader (head tracker)           |
 * | summary:{t}:{id}:{v} | refresher (warming)  | reader (L2)                     |
 * | hot-tables      | reader (read recency)     | refresher (which tables to warm)|
 * | shadow:{table}  | reader (shadow checks)    | status                          |
 * | reader:{etag}   | reader (L2 bodies)        | reader                          |
 * | bull:*          | BullMQ (every queue)      | BullMQ                          |
 */
export interface RedisKeys {
  /** Hash {version, committedAt}: the head pointer of a table, moved forward only by advance-head.lua. */
  head(table: string): string;
  /** Pub/sub channel of head moves (JSON HeadAnnouncement). */
  readonly headsChannel: string;
  /**
   * The table summary at a version (immutable, JSON). Keyed by the table's id
   * too: a table dropped and created again under its name starts again at
   * version 0, and must never be answered with the old table's entries.
   * `source` (shared/summary summarySource) tells a followed or published
   * table's entry apart: a handover or a publication changes the summary
   * (its kind, its location) without a new version.
   */
  summary(table: string, tableId: number, version: number, source?: string): string;
  /** A SCAN pattern matching every summary of `table` (glob characters in the name escaped). */
  summaryPattern(table: string): string;
  /** Hash {checked, mismatches, lastVersion, lastAt, lastMismatch}: the reader's shadow checks of a table (services/reader/shadow.ts). */
  shadow(table: string): string;
  /** Sorted set: table name → last read time (ms); the refresher warms the newest. */
  readonly hotTables: string;
  /** A reader response body kept in L2, by its ETag. */
  readerResponse(id: string): string;
  /** BullMQ's key prefix for every queue of the deployment. */
  readonly bullPrefix: string;
}

/** Redis glob patterns treat * ? [ ] and \\ specially; a table name may contain them. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    head: (table) => `${prefix}head:${table}`,
    headsChannel: `${prefix}heads`,
    summary: (table, tableId, version, source) => `${prefix}summary:${table}:${tableId}:${version}${source === undefined ? '' : `:${source}`}`,
    summaryPattern: (table) => `${escapeGlob(`${prefix}summary:${table}:`)}*`,
    shadow: (table) => `${prefix}shadow:${table}`,
    hotTables: `${prefix}hot-tables`,
    readerResponse: (id) => `${prefix}reader:${id}`,
    bullPrefix: `${prefix}bull`,
  };
}

/** A summary never goes stale (it is keyed by version): the TTL only bounds Redis memory for versions nobody reads. */
export const summaryTtlSeconds = 86_400;
