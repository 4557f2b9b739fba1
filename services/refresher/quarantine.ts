/**
 * Quarantine of tables whose refresh keeps failing (a row the refresher
 * cannot apply, a constraint the log breaks): one bad table must never stop
 * the others. A failed refresh job is retried by BullMQ with exponential
 * backoff (refreshJobOptions: attempts and backoff), so it waits as a
 * delayed job and holds no worker slot meanwhile; when its attempts run out,
 * the catch-up job enqueues it again every mvRefreshIntervalMs while the
 * table is behind its log. The reader keeps answering the table from its
 * state at the watermark plus the log tail (L4).
 *
 * This is what makes the failure visible: the gauge
 * deltameta_refresh_quarantined_tables (tables of this process whose last
 * refresh failed; the sum over refreshers is the fleet's), a failure
 * counter, and one error-level log line per failure with table, version and
 * err, the line to alert on. A table leaves quarantine with its next
 * successful refresh that reaches the version that failed (logged at info):
 * with refreshConcurrency > 1 an older job for the same table (one finishing
 * its page build when the new commit came) can succeed at the old version
 * after the new one failed, and must not hide the failure.
 */
import type { Logger } from '../../shared/logging/index.ts';
import type { RefresherMetrics } from '../../shared/metrics/index.ts';

export interface RefreshFailure {
  readonly table: string;
  /** the newest version the failed job was asked to reach */
  readonly version: number;
  /** BullMQ attempts made, this one included */
  readonly attempt: number;
  /** when BullMQ retries it; undefined when its attempts are used up (catch-up enqueues it again) */
  readonly retryInMs: number | undefined;
  readonly error: unknown;
}

interface QuarantinedTable {
  readonly sinceMs: number;
  failures: number;
  /** the newest version a failed job was asked to reach: a success below it leaves the table quarantined */
  failedVersion: number;
}

export class RefreshQuarantine {
  private readonly tables = new Map<string, QuarantinedTable>();

  constructor(private readonly logger: Logger, private readonly metrics: RefresherMetrics) {}

  get size(): number {
    return this.tables.size;
  }

  has(table: string): boolean {
    return this.tables.has(table);
  }

  failed(failure: RefreshFailure): void {
    const entry = this.tables.get(failure.table) ?? { sinceMs: Date.now(), failures: 0, failedVersion: failure.version };
    entry.failures++;
    entry.failedVersion = Math.max(entry.failedVersion, failure.version);
    this.tables.set(failure.table, entry);
    this.metrics.refreshFailuresTotal.inc();
    this.metrics.refreshQuarantinedTables.set(this.tables.size);
    this.logger.error(
      {
        table: failure.table, version: failure.version, err: failure.error, attempt: failure.attempt, failures: entry.failures,
        quarantinedForMs: Date.now() - entry.sinceMs, retryInMs: failure.retryInMs ?? null,
      },
      'refresh failed: table quarantined, retried with backoff; other tables keep refreshing',
    );
  }

  /** After a successful refresh to toVersion; a table that no longer exists is released with toVersion Infinity. */
  release(table: string, toVersion: number): void {
    const entry = this.tables.get(table);
    if (!entry || toVersion < entry.failedVersion) return;
    this.tables.delete(table);
    this.metrics.refreshQuarantinedTables.set(this.tables.size);
    this.logger.info({ table, version: Number.isFinite(toVersion) ? toVersion : null, failures: entry.failures, quarantinedForMs: Date.now() - entry.sinceMs }, 'refresh recovered: table out of quarantine');
  }
}
