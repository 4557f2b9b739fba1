/**
 * `deltameta export`: writes a table's log back as a `_delta_log` other
 * Delta readers accept: one JSON commit per version with the actions in
 * their original order (commit files get the version's timestamp as their
 * modification time, so timestamp time travel agrees), a Parquet checkpoint
 * for the version an import started from (with its commitInfo as a commit
 * file when it carries an in-commit timestamp) and every
 * `checkpointInterval` versions, and `_last_checkpoint`.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { open, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import QueryStream from 'pg-query-stream';
import type { Pool, PoolClient } from '../db/index.ts';
import { commitFileName, fileTimeSeconds, writeParquetCheckpoint, type Action, type AddAction, type Json, type RemoveAction } from '../delta/index.ts';
import { BadRequestError } from '../errors/index.ts';
import { reconciledFiles, tableHeader } from './state.ts';
import { requireTable } from './tables.ts';

export interface ExportOptions {
  /** A checkpoint every this many versions (Delta's default is 10); 0 for none beyond the base. */
  readonly checkpointInterval?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ExportResult {
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly checkpoints: number[];
}

export async function exportTable(pool: Pool, tableName: string, targetDir: string, options: ExportOptions = {}): Promise<ExportResult> {
  const interval = options.checkpointInterval ?? 10;
  if (!Number.isInteger(interval) || interval < 0) throw new BadRequestError(`checkpoint interval must be a non-negative integer, got ${interval}`);
  const logDir = path.join(targetDir, '_delta_log');
  if (existsSync(logDir) && readdirSync(logDir).length > 0) {
    throw new BadRequestError(`${logDir} already holds a log; export writes only into an empty folder`);
  }
  const table = await requireTable(pool, tableName);
  mkdirSync(logDir, { recursive: true });
  const client = await pool.connect();
  const checkpoints: number[] = [];
  let lastCheckpoint: { version: number; size: number } | undefined;
  try {
    // One consistent view of the log for the whole export.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: commits } = await client.query<{
      version: number; timestamp_ms: number; commit_info: Json | null; commit_info_ordinal: number | null; is_checkpoint: boolean;
      unknown_actions: Json[] | null;
    }>(
      `SELECT version, timestamp_ms, commit_info, commit_info_ordinal, is_checkpoint, unknown_actions
         FROM deltameta.delta_commit WHERE table_id = $1 AND version >= $2 AND version <= $3 ORDER BY version`,
      [table.tableId, table.logStartVersion, table.headVersion],
    );
    let done = 0;
    for (const commit of commits) {
      const wantsCheckpoint = commit.is_checkpoint || (interval > 0 && commit.version > 0 && commit.version % interval === 0);
      if (!commit.is_checkpoint) {
        const file = path.join(logDir, commitFileName(commit.version));
        await writeCommitFile(client, table.tableId, commit, file);
        const seconds = fileTimeSeconds(commit.timestamp_ms);
        await utimes(file, seconds, seconds);
      } else if (hasInCommitTimestamp(commit.commit_info)) {
        // A reader times a version with in-commit timestamps by its commit file's commitInfo only, never by a
        // checkpoint: the version's commit is written back as what was kept of it, its commitInfo (its actions are
        // in the checkpoint beside it, which every reader starts from).
        const file = path.join(logDir, commitFileName(commit.version));
        await writeFile(file, `{"commitInfo":${JSON.stringify(commit.commit_info)}}\n`, { flag: 'wx' });
        const seconds = fileTimeSeconds(commit.timestamp_ms);
        await utimes(file, seconds, seconds);
      }
      if (wantsCheckpoint) {
        const size = await writeCheckpoint(client, table.tableId, commit.version, table.logStartVersion, logDir);
        if (commit.is_checkpoint) {
          // A checkpoint-only version carries its timestamp on the checkpoint file.
          const seconds = fileTimeSeconds(commit.timestamp_ms);
          await utimes(path.join(logDir, checkpointFileName(commit.version)), seconds, seconds);
        }
        checkpoints.push(commit.version);
        lastCheckpoint = { version: commit.version, size };
      }
      options.onProgress?.(++done, commits.length);
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  if (lastCheckpoint) await writeFile(path.join(logDir, '_last_checkpoint'), `${JSON.stringify(lastCheckpoint)}\n`);
  return { fromVersion: table.logStartVersion, toVersion: table.headVersion, checkpoints };
}

function hasInCommitTimestamp(commitInfo: Json | null): boolean {
  return typeof commitInfo === 'object' && commitInfo !== null && !Array.isArray(commitInfo) && typeof commitInfo['inCommitTimestamp'] === 'number';
}

function checkpointFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.checkpoint.parquet`;
}

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

async function writeCommitFile(
  client: PoolClient,
  tableId: number,
  commit: { version: number; commit_info: Json | null; commit_info_ordinal: number | null; unknown_actions: Json[] | null },
  file: string,
): Promise<void> {
  const handle = await open(file, 'wx');
  try {
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
  } finally {
    await handle.close();
  }
}

async function writeCheckpoint(client: PoolClient, tableId: number, version: number, logStartVersion: number, logDir: string): Promise<number> {
  const header = await tableHeader(client, tableId, version);
  async function* actions(): AsyncGenerator<Action> {
    if (header.protocol) yield { kind: 'protocol', protocol: header.protocol };
    if (header.metadata) yield { kind: 'metaData', metaData: header.metadata };
    for (const txn of header.txns) yield { kind: 'txn', txn };
    for (const domainMetadata of header.domains) yield { kind: 'domainMetadata', domainMetadata };
    for await (const row of reconciledFiles(client, tableId, version, logStartVersion, { includeTombstones: true })) {
      if (row.isAdd) {
        // In a checkpoint an add is state, not change.
        yield { kind: 'add', add: { ...(JSON.parse(row.action) as AddAction), dataChange: false } };
      } else {
        yield { kind: 'remove', remove: { ...(JSON.parse(row.action) as RemoveAction), dataChange: false } };
      }
    }
  }
  const { rows } = await writeParquetCheckpoint(path.join(logDir, checkpointFileName(version)), actions());
  return rows;
}
