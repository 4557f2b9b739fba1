/**
 * One followed table in one follower: its watcher (watcher.ts) says when a
 * version may have appeared, and each time it is imported through the same
 * path as `deltameta import` (importTable with follow 'sync': the sync
 * identity checks, the table must still be followed, table_follow records
 * the progress), from PostgreSQL's head onwards — which is also how a
 * restart resumes. One import of the table at a time: triggers meanwhile are
 * coalesced into one more import after it.
 *
 * Failures: recorded in table_follow.error/error_at, logged, retried after a
 * backoff (100 ms doubling to maxBackoffMs, jittered). A table handed over
 * (NotFollowedError) or dropped is let go. Versions the files lost to log
 * cleanup before they were imported (the next version after the head has no
 * commit file but later ones exist) are reported in missing_from/missing_to,
 * logged once and counted, never invented: importTable refuses such a gap
 * (shared/delta buildSegment), and a sync never bridges one with a
 * checkpoint; the table stays at its head until someone re-follows it.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, listLog } from '../../shared/delta/index.ts';
import { findTable, importTable, NotFollowedError } from '../../shared/log-store/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { FollowerConfig } from './config.ts';
import type { HeldTable, Leases } from './lease.ts';
import type { FollowerMetrics, ImportOutcome } from './metrics.ts';
import { LogWatcher } from './watcher.ts';

/** One import that wrote versions (for tests and the benchmark). */
export interface ImportEvent {
  readonly table: string;
  readonly tableId: number;
  readonly fromVersion: number;
  readonly toVersion: number;
  /** Date.now() when the import's transaction had committed */
  readonly finishedAtMs: number;
  /** the follower instance that imported it */
  readonly instanceId: string;
}

export interface TableFollowerDeps {
  readonly pool: Pool;
  readonly leases: Leases;
  readonly logger: Logger;
  readonly metrics: FollowerMetrics;
  readonly config: FollowerConfig;
  readonly onImport?: (event: ImportEvent) => void;
  /** The table is not to be followed any more (handed over, dropped). */
  readonly onLetGo: (table: TableFollower, outcome: 'handed_over' | 'dropped') => void;
}

export interface MissingVersions {
  readonly from: number;
  readonly to: number;
}

const firstBackoffMs = 100;
const anyLogFile = /^(\d{20})\.(?:json|checkpoint\.)/;

export class TableFollower {
  private head: number;
  /** The history up to this version was checked against the folder by this process's last sync (undefined: not yet in this lease). */
  private checkedUpTo: number | undefined;
  private pendingSinceMs: number | undefined;
  private missing: MissingVersions | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly watcher: LogWatcher;
  private readonly logger: Logger;
  private readonly logDir: string;

  constructor(readonly table: HeldTable, head: number, private readonly deps: TableFollowerDeps) {
    this.head = head;
    this.logDir = path.join(table.location, '_delta_log');
    this.logger = deps.logger.child({ table: table.name });
    this.watcher = new LogWatcher({
      logDir: this.logDir,
      inotify: deps.config.inotify,
      pollMs: deps.config.pollMs,
      logger: this.logger,
      onCommitFile: (version) => {
        if (version > this.head) this.trigger(true);
      },
      onPoll: () => void this.poll(),
    });
  }

  /** Watches, and imports at once whatever is new since PostgreSQL's head. */
  start(): void {
    this.watcher.start();
    this.trigger();
  }

