/**
 * The statements of a commit (commit.ts), one named constant per operation,
 * each with the index that serves it.
 */

/** serves: delta_table name unique index (a concurrent creator makes this return no row) */
export const createTableSql = 'INSERT INTO deltameta.delta_table (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING table_id';

/** A retried commit (same commitInfo.txnId) finds its version. serves: delta_commit_txn_id */
export const commitOfTxnIdSql = 'SELECT version FROM deltameta.delta_commit WHERE table_id = $1 AND txn_id = $2';

/** The database clock and the previous commit's timestamp (timestamps strictly increase). serves: delta_commit primary key */
export const commitClockSql = `
  SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms,
         (SELECT timestamp_ms FROM deltameta.delta_commit WHERE table_id = $1 AND version = $2) AS previous_ms`;

/** The commits that won the race, in (since, head]. serves: delta_commit primary key (table_id, version) range */
export const winningCommitsSql = `
  SELECT version, operation, metadata_changed, protocol_changed, coalesce(commit_info->>'isBlindAppend' = 'true', false) AS is_blind_append
    FROM deltameta.delta_commit
   WHERE table_id = $1 AND version > $2 AND version <= $3 ORDER BY version`;

/**
 * The winners' removes, with the partition values the remove carries (Spark's
 * removes carry them; one without is matched against read predicates as if
 * it were in every partition). serves: delta_remove primary key (table_id, version, ordinal)
 */
export const winningRemovesSql = `
  SELECT version, path, (action::jsonb)->'partitionValues' AS partition_values FROM deltameta.delta_remove
   WHERE table_id = $1 AND version > $2 AND version <= $3 ORDER BY version, ordinal`;

/** The winners' adds (concurrent-append check). serves: delta_add primary key (table_id, version, ordinal) range */
export const winningAddsSql = `
  SELECT version, path, partition_values FROM deltameta.delta_add
   WHERE table_id = $1 AND version > $2 AND version <= $3 ORDER BY version, ordinal`;

/** The winners' domains. serves: delta_domain_metadata primary key (table_id, version, ordinal) range */
export const winningDomainsSql = `
  SELECT version, domain FROM deltameta.delta_domain_metadata WHERE table_id = $1 AND version > $2 AND version <= $3`;

/** The winners' protocol actions. serves: delta_protocol primary key (table_id, version) range */
export const winningProtocolsSql = `
  SELECT version, action FROM deltameta.delta_protocol WHERE table_id = $1 AND version > $2 AND version <= $3`;

/** The winners' txns. serves: delta_txn primary key (table_id, version, ordinal) range */
export const winningTxnsSql = `
  SELECT version, app_id FROM deltameta.delta_txn WHERE table_id = $1 AND version > $2 AND version <= $3`;

/** The metaData in force at head. serves: delta_metadata primary key (table_id, version), backwards */
export const metadataAtSql = 'SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1';

/** The protocol in force at a version. serves: delta_protocol primary key (table_id, version), backwards */
export const protocolAtSql = 'SELECT action FROM deltameta.delta_protocol WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1';

/**
 * The row-tracking high-water mark at a version (the newest `delta.rowTracking` domain action).
 * serves: delta_domain_metadata_domain (table_id, domain, version DESC)
 */
export const rowIdHighWaterMarkAtSql = `
  SELECT configuration, removed FROM deltameta.delta_domain_metadata
   WHERE table_id = $1 AND domain = 'delta.rowTracking' AND version <= $2 ORDER BY version DESC, ordinal DESC LIMIT 1`;

/**
 * The live (path, dv id) keys of some paths at version $2: the materialized
 * file_index at its watermark (path index file_index_live), then the log's
 * actions after the watermark (the tail, by the primary key's version range)
 * — not the table's whole log, which a path filter alone would scan on a
 * table of millions of files. A table never refreshed reads its whole log.
 * One statement: the watermark and the rows come from one snapshot.
 * serves: table_state primary key, file_index_live, delta_add/delta_remove primary keys (table_id, version, …)
 */
export const liveKeysOfPathsSql = `
  WITH watermark AS (
    SELECT COALESCE((SELECT mv_version FROM deltameta.table_state WHERE table_id = $1 AND mv_version <= $2), -1) AS version
  )
  SELECT path, dv_id FROM (
    SELECT DISTINCT ON (path, dv_id) path, dv_id, is_add FROM (
      SELECT f.path, f.dv_id, w.version, -1 AS ordinal, true AS is_add
        FROM deltameta.file_index f, watermark w
       WHERE f.table_id = $1 AND w.version >= 0 AND f.removed_version IS NULL AND f.path = ANY($3)
      UNION ALL
      SELECT a.path, a.dv_id, a.version, a.ordinal, true FROM deltameta.delta_add a, watermark w
       WHERE a.table_id = $1 AND a.version > w.version AND a.version <= $2 AND a.path = ANY($3)
      UNION ALL
      SELECT r.path, r.dv_id, r.version, r.ordinal, false FROM deltameta.delta_remove r, watermark w
       WHERE r.table_id = $1 AND r.version > w.version AND r.version <= $2 AND r.path = ANY($3)
    ) actions ORDER BY path, dv_id, version DESC, ordinal DESC
  ) newest WHERE is_add`;

/** A commit's turn on its table. serves: delta_table name unique index */
export const lockTableRowSql = 'SELECT 1 FROM deltameta.delta_table WHERE name = $1 FOR UPDATE';
