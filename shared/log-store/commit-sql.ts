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
  SELECT version, metadata_changed, protocol_changed FROM deltameta.delta_commit
   WHERE table_id = $1 AND version > $2 AND version <= $3 ORDER BY version`;

/** serves: delta_remove primary key (table_id, version, ordinal): only the winners' removes are read */
export const winningRemovesSql = `
  SELECT version, path, dv_id FROM deltameta.delta_remove WHERE table_id = $1 AND version > $2 AND version <= $3 ORDER BY version`;

/** The winners' txns of this commit's appIds. serves: delta_txn primary key (table_id, version, ordinal) range */
export const winningTxnsSql = `
  SELECT version, app_id FROM deltameta.delta_txn WHERE table_id = $1 AND version > $2 AND version <= $3 AND app_id = ANY($4)`;

/** The newest txn version of each appId up to head. serves: delta_txn_app (table_id, app_id, version DESC) */
export const latestTxnVersionsSql = `
  SELECT DISTINCT ON (app_id) app_id, txn_version, version FROM deltameta.delta_txn
   WHERE table_id = $1 AND app_id = ANY($2) AND version <= $3 ORDER BY app_id, version DESC, ordinal DESC`;

/** The metaData in force at head. serves: delta_metadata primary key (table_id, version), backwards */
export const metadataAtSql = 'SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1';
