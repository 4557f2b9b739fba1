/**
 * The reconciled state of a table at a version, read from the log tables:
 * the newest action on each file key at or before the version wins (adds
 * live, removes tombstones), latest metadata and protocol, latest txn per
 * appId, domain metadata without tombstones. Streamed: a million files never
 * sit in memory at once.
 */
import QueryStream from 'pg-query-stream';
import type { PoolClient } from '../db/index.ts';
import { unexpiredTransactions, type DomainMetadataAction, type MetadataAction, type ProtocolAction, type TxnAction } from '../delta/index.ts';

export interface FileRow {
  readonly isAdd: boolean;
  /** the action's JSON as stored (add or remove object) */
  readonly action: string;
}

/**
 * DISTINCT ON keeps, per (path, dv_id), the row with the highest (version,
 * ordinal); both columns are COLLATE "C", so the order is code point order,
 * the order `replay` prints. Served by a scan of the table's partition of
 * delta_add / delta_remove and one sort (the fast path is file_index).
 *
 * Bounded: it starts at the newest stored checkpoint at or before the version
 * (a delta_commit row with is_checkpoint: its delta_add rows are the whole
 * live set, its delta_remove rows the tombstones), never below
 * log_start_version ($3). A default import stores its base checkpoint as
 * log_start_version, so a version of its tail reads the checkpoint's rows
 * plus the tail, not every stored version. serves: delta_commit primary key
 * (a backward probe from the version), then the log tables' primary keys
 * from the base on.
 */
const reconciledFilesSql = `
  WITH base AS (
    SELECT coalesce((SELECT version FROM deltameta.delta_commit
                      WHERE table_id = $1 AND version BETWEEN $3 AND $2 AND is_checkpoint ORDER BY version DESC LIMIT 1), $3) AS version
  )
  SELECT is_add, action FROM (
    SELECT DISTINCT ON (path, dv_id) path, dv_id, is_add, action
      FROM (
        SELECT path, dv_id, version, ordinal, true AS is_add, action
          FROM deltameta.delta_add WHERE table_id = $1 AND version BETWEEN (SELECT version FROM base) AND $2
        UNION ALL
        SELECT path, dv_id, version, ordinal, false AS is_add, action
          FROM deltameta.delta_remove WHERE table_id = $1 AND version BETWEEN (SELECT version FROM base) AND $2
      ) actions
     ORDER BY path, dv_id, version DESC, ordinal DESC
  ) newest
  WHERE is_add OR $4
  ORDER BY path, dv_id`;

export async function* reconciledFiles(
  client: PoolClient,
  tableId: number,
  version: number,
  logStartVersion: number,
  options: { includeTombstones?: boolean } = {},
): AsyncGenerator<FileRow> {
  const stream = client.query(
    new QueryStream(reconciledFilesSql, [tableId, version, logStartVersion, options.includeTombstones === true], { batchSize: 5000 }),
  );
  for await (const row of stream as AsyncIterable<{ is_add: boolean; action: string }>) {
    yield { isAdd: row.is_add, action: row.action };
  }
}

export interface TableHeader {
  readonly metadata: MetadataAction | undefined;
  readonly protocol: ProtocolAction | undefined;
  readonly txns: TxnAction[];
  readonly domains: DomainMetadataAction[];
}

export async function tableHeader(client: PoolClient, tableId: number, version: number): Promise<TableHeader> {
  // serves: delta_metadata / delta_protocol primary keys (newest version at or before)
  // serves: delta_commit primary key (the version's time: expired txns are measured from it)
  const { rows } = await client.query<{ metadata: string | null; protocol: string | null; timestamp_ms: number | null }>(
    `SELECT (SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS metadata,
            (SELECT action FROM deltameta.delta_protocol WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS protocol,
            (SELECT timestamp_ms FROM deltameta.delta_commit WHERE table_id = $1 AND version = $2) AS timestamp_ms`,
    [tableId, version],
  );
  // serves: delta_txn_app and delta_domain_metadata_domain
  const txns = await client.query<{ action: string }>(
    `SELECT DISTINCT ON (app_id) action FROM deltameta.delta_txn WHERE table_id = $1 AND version <= $2
      ORDER BY app_id, version DESC, ordinal DESC`,
    [tableId, version],
  );
  const domains = await client.query<{ action: string; removed: boolean }>(
    `SELECT DISTINCT ON (domain) action, removed FROM deltameta.delta_domain_metadata WHERE table_id = $1 AND version <= $2
      ORDER BY domain, version DESC, ordinal DESC`,
    [tableId, version],
  );
  const row = rows[0];
  const metadata = row?.metadata ? (JSON.parse(row.metadata) as MetadataAction) : undefined;
  const allTxns = txns.rows.map((txn) => JSON.parse(txn.action) as TxnAction);
  return {
    metadata,
    protocol: row?.protocol ? (JSON.parse(row.protocol) as ProtocolAction) : undefined,
    // delta.setTransactionRetentionDuration, measured from this version's time (shared/delta transaction-retention.ts).
    txns: row?.timestamp_ms === null || row?.timestamp_ms === undefined ? allTxns : unexpiredTransactions(allTxns, metadata?.configuration, Number(row.timestamp_ms)),
    domains: domains.rows.filter((domain) => !domain.removed).map((domain) => JSON.parse(domain.action) as DomainMetadataAction),
  };
}
