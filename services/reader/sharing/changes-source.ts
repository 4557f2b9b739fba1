/**
 * What changed between two versions, from the log tables, for Delta
 * Sharing's change data feed (`GET …/changes`) and its `startingVersion`
 * query (data change files since a version). Read in one snapshot, a batch
 * at a time through a cursor (a range of versions can hold far more actions
 * than a reader's memory), in (version, ordinal) order — the order of the
 * commit files, which is also the paging key.
 *
 * The change data feed follows the Delta protocol's rule ("Change Data
 * Files"): a version with `cdc` actions is read from them only; a version
 * without is read from its `add` and `remove` actions that change data
 * (`dataChange: true`): rows of an added file are inserts, of a removed file
 * deletes. A `startingVersion` query returns the add and remove actions that
 * change data, never `cdc`. Both may return the metaData actions of the
 * range (historical metadata).
 *
 * Also the version lookups by time the protocol asks for: the earliest
 * version at or after a timestamp (`startingTimestamp`).
 */
import { cursorBatches, type PoolClient } from '../../../shared/db/index.ts';
import type { AddAction, CdcAction, MetadataAction, RemoveAction } from '../../../shared/delta/index.ts';
import { invalidParameter } from './errors.ts';

export type ChangeKind = 'add' | 'remove' | 'cdc' | 'metaData';

export type VersionChange =
  | { readonly kind: 'add'; readonly version: number; readonly ordinal: number; readonly timestampMs: number; readonly action: AddAction }
  | { readonly kind: 'remove'; readonly version: number; readonly ordinal: number; readonly timestampMs: number; readonly action: RemoveAction }
  | { readonly kind: 'cdc'; readonly version: number; readonly ordinal: number; readonly timestampMs: number; readonly action: CdcAction }
  | { readonly kind: 'metaData'; readonly version: number; readonly ordinal: number; readonly timestampMs: number; readonly action: MetadataAction };

export interface ChangesQuery {
  readonly from: number;
  readonly to: number;
  /** the change data feed (cdc files where a version has them) or the data change files of a startingVersion query */
  readonly feed: 'cdf' | 'data-changes';
  readonly metadata: boolean;
  /** only changes strictly after this (version, ordinal): paging */
  readonly after: { readonly version: number; readonly ordinal: number } | undefined;
}

const batchRows = 5000;

function changesSql(query: ChangesQuery): string {
  const withoutCdc = query.feed === 'cdf'
    ? 'AND NOT EXISTS (SELECT FROM deltameta.delta_cdc c WHERE c.table_id = $1 AND c.version = x.version)'
    : '';
  const branches = [
    `SELECT version, ordinal, 'add' AS kind, action FROM deltameta.delta_add x WHERE table_id = $1 AND version BETWEEN $2 AND $3 AND data_change ${withoutCdc}`,
    `SELECT version, ordinal, 'remove' AS kind, action FROM deltameta.delta_remove x WHERE table_id = $1 AND version BETWEEN $2 AND $3 AND data_change ${withoutCdc}`,
    ...(query.feed === 'cdf' ? ["SELECT version, ordinal, 'cdc' AS kind, action FROM deltameta.delta_cdc WHERE table_id = $1 AND version BETWEEN $2 AND $3"] : []),
    ...(query.metadata ? ["SELECT version, ordinal, 'metaData' AS kind, action FROM deltameta.delta_metadata WHERE table_id = $1 AND version BETWEEN $2 AND $3"] : []),
  ];
  // serves: each action table's primary key (table_id, version, ordinal); delta_commit's for the version's time
  return `
    SELECT a.version, a.ordinal, a.kind, a.action, c.timestamp_ms
      FROM (${branches.join('\n      UNION ALL ')}) a
      JOIN deltameta.delta_commit c ON c.table_id = $1 AND c.version = a.version
     WHERE (a.version, a.ordinal) > ($4::bigint, $5::integer)
     ORDER BY a.version, a.ordinal`;
}

/** The changes of [from, to] in commit order, a batch at a time (inside the caller's snapshot). */
export async function* versionChanges(client: PoolClient, tableId: number, query: ChangesQuery): AsyncGenerator<VersionChange> {
  const after = query.after ?? { version: -1, ordinal: -1 };
  const batches = cursorBatches<{ version: string; ordinal: number; kind: ChangeKind; action: string; timestamp_ms: string }>(
    client, changesSql(query), [tableId, query.from, query.to, after.version, after.ordinal], { batchRows, name: 'sharing_changes', fetchAhead: true },
  );
  for await (const rows of batches) {
    for (const row of rows) {
      const change: unknown = { kind: row.kind, version: Number(row.version), ordinal: row.ordinal, timestampMs: Number(row.timestamp_ms), action: JSON.parse(row.action) as unknown };
      yield change as VersionChange;
    }
  }
}

// serves: delta_commit_timestamp (table_id, timestamp_ms)
const earliestAtOrAfterSql = `
  SELECT version FROM deltameta.delta_commit
   WHERE table_id = $1 AND version >= $2 AND timestamp_ms >= $3
   ORDER BY timestamp_ms, version LIMIT 1`;

/**
 * The earliest retained version committed at or after `timestampMs`
 * (`startingTimestamp`); a time before the first retained version is that
 * version. 400 when no version is that recent (the protocol's server refuses
 * a start after the latest commit).
 */
export async function versionAtOrAfter(client: PoolClient, tableId: number, logStartVersion: number, timestampMs: number, field: string): Promise<number> {
  const { rows } = await client.query<{ version: string }>(earliestAtOrAfterSql, [tableId, logStartVersion, timestampMs]);
  const found = rows[0];
  if (found === undefined) throw invalidParameter(`${field} ${new Date(timestampMs).toISOString()} is after the latest version's commit`);
  return Number(found.version);
}

// serves: delta_metadata primary key (the one in force at `from`, and those of the range)
const metadataOfRangeSql = `
  SELECT version, action FROM (
    (SELECT version, action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1)
    UNION ALL
    (SELECT version, action FROM deltameta.delta_metadata WHERE table_id = $1 AND version > $2 AND version <= $3)
  ) m ORDER BY version`;

/** The change data feed must be enabled at every version of the range (as Spark requires); 400 naming the first where it is not. */
export async function checkChangeDataFeed(client: PoolClient, tableId: number, from: number, to: number): Promise<void> {
  const { rows } = await client.query<{ version: string; action: string }>(metadataOfRangeSql, [tableId, from, to]);
  for (const row of rows) {
    const metadata = JSON.parse(row.action) as MetadataAction;
    if ((metadata.configuration['delta.enableChangeDataFeed'] ?? '').toLowerCase() !== 'true') {
      const at = Math.max(Number(row.version), from);
      throw invalidParameter(`the change data feed is not enabled at version ${at} (delta.enableChangeDataFeed is not true): it can be read only for versions written with it on`);
    }
  }
}