  /** Stops watching and retrying; an import in progress finishes (await `settled`). */
  close(): void {
    this.closed = true;
    this.watcher.close();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  get settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  get watching(): boolean {
    return this.watcher.watching;
  }

  /** The lag (metrics.ts): seconds since the oldest commit file seen that PostgreSQL does not hold yet was written. */
  lagSeconds(nowMs: number): number {
    return this.pendingSinceMs === undefined ? 0 : Math.max(0, (nowMs - this.pendingSinceMs) / 1000);
  }

  get missingVersions(): MissingVersions | undefined {
    return this.missing;
  }

  /**
   * Asks for an import; held back while a failure backs off. While one
   * runs, a commit file's event asks for one more after it (the file may
   * have come after the import listed the log); the poll need not: after
   * each import that wrote versions, the next commit file is looked for.
   */
  trigger(event = false): void {
    if (this.closed || Date.now() < this.retryAt) return;
    if (this.running) {
      if (event) this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** The lease tick's look at the whole folder: a version after a gap, which no stat of the next file finds. */
  async scan(): Promise<void> {
    if (this.closed || this.running || Date.now() < this.retryAt) return;
    try {
      const names = await readdir(this.logDir);
      const newer = names.some((name) => Number(anyLogFile.exec(name)?.[1] ?? -1) > this.head);
      if (newer) this.trigger();
    } catch (error) {
      this.logger.debug({ err: error instanceof Error ? error.message : String(error) }, 'listing the log failed (the next import says why)');
    }
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.importOnce();
    } while (this.again && !this.closed && Date.now() >= this.retryAt);
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    const next = await this.nextCommitTime();
    if (next !== undefined) {
      this.pendingSinceMs ??= next;
      this.trigger();
    } else if (!this.missing) {
      this.pendingSinceMs = undefined;
    }
  }

  /** The mtime of the commit file after PostgreSQL's head, when it exists. */
  private async nextCommitTime(): Promise<number | undefined> {
    return stat(path.join(this.logDir, commitFileName(this.head + 1))).then((info) => info.mtimeMs, () => undefined);
  }

  private async importOnce(): Promise<void> {
    const { pool, metrics } = this.deps;
    const stopTimer = metrics.importDurationSeconds.startTimer();
    let outcome: ImportOutcome;
    try {
      const result = await importTable(pool, this.table.location, this.table.name, {
        follow: 'sync',
        // This process checked the history up to the head it last synced (the first sync of a lease checks it all).
        ...(this.checkedUpTo === undefined ? {} : { historyCheckedUpTo: this.checkedUpTo }),
        onWarning: (warning) => this.logger.warn({ warning }, 'log warning during import'),
      });
      const imported = result.toVersion >= result.fromVersion;
      this.head = Math.max(this.head, result.toVersion);
      this.checkedUpTo = this.head;
      outcome = imported ? 'imported' : 'nothing_new';
      this.succeeded();
      if (imported) {
        this.logger.debug({ fromVersion: result.fromVersion, toVersion: result.toVersion, rows: result.rows }, 'imported');
        this.deps.onImport?.({
          table: this.table.name, tableId: this.table.tableId, fromVersion: result.fromVersion, toVersion: result.toVersion,
          finishedAtMs: Date.now(), instanceId: this.deps.leases.holder,
        });
      }
      this.pendingSinceMs = await this.nextCommitTime();
      // A version that appeared during the import (its event came while it ran): one more import.
      this.again ||= imported && this.pendingSinceMs !== undefined;
    } catch (error) {
      outcome = await this.failed(error);
    } finally {
      stopTimer();
    }
    metrics.importsTotal.inc({ outcome });
  }

  private succeeded(): void {
    this.failures = 0;
    this.retryAt = 0;
    if (this.missing) this.logger.info({ head: this.head }, 'the missing versions are back: following again');
    this.missing = undefined;
  }

  private async failed(error: unknown): Promise<ImportOutcome> {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof NotFollowedError) {
      this.logger.info({ reason: message }, 'table handed over: no longer followed');
      this.deps.onLetGo(this, 'handed_over');
      return 'handed_over';
    }
    const now = await findTable(this.deps.pool, this.table.name).catch(() => null);
    if (now === undefined || (now !== null && now.tableId !== this.table.tableId)) {
      this.logger.info('table dropped: no longer followed');
      this.deps.onLetGo(this, 'dropped');
      return 'dropped';
    }
    if (now !== null) this.head = Math.max(this.head, now.headVersion);
    this.failures++;
    const backoff = Math.min(firstBackoffMs * 2 ** (this.failures - 1), this.deps.config.maxBackoffMs);
    const delay = Math.round(backoff / 2 + Math.random() * (backoff / 2));
    this.retryAt = Date.now() + delay;
    this.again = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.trigger();
    }, delay);
    this.retryTimer.unref();
    const gap = await this.findGap().catch(() => undefined);
    if (gap) {
      await this.reportMissing(gap, message);
      return 'missing';
    }
    this.logger.warn({ err: message, retryInMs: delay, failures: this.failures }, 'import of a followed table failed; retrying');
    await this.deps.leases.recordError(this.table.tableId, message).catch((recordError: unknown) =>
      this.logger.warn({ err: recordError instanceof Error ? recordError.message : String(recordError) }, 'recording the failure failed'));
    return 'failed';
  }

  /** Versions after the head that no commit file holds any more, while later versions exist. */
  private async findGap(): Promise<MissingVersions | undefined> {
    const listing = await listLog(this.table.location);
    const from = this.head + 1;
    if (listing.latestVersion < from || listing.commits.has(from)) return undefined;
    const later = [...listing.commits.keys()].filter((version) => version > from);
    const to = later.length > 0 ? Math.min(...later) - 1 : listing.latestVersion;
    const firstLater = later.length > 0 ? listing.commits.get(to + 1) : undefined;
    this.pendingSinceMs = firstLater === undefined ? this.pendingSinceMs : await stat(firstLater).then((info) => info.mtimeMs, () => this.pendingSinceMs);
    return { from, to };
  }

  private async reportMissing(gap: MissingVersions, message: string): Promise<void> {
    const known = this.missing;
    this.missing = gap;
    if (known?.from === gap.from && known.to === gap.to) return;
    this.logger.error(
      { head: this.head, missingFrom: gap.from, missingTo: gap.to, err: message },
      'versions lost to log cleanup before they were followed: not imported, reported in table_follow.missing_from/missing_to; the table stays at its head (follow it again to start from a checkpoint)',
    );
    await this.deps.leases.recordMissing(this.table.tableId, gap.from, gap.to, message).catch((error: unknown) =>
      this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'recording the missing versions failed'));
  }
}
