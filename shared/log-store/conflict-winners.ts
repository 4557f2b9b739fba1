/**
 * What each winning commit in (since, head] did, as Spark's
 * WinningCommitSummary holds it, read from the log tables. Only what the
 * loser's checks need is read (a blind append never reads the winners' adds).
 */
import type { PoolClient } from '../db/index.ts';
import { type ProtocolAction } from '../delta/index.ts';
import { winningAddsSql, winningCommitsSql, winningDomainsSql, winningProtocolsSql, winningRemovesSql, winningTxnsSql } from './commit-sql.ts';
import { type PartitionValues } from './conflict-predicates.ts';

export interface WinnerSummary {
  readonly version: number;
  readonly operation: string | null;
  /** commitInfo.isBlindAppend was true (Spark: absent counts as false) */
  readonly isBlindAppend: boolean;
  readonly metadataChanged: boolean;
  readonly protocol: ProtocolAction | undefined;
  readonly addedPartitionValues: readonly PartitionValues[];
  readonly removes: ReadonlyArray<{ readonly path: string; readonly partitionValues: PartitionValues | null }>;
  readonly appIds: ReadonlySet<string>;
  readonly domains: ReadonlySet<string>;
}

export interface WinnerNeeds {
  readonly adds: boolean;
}

interface MutableWinner {
  version: number;
  operation: string | null;
  isBlindAppend: boolean;
  metadataChanged: boolean;
  protocol: ProtocolAction | undefined;
  addedPartitionValues: PartitionValues[];
  removes: Array<{ path: string; partitionValues: PartitionValues | null }>;
  appIds: Set<string>;
  domains: Set<string>;
}

export async function loadWinners(client: PoolClient, tableId: number, since: number, head: number, needs: WinnerNeeds): Promise<WinnerSummary[]> {
  const range = [tableId, since, head];
  const { rows: commits } = await client.query<{
    version: number; operation: string | null; metadata_changed: boolean; protocol_changed: boolean; is_blind_append: boolean;
  }>(winningCommitsSql, range);
  const byVersion = new Map<number, MutableWinner>();
  for (const row of commits) {
    byVersion.set(Number(row.version), {
      version: Number(row.version), operation: row.operation, isBlindAppend: row.is_blind_append, metadataChanged: row.metadata_changed,
      protocol: undefined, addedPartitionValues: [], removes: [], appIds: new Set(), domains: new Set(),
    });
  }
  const winner = (version: number | string): MutableWinner | undefined => byVersion.get(Number(version));
  if (commits.some((row) => row.protocol_changed)) {
    const { rows } = await client.query<{ version: number; action: string }>(winningProtocolsSql, range);
    for (const row of rows) {
      const found = winner(row.version);
      if (found) found.protocol = JSON.parse(row.action) as ProtocolAction;
    }
  }
  const { rows: removes } = await client.query<{ version: number; path: string; partition_values: PartitionValues | null }>(winningRemovesSql, range);
  for (const row of removes) winner(row.version)?.removes.push({ path: row.path, partitionValues: row.partition_values });
  if (needs.adds) {
    const { rows: adds } = await client.query<{ version: number; partition_values: PartitionValues }>(winningAddsSql, range);
    for (const row of adds) winner(row.version)?.addedPartitionValues.push(row.partition_values);
  }
  const { rows: txns } = await client.query<{ version: number; app_id: string }>(winningTxnsSql, range);
  for (const row of txns) winner(row.version)?.appIds.add(row.app_id);
  const { rows: domains } = await client.query<{ version: number; domain: string }>(winningDomainsSql, range);
  for (const row of domains) winner(row.version)?.domains.add(row.domain);
  return [...byVersion.values()];
}
