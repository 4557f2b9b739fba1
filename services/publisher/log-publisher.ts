/**
 * The publisher (docs/publisher.md): for each owned table with a row in
 * table_publication, writes every version after `published_version` up to
 * PostgreSQL's head, in version order, as `<location>/_delta_log/<v>.json`,
 * put-if-absent (log-files.ts), with a Parquet checkpoint and
 * `_last_checkpoint` every `delta.checkpointInterval` versions. Progress is
 * recorded only after a version's files are durable, so after any crash the
 * next pass starts at the first version not recorded, finds the files a
 * crashed pass already wrote byte-identical, and goes on. A different file
 * at a version stops the table (stopped_reason, an error log line, the
 * stopped-tables gauge) and never touches the file; other tables go on.
 *
 * Passes are serialized per table: in this process by `passes`, across
 * publisher instances by a session advisory lock (a pass that does not get
 * it leaves the table to its holder). Kafka events and the periodic sweep
 * only wake tables up; what to write is always read from PostgreSQL.
 */
import { mkdir, utimes, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import type { Pool, PoolClient } from '../../shared/db/index.ts';
import { commitFileName, fileTimeSeconds } from '../../shared/delta/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { PublisherConfig } from './config.ts';
import { putIfAbsent, replaceFile, syncFolder } from './log-files.ts';
import type { PublisherMetrics } from './metrics.ts';
import {
  checkpointFileName, checkpointIntervalAt, commitInfoOnly, commitRows, hasInCommitTimestamp, writeCheckpoint, writeCommitLines, type CommitRow,
} from '../../shared/log-store/index.ts';

export interface LogPublisherDeps {
  /** connected as the publisher's login (deltameta_publish: reads the log tables, keeps table_publication) */
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics: PublisherMetrics;
}

/** The advisory-lock namespace of a table's publishing ('dpub'); the publisher takes no other lock. */
export const publishLockNamespace = 0x64707562;
const lockKey = (tableId: number): number => tableId % 2147483647;
/** Versions read per query of a pass. */
const versionsPerRead = 100;

interface PublishedTable {
  readonly tableId: number;
  readonly name: string;
  readonly location: string;
  readonly logStartVersion: number;
  readonly publishedVersion: number;
  readonly head: number;
}

// serves: table_publication and delta_table primary keys, delta_commit primary key (max version)
const publicationSql = `
  SELECT p.table_id, p.published_version, p.stopped_reason, t.name, t.kind, t.location, t.log_start_version,
         (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = p.table_id) AS head
    FROM deltameta.table_publication p JOIN deltameta.delta_table t ON t.table_id = p.table_id`;

interface PublicationRow {
  table_id: number; published_version: number; stopped_reason: string | null; name: string; kind: string; location: string | null;
  log_start_version: number; head: number | null;
}

interface Pass {
  again: boolean;
  done: Promise<void>;
}

export class LogPublisher {
  private readonly passes = new Map<number, Pass>();
  private readonly lagByTable = new Map<number, number>();
  private readonly waiting: Array<() => void> = [];
  private active = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;

  constructor(private readonly settings: PublisherConfig, private readonly deps: LogPublisherDeps) {}

  /** Sweeps now and then every sweepIntervalMs until stop(). */
  start(): void {
    this.loop ??= (async () => {
      while (!this.stopping) {
        // A table with a long backlog does not hold up the next sweep of the others.
        await this.sweep({ waitForPasses: false }).catch((error: unknown) => this.deps.logger.error({ err: error }, 'sweep failed (retried at the next)'));
        if (this.stopping) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.settings.sweepIntervalMs);
          this.wakeLoop = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    })();
  }

  /**
   * Every published table behind PostgreSQL's head gets a pass; resolves
   * when those passes are done (unless told not to wait). Also sets the lag
   * and stopped-tables gauges.
   */
  async sweep(options: { waitForPasses?: boolean } = {}): Promise<void> {
    const { rows } = await this.deps.pool.query<PublicationRow>(publicationSql);
    this.lagByTable.clear();
    let stopped = 0;
    const behind: number[] = [];
    for (const row of rows) {
      const head = row.head ?? -1;
      this.lagByTable.set(row.table_id, Math.max(0, head - row.published_version));
      if (row.stopped_reason !== null) stopped++;
      else if (head > row.published_version && row.kind === 'owned' && row.location !== null) behind.push(row.table_id);
    }
    this.deps.metrics.stoppedTables.set(stopped);
    this.setLag();
    const passes = behind.map((tableId) => this.schedule(tableId));
    if (options.waitForPasses !== false) await Promise.all(passes);
  }

  /** A commit event's tables: those published and not stopped get a pass (not awaited: events only wake tables up). */
  async wake(tableIds: readonly number[]): Promise<void> {
    if (tableIds.length === 0 || this.stopping) return;
    const { rows } = await this.deps.pool.query<{ table_id: number }>(
      'SELECT table_id FROM deltameta.table_publication WHERE table_id = ANY($1::bigint[]) AND stopped_reason IS NULL',
      [[...new Set(tableIds)]],
    );
    for (const row of rows) void this.schedule(row.table_id);
  }

  /** One pass at a time per table; a request during a pass runs another pass after it. */
  schedule(tableId: number): Promise<void> {
    const running = this.passes.get(tableId);
    if (running) {
      running.again = true;
      return running.done;
    }
    const pass: Pass = { again: false, done: Promise.resolve() };
    pass.done = (async () => {
      try {
        do {
          pass.again = false;
          await this.limited(() => this.publishTable(tableId));
        } while (pass.again && !this.stopping);
      } finally {
        this.passes.delete(tableId);
      }
    })();
    this.passes.set(tableId, pass);
    return pass.done;
  }

  /** Stops taking work; passes in flight finish the version they are on. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeLoop?.();
    await this.loop;
    await Promise.all([...this.passes.values()].map((pass) => pass.done));
  }

  private async limited(work: () => Promise<void>): Promise<void> {
    while (this.active >= this.settings.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private setLag(): void {
    let max = 0;
    for (const lag of this.lagByTable.values()) max = Math.max(max, lag);
    this.deps.metrics.lagVersions.set(max);
  }

  /** Publishes the table up to its head (as read at each step); errors are logged, the next sweep retries. */
  private async publishTable(tableId: number): Promise<void> {
    if (this.stopping) return;
    const client = await this.deps.pool.connect().catch((error: unknown) => {
      this.deps.logger.error({ err: error, tableId }, 'no PostgreSQL connection to publish with (retried at the next sweep)');
    });
    if (!client) return;
    let broken: Error | undefined;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [publishLockNamespace, lockKey(tableId)]);
      if (!rows[0]?.locked) return;
      try {
        await this.publishLocked(client, tableId);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [publishLockNamespace, lockKey(tableId)]);
      }
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      this.deps.logger.error({ err: broken, tableId }, 'publishing failed (retried at the next sweep)');
    } finally {
      // A connection that failed mid-stream (or lost its lock state) does not go back to the pool.
      client.release(broken);
    }
  }

  private async publishLocked(client: PoolClient, tableId: number): Promise<void> {
    for (;;) {
      const { rows } = await client.query<PublicationRow>(`${publicationSql} WHERE p.table_id = $1`, [tableId]);
      const row = rows[0];
      if (!row || row.stopped_reason !== null || row.kind !== 'owned' || row.location === null) return;
      const table: PublishedTable = {
        tableId, name: row.name, location: row.location, logStartVersion: row.log_start_version, publishedVersion: row.published_version, head: row.head ?? -1,
      };
      const from = Math.max(table.publishedVersion + 1, table.logStartVersion);
      if (from > table.head) return;
      const logDir = path.join(table.location, '_delta_log');
      await mkdir(logDir, { recursive: true });
      const commits = await commitRows(client, tableId, from, Math.min(table.head, from + versionsPerRead - 1));
      let expected = from;
      for (const commit of commits) {
        if (this.stopping) return;
        if (commit.version !== expected) throw new Error(`${table.name}: version ${expected} is missing from the log tables (found ${commit.version})`);
        if (!(await this.publishVersion(client, table, logDir, commit))) return;
        expected++;
      }
      if (commits.length === 0) return;
    }
  }

  /** One version's files, then its progress; false when the table stopped. */
  private async publishVersion(client: PoolClient, table: PublishedTable, logDir: string, commit: CommitRow): Promise<boolean> {
    const started = performance.now();
    const version = commit.version;
    const seconds = fileTimeSeconds(commit.timestamp_ms);
    // A version imported as a checkpoint only has no commit file, unless its commitInfo carries an in-commit timestamp.
    if (!commit.is_checkpoint || hasInCommitTimestamp(commit.commit_info)) {
      const write = commit.is_checkpoint
        ? (handle: FileHandle) => handle.writeFile(commitInfoOnly(commit))
        : (handle: FileHandle) => writeCommitLines(client, table.tableId, commit, handle);
      const outcome = await putIfAbsent(logDir, commitFileName(version), write, seconds);
      if (outcome === 'different') {
        await this.stopTable(client, table, version, path.join(logDir, commitFileName(version)));
        return false;
      }
    }
    const interval = await checkpointIntervalAt(client, table.tableId, version, this.settings.defaultCheckpointInterval);
    const wantsCheckpoint = commit.is_checkpoint || (interval > 0 && version > 0 && version % interval === 0);
    if (wantsCheckpoint) {
      const last = await writeCheckpoint(client, table.tableId, version, table.logStartVersion, logDir);
      // A checkpoint-only version carries its timestamp on the checkpoint file.
      if (commit.is_checkpoint) await utimes(path.join(logDir, checkpointFileName(version)), seconds, seconds);
      await syncFolder(logDir);
      await replaceFile(logDir, '_last_checkpoint', `${JSON.stringify(last)}\n`);
      this.deps.metrics.checkpointsTotal.inc();
    }
    // Only while the table is still owned and published to this location (a `deltameta publish` elsewhere meanwhile
    // starts a new publication whose progress this pass must not claim): else the pass ends here.
    const { rowCount } = await client.query(
      `UPDATE deltameta.table_publication p
          SET published_version = $2, published_at = now(), checkpoint_version = CASE WHEN $3 THEN $2 ELSE p.checkpoint_version END
         FROM deltameta.delta_table t
        WHERE p.table_id = $1 AND t.table_id = p.table_id AND t.kind = 'owned' AND t.location = $4 AND p.stopped_reason IS NULL AND p.published_version < $2`,
      [table.tableId, version, wantsCheckpoint, table.location],
    );
    if (rowCount === 0) return false;
    this.deps.metrics.versionsTotal.inc();
    this.deps.metrics.durationSeconds.observe((performance.now() - started) / 1000);
    this.lagByTable.set(table.tableId, Math.max(0, table.head - version));
    this.setLag();
    return true;
  }

  private async stopTable(client: PoolClient, table: PublishedTable, version: number, file: string): Promise<void> {
    const reason = `${file} already exists and differs from version ${version} of ${table.name}: publishing stopped, the file was left as it is`;
    const { rowCount } = await client.query(
      `UPDATE deltameta.table_publication p SET stopped_reason = $2, stopped_at = now() FROM deltameta.delta_table t
        WHERE p.table_id = $1 AND t.table_id = p.table_id AND t.location = $3 AND p.stopped_reason IS NULL`,
      [table.tableId, reason, table.location],
    );
    if (rowCount === 0) return;
    const { rows } = await client.query<{ stopped: number }>('SELECT count(*)::int AS stopped FROM deltameta.table_publication WHERE stopped_reason IS NOT NULL');
    this.deps.metrics.stoppedTables.set(rows[0]?.stopped ?? 0);
    this.deps.logger.error(
      { table: table.name, tableId: table.tableId, version, location: table.location, file },
      'publishing stopped for this table: a different file is already at this version (see docs/publisher.md)',
    );
  }
}
