/**
 * The refresher's BullMQ side: refresh jobs (one table each, deduplicated per
 * table by the invalidator) bring the table's materialized state up to its
 * newest committed version; a maintenance queue runs the job schedulers for
 * the native materialized views and file_index retention; hot tables get
 * their caches warmed after a refresh.
 *
 * Per-table serialization is PostgreSQL's (refreshTable takes an advisory
 * lock per table), so a duplicate job is harmless: it finds nothing to do.
 * The deduplication key is released *before* a final check: a commit whose
 * event was dropped as a duplicate while this job ran was committed before
 * the release, so the check (the table's head, one query) sees it and a
 * second pass applies it; a commit after the release enqueues a job of its
 * own. File pages follow outside the job, coalesced per table
 * (pages-scheduler.ts).
 */
import { UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { QueueMetrics, RefresherMetrics } from '../../shared/metrics/index.ts';
import { bullOptions, maintenanceJobs, queueDepth, redisKeys, refreshBackoffStrategy, refreshJobName, refreshJobOptions, refreshRetryDelayMs, type RefreshJobData } from '../../shared/contracts/index.ts';
import { applyRetention, mvStaleness, refreshArrowSegments, refreshFilePages, refreshMaterializedViews } from '../../shared/materialized/index.ts';
import { warmTableSummary } from '../../shared/summary/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import { catchUpTables } from './catch-up.ts';
import { refresherSettings, stalledJobOptions } from './config.ts';
import { RefreshQuarantine } from './quarantine.ts';
import { PagesScheduler } from './pages-scheduler.ts';
import { RefreshBatcher } from './refresh-batcher.ts';

/** The clients main.ts builds (and closes after stop()); the BullMQ workers are the refresher's own. */
export interface RefreshWorkerDeps {
  readonly pool: Pool;
  /** the pipeline's Redis: head pointers, the hot-tables set */
  readonly redis: Redis;
  /**
   * the cache's Redis, where warmed summaries go: the instance the reader reads
   * its L2 from (both must use the same one). Default: `redis` (single-instance tests).
   */
  readonly cacheRedis?: Redis;
  readonly refreshQueue: Queue<RefreshJobData>;
  readonly maintenanceQueue: Queue;
  readonly logger: Logger;
  readonly metrics: RefresherMetrics;
  readonly queueMetrics: QueueMetrics;
}

export class RefreshWorker {
  private readonly worker: Worker<RefreshJobData>;
  private readonly maintenanceWorker: Worker;
  private readonly queue: Queue<RefreshJobData>;
  private readonly maintenanceQueue: Queue;
  private gaugeTimer: NodeJS.Timeout | undefined;
  /** Tables whose refresh keeps failing: counted, logged, retried with backoff (quarantine.ts). */
  readonly quarantine: RefreshQuarantine;
  /** File-pages passes, at most one running and one waiting per table. */
  readonly pages: PagesScheduler;
  /** Arrow-segment passes after the pages' (one at a time: each coalesces megabytes). */
  readonly segments: PagesScheduler;
  /** Refreshes of many tables share transactions (refresh-batcher.ts). */
  readonly batcher: RefreshBatcher;

  constructor(private readonly config: Config, private readonly deps: RefreshWorkerDeps) {
    this.quarantine = new RefreshQuarantine(deps.logger, deps.metrics);
    this.batcher = new RefreshBatcher(deps.pool, {
      transactions: config.pipeline.refreshTransactions,
      batchMaxVersions: config.pipeline.refreshBatchMaxVersions,
      onTransaction: (seconds) => deps.metrics.refreshDurationSeconds.observe(seconds),
    }, deps.logger);
    this.pages = new PagesScheduler((tableId, table) => this.refreshPages(tableId, table), {
      delayMs: config.pipeline.filePagesDelayMs, concurrency: config.pipeline.filePagesConcurrency,
    }, deps.logger);
    this.segments = new PagesScheduler((tableId, table) => this.refreshSegments(tableId, table), { delayMs: config.pipeline.arrowSegmentsDelayMs, concurrency: 1 }, deps.logger);
    this.queue = deps.refreshQueue;
    this.maintenanceQueue = deps.maintenanceQueue;
    this.worker = new Worker<RefreshJobData>(config.pipeline.refreshQueue, (job) => this.refresh(job), {
      ...bullOptions(config, 'deltameta-refresher-worker'),
      concurrency: config.pipeline.refreshConcurrency,
      autorun: false,
      ...stalledJobOptions(refresherSettings()),
      settings: { backoffStrategy: refreshBackoffStrategy },
    });
    this.maintenanceWorker = new Worker(config.pipeline.maintenanceQueue, (job) => this.maintain(job), {
      ...bullOptions(config, 'deltameta-refresher-maintenance-worker'),
      concurrency: 1,
      autorun: false,
    });
    for (const worker of [this.worker, this.maintenanceWorker]) {
      // A refresh failure was logged at error (table, version, err) by the quarantine already: the alert line is that one.
      const level = worker === this.worker ? 'warn' : 'error';
      worker.on('failed', (job, error) => this.deps.logger[level]({ err: error, job: job?.name, table: (job?.data as Partial<RefreshJobData> | undefined)?.table }, 'job failed'));
      worker.on('error', (error) => this.deps.logger.error({ err: error }, 'worker error'));
    }
  }

  async start(): Promise<void> {
    await this.maintenanceQueue.upsertJobScheduler(maintenanceJobs.views, { every: this.config.pipeline.mvRefreshIntervalMs }, { name: maintenanceJobs.views });
    await this.maintenanceQueue.upsertJobScheduler(maintenanceJobs.retention, { every: this.config.pipeline.retentionIntervalMs }, { name: maintenanceJobs.retention });
    await this.maintenanceQueue.upsertJobScheduler(maintenanceJobs.catchUp, { every: this.config.pipeline.mvRefreshIntervalMs }, { name: maintenanceJobs.catchUp });
    // Tables committed before the pipeline existed (or while its slot was
    // gone) have no event coming: find them now rather than at the first tick.
    await this.catchUp();
    // run() resolves only when the worker closes: started, not awaited.
    this.worker.run().catch((error: unknown) => this.deps.logger.error({ err: error }, 'refresh worker stopped'));
    this.maintenanceWorker.run().catch((error: unknown) => this.deps.logger.error({ err: error }, 'maintenance worker stopped'));
    this.gaugeTimer = setInterval(() => void this.updateGauges(), 5_000);
    this.gaugeTimer.unref();
    await this.worker.waitUntilReady();
  }

  async readiness(): Promise<{ ready: boolean; detail: Record<string, unknown> }> {
    const postgres = await this.deps.pool.query('SELECT 1').then(() => true, () => false);
    const redis = await this.deps.redis.ping().then(() => true, () => false);
    const running = this.worker.isRunning();
    return { ready: postgres && redis && running, detail: { postgres, redis, worker: running } };
  }

  private async refresh(job: Job<RefreshJobData>): Promise<{ toVersion: number; versionsApplied: number }> {
    const { table, version } = job.data;
    const state = { released: false };
    try {
      const result = await this.refreshOnce(job, state);
      this.quarantine.release(table, result.toVersion);
      return result;
    } catch (error) {
      if (error instanceof NotFoundError) {
        // Dropped (deltameta drop) after the job was enqueued: nothing to refresh, nothing to retry.
        this.quarantine.release(table, Number.POSITIVE_INFINITY);
        this.deps.logger.info({ table, version }, 'refresh skipped: the table no longer exists');
        return { toVersion: -1, versionsApplied: 0 };
      }
      // A refresh aims at the log's head, not its job's version (a deduplicated job may be older): only reaching the head releases it.
      const aimed = Math.max(version, await this.logHead(table).catch(() => version));
      this.quarantine.failed({ table, version: aimed, attempt: job.attemptsMade + 1, retryInMs: retryDelayMs(job), error });
      if (state.released) {
        // Failed after giving up the table's deduplication key: retried as it is, it would be a second job retrying the
        // same table beside the one an event or a catch-up enqueues meanwhile. It ends here instead, and one job
        // (deduplicated: none if another holds the key) carries the retries.
        await this.queue.add(refreshJobName, job.data, refreshJobOptions(table));
        throw new UnrecoverableError(`refresh of ${table} failed after its deduplication key was released; its retries go on in one deduplicated job: ${error instanceof Error ? error.message : String(error)}`);
      }
      throw error;
    }
  }

  /** serves: delta_table name unique index, delta_commit primary key (the newest version) */
  private async logHead(table: string): Promise<number> {
    const { rows } = await this.deps.pool.query<{ head: number | null }>('SELECT max(c.version) AS head FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table]);
    return rows[0]?.head ?? -1;
  }

  private async refreshOnce(job: Job<RefreshJobData>, state: { released: boolean }): Promise<{ toVersion: number; versionsApplied: number }> {
    const { tableId, table } = job.data;
    let applied = 0;
    let newestTimestampMs: number | undefined;
    let toVersion = -1;
    const pass = async (): Promise<void> => {
      const result = await this.batcher.refresh(tableId);
      if (result.versionsApplied > 0) {
        this.deps.metrics.refreshVersionsAppliedTotal.inc(result.versionsApplied);
        applied += result.versionsApplied;
        newestTimestampMs = result.newestTimestampMs ?? newestTimestampMs;
      }
      toVersion = result.toVersion;
    };
    await pass();
    await job.removeDeduplicationKey();
    state.released = true;
    // Released: a commit from now on enqueues a job of its own; one before it
    // may have lost its event to the key. The second pass shares a
    // transaction with other tables' asks, and finds nothing to do in most.
    await pass();
    if (applied > 0 && newestTimestampMs !== undefined) {
      this.deps.metrics.commitToRefreshedSeconds.observe(Math.max(0, Date.now() - newestTimestampMs) / 1000);
      await this.warmIfHot(table);
    }
    // After the refresh, not inside it, and coalesced per table: commit →
    // refreshed does not wait for pages, and readers use file_index for
    // versions the pages do not reach yet. Asked for even when nothing was
    // applied: the catch-up sweep's job for a table whose pages are behind.
    if (this.config.pipeline.filePages) this.pages.request(tableId, table);
    this.deps.logger.debug({ table, version: toVersion, versionsApplied: applied }, 'refreshed');
    return { toVersion, versionsApplied: applied };
  }

  private async refreshPages(tableId: number, table: string): Promise<void> {
    const started = performance.now();
    const result = await refreshFilePages(this.deps.pool, tableId);
    // Asked for even when the pages did not move: segments behind their pages (a refresher that died between) catch up.
    if (this.config.pipeline.arrowSegments) this.segments.request(tableId, table);
    if (result.pagesWritten === 0 && result.pagesClosed === 0 && !result.rebuilt) return;
    const seconds = (performance.now() - started) / 1000;
    this.deps.metrics.filePagesDurationSeconds.observe(seconds);
    this.deps.metrics.filePagesWrittenTotal.inc(result.pagesWritten);
    this.deps.logger[result.rebuilt ? 'info' : 'debug']({ table, ...result, ms: Math.round(seconds * 1000) }, result.rebuilt ? 'file pages built' : 'file pages refreshed');
  }

  private async refreshSegments(tableId: number, table: string): Promise<void> {
    const result = await refreshArrowSegments(this.deps.pool, tableId, { minFiles: this.config.pipeline.arrowSegmentsMinFiles });
    if (result.segmentsWritten > 0) this.deps.logger.debug({ table, ...result }, 'arrow segments refreshed');
  }

  /**
   * Hot tables (the reader keeps a sorted set of recent reads, in the pipeline's
   * Redis) get their summary at the new watermark in the cache's Redis. Best
   * effort: a cache instance that is down or full costs the reader an L3 read,
   * so it must never fail (and quarantine) a refresh that has committed.
   */
  private async warmIfHot(table: string): Promise<void> {
    const prefix = this.config.pipeline.redisPrefix;
    const limit = this.config.pipeline.warmHotTables;
    if (limit === 0) return;
    try {
      const rank = await this.deps.redis.zrevrank(redisKeys(prefix).hotTables, table);
      if (rank === null || rank >= limit) return;
      await warmTableSummary(this.deps.pool, this.deps.cacheRedis ?? this.deps.redis, prefix, table);
    } catch (error) {
      this.deps.logger.warn({ err: error, table }, 'summary not warmed (the reader reads it from PostgreSQL instead)');
    }
  }

  private async maintain(job: Job): Promise<void> {
    if (job.name === maintenanceJobs.views) {
      await refreshMaterializedViews(this.deps.pool);
    } else if (job.name === maintenanceJobs.retention) {
      await applyRetention(this.deps.pool, { retentionMs: this.config.pipeline.fileIndexRetentionMs });
    } else if (job.name === maintenanceJobs.catchUp) {
      await this.catchUp();
    }
  }

  /** The safety net under the event path (catch-up.ts): head pointers forward to the log, refreshes for tables behind. */
  async catchUp(): Promise<number> {
    return catchUpTables({ pool: this.deps.pool, redis: this.deps.redis, queue: this.queue, config: this.config, logger: this.deps.logger });
  }

  private async updateGauges(): Promise<void> {
    try {
      for (const queue of [this.queue, this.maintenanceQueue]) {
        const depth = await queueDepth(queue);
        for (const [state, count] of Object.entries(depth.counts)) this.deps.queueMetrics.jobs.set({ queue: queue.name, state }, count);
        this.deps.queueMetrics.oldestWaitingAgeSeconds.set({ queue: queue.name }, depth.oldestWaitingAgeSeconds);
      }
      this.deps.metrics.mvStalenessVersions.set(await mvStaleness(this.deps.pool));
      if (this.config.pipeline.filePages) this.deps.metrics.filePagesBehindVersions.set(await filePagesBehind(this.deps.pool));
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not update gauges');
    }
  }

  /**
   * Finishes the jobs in progress (BullMQ close waits for them) for up to
   * `refreshHandBackAfterMs`; a refresh still running then (the first build of a
   * big table) is handed back: the worker closes without it, its transaction
   * rolls back when the process exits, and BullMQ gives the stalled job to
   * the next refresher. Refreshes are idempotent, so nothing is lost.
   */
  async stop(): Promise<void> {
    const handBackAfterMs = this.config.pipeline.refreshHandBackAfterMs;
    if (this.gaugeTimer) clearInterval(this.gaugeTimer);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.worker.close().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), handBackAfterMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.deps.logger.warn({ handBackAfterMs }, 'refresh still running at shutdown: handing the job back');
      await this.worker.close(true);
    }
    await this.maintenanceWorker.close();
    await this.pages.stop();
    await this.segments.stop();
  }
}

/**
 * Max over tables with materialized state of the watermark minus the version
 * their file pages answer (a table without pages counts from -1): how far the
 * coalesced pages lag. serves: table_state and file_page_state, one row per table
 */
async function filePagesBehind(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ behind: number | null }>(
    `SELECT max(s.mv_version - coalesce(p.version, -1))::bigint AS behind
       FROM deltameta.table_state s LEFT JOIN deltameta.file_page_state p ON p.table_id = s.table_id`,
  );
  return Math.max(0, Number(rows[0]?.behind ?? 0));
}

/** When BullMQ runs a failed job again (refreshRetryDelayMs for the jobs this pipeline enqueues); undefined after the last attempt. */
function retryDelayMs(job: Job): number | undefined {
  const attempt = job.attemptsMade + 1;
  if (attempt >= (job.opts.attempts ?? 1)) return undefined;
  const backoff = job.opts.backoff;
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return backoff;
  const delay = backoff.delay ?? 0;
  if (backoff.type === 'exponential') return Math.round(delay * 2 ** (attempt - 1));
  return backoff.type === 'fixed' ? delay : refreshRetryDelayMs(attempt);
}
