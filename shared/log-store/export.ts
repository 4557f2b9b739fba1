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
import type { Pool } from '../db/index.ts';
import { commitFileName, fileTimeSeconds } from '../delta/index.ts';
import { BadRequestError } from '../errors/index.ts';
import { requireTable } from './tables.ts';
import { checkpointFileName, commitInfoOnly, commitRows, hasInCommitTimestamp, writeCheckpoint, writeCommitLines } from './version-files.ts';

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
    const commits = await commitRows(client, table.tableId, table.logStartVersion, table.headVersion);
    let done = 0;
    for (const commit of commits) {
      const wantsCheckpoint = commit.is_checkpoint || (interval > 0 && commit.version > 0 && commit.version % interval === 0);
      if (!commit.is_checkpoint) {
        const file = path.join(logDir, commitFileName(commit.version));
        const handle = await open(file, 'wx');
        try {
          await writeCommitLines(client, table.tableId, commit, handle);
        } finally {
          await handle.close();
        }
        const seconds = fileTimeSeconds(commit.timestamp_ms);
        await utimes(file, seconds, seconds);
      } else if (hasInCommitTimestamp(commit.commit_info)) {
        // A reader times a version with in-commit timestamps by its commit file's commitInfo only, never by a
        // checkpoint: the version's commit is written back as what was kept of it, its commitInfo (its actions are
        // in the checkpoint beside it, which every reader starts from).
        const file = path.join(logDir, commitFileName(commit.version));
        await writeFile(file, commitInfoOnly(commit), { flag: 'wx' });
        const seconds = fileTimeSeconds(commit.timestamp_ms);
        await utimes(file, seconds, seconds);
      }
      if (wantsCheckpoint) {
        const { size } = await writeCheckpoint(client, table.tableId, commit.version, table.logStartVersion, logDir);
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
