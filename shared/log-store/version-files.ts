/**
 * The files of one version, rebuilt from the log tables (`deltameta export`
 * writes a whole log with them, services/publisher one version at a time): the commit
 * file is the stored text of each action in `ordinal` order, the commitInfo
 * back at `commit_info_ordinal`, unknown actions last; a Parquet checkpoint
 * is the reconciled state at the version (adds and tombstones with
 * dataChange false, latest protocol, metadata, txns and domains).
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import QueryStream from 'pg-query-stream';
import type { PoolClient } from '../db/index.ts';
import { writeParquetCheckpoint, type Action, type AddAction, type Json, type RemoveAction } from '../delta/index.ts';
import { reconciledFiles, tableHeader } from './state.ts';

export interface CommitRow {
  readonly version: number;
  readonly timestamp_ms: number;
  readonly commit_info: Json | null;
  readonly commit_info_ordinal: number | null;
  readonly is_checkpoint: boolean;
  readonly unknown_actions: Json[] | null;
}

// serves: delta_commit primary key
const commitRowsSql = `
  SELECT version, timestamp_ms, commit_info, commit_info_ordinal, is_checkpoint, unknown_actions
    FROM deltameta.delta_commit WHERE table_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version`;

export async function commitRows(client: PoolClient, tableId: number, from: number, to: number): Promise<CommitRow[]> {
  return (await client.query<CommitRow>(commitRowsSql, [tableId, from, to])).rows;
}

// serves: the log tables' primary keys (table_id, version, ordinal)
const versionActionsSql = `
  SELECT ordinal, kind, action FROM (
    SELECT ordinal, 'add' AS kind, action FROM deltameta.delta_add WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, 'remove', action FROM deltameta.delta_remove WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, 'metaData', action FROM deltameta.delta_metadata WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, 'protocol', action FROM deltameta.delta_protocol WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, 'txn', action FROM deltameta.delta_txn WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, 'domainMetadata', action FROM deltameta.delta_domain_metadata WHERE table_id = $1 AND version = $2
    UNION ALL SELECT ordinal, 'cdc', action FROM deltameta.delta_cdc WHERE table_id = $1 AND version = $2
  ) version_actions ORDER BY ordinal`;

export function hasInCommitTimestamp(commitInfo: Json | null): boolean {
  return typeof commitInfo === 'object' && commitInfo !== null && !Array.isArray(commitInfo) && typeof commitInfo['inCommitTimestamp'] === 'number';
}

/** The commit file of a version imported as a checkpoint only: what was kept of it, its commitInfo (in-commit timestamps). */
export function commitInfoOnly(commit: CommitRow): string {
  return `{"commitInfo":${JSON.stringify(commit.commit_info)}}\n`;
}

/** Streams the version's commit file into `handle` (from its start), a megabyte at a time. */
export async function writeCommitLines(client: PoolClient, tableId: number, commit: CommitRow, handle: FileHandle): Promise<void> {
  let buffered = '';
  let written = 0;
  const commitInfoLine = commit.commit_info !== null ? `{"commitInfo":${JSON.stringify(commit.commit_info)}}\n` : '';
  let commitInfoPending = commitInfoLine !== '';
  const stream = client.query(new QueryStream(versionActionsSql, [tableId, commit.version], { batchSize: 5000 }));
  for await (const row of stream as AsyncIterable<{ ordinal: number; kind: string; action: string }>) {
    // The commitInfo goes back where it was (usually first).
    if (commitInfoPending && (commit.commit_info_ordinal ?? 0) <= row.ordinal) {
      buffered += commitInfoLine;
      commitInfoPending = false;
    }
    buffered += `{"${row.kind}":${row.action}}\n`;
    if (buffered.length > 1 << 20) {
      await handle.write(buffered, written);
      written += Buffer.byteLength(buffered);
      buffered = '';
    }
  }
  if (commitInfoPending) buffered += commitInfoLine;
  for (const unknown of commit.unknown_actions ?? []) buffered += `${JSON.stringify(unknown)}\n`;
  await handle.write(buffered, written);
}

// serves: delta_metadata primary key (newest at or before the version)
const configurationSql = `
  SELECT configuration FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1`;

/** The table's `delta.checkpointInterval` at the version (a positive integer), else `fallback`. */
export async function checkpointIntervalAt(client: PoolClient, tableId: number, version: number, fallback: number): Promise<number> {
  const { rows } = await client.query<{ configuration: Record<string, unknown> | null }>(configurationSql, [tableId, version]);
  const value = rows[0]?.configuration?.['delta.checkpointInterval'];
  const parsed = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(parsed) && parsed > 0 ? parsed : fallback;
}

export function checkpointFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.checkpoint.parquet`;
}

/** What `_last_checkpoint` says of a checkpoint (PROTOCOL.md "Last Checkpoint File"). */
export interface LastCheckpoint {
  readonly version: number;
  /** actions in the checkpoint */
  readonly size: number;
  readonly sizeInBytes: number;
  readonly numOfAddFiles: number;
}

/** Writes the classic Parquet checkpoint of `version` (written aside and renamed by writeParquetCheckpoint: complete or absent). */
export async function writeCheckpoint(client: PoolClient, tableId: number, version: number, logStartVersion: number, logDir: string): Promise<LastCheckpoint> {
  const header = await tableHeader(client, tableId, version);
  let adds = 0;
  async function* actions(): AsyncGenerator<Action> {
    if (header.protocol) yield { kind: 'protocol', protocol: header.protocol };
    if (header.metadata) yield { kind: 'metaData', metaData: header.metadata };
    for (const txn of header.txns) yield { kind: 'txn', txn };
    for (const domainMetadata of header.domains) yield { kind: 'domainMetadata', domainMetadata };
    for await (const row of reconciledFiles(client, tableId, version, logStartVersion, { includeTombstones: true })) {
      // In a checkpoint an add is state, not change.
      if (row.isAdd) {
        adds++;
        yield { kind: 'add', add: { ...(JSON.parse(row.action) as AddAction), dataChange: false } };
      } else {
        yield { kind: 'remove', remove: { ...(JSON.parse(row.action) as RemoveAction), dataChange: false } };
      }
    }
  }
  const { rows, bytes } = await writeParquetCheckpoint(path.join(logDir, checkpointFileName(version)), actions());
  return { version, size: rows, sizeInBytes: bytes, numOfAddFiles: adds };
}
