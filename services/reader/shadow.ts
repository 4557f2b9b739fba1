/**
 * Shadow verification (issue 13), the A/B step of a gradual rollout: for a
 * table whose `_delta_log` files exist beside deltameta — followed (the
 * files are the authority) or published (services/publisher writes them) —
 * a sample of the versions the reader answers is re-derived in the
 * background from the files (a replay on a worker thread) and compared with
 * what deltameta serves for that version: its summary (counts, metaData,
 * protocol) and its whole file list (SHA-256 of the NDJSON lines), read the
 * way a request with every cache missed reads them (L3, else the log
 * tables). A mismatch is counted (deltameta_shadow_mismatches_total),
 * logged with the table and version, and kept per table in Redis for
 * `deltameta status` (redisKeys.shadow).
 *
 * Bounded: a sampled check waits in a queue of DELTAMETA_READER_SHADOW_QUEUE
 * (an offer beyond it is dropped), one runs at a time, and a version with
 * more live files than DELTAMETA_READER_SHADOW_MAX_FILES is skipped (its
 * replay would cost seconds of a core). A published version the files do not
 * hold yet, or one the files lost to log cleanup, is skipped, not a mismatch.
 */
import type { Redis } from 'ioredis';
import { redisKeys } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { DigestBuilder, listLog, replayDigestInWorker, type SnapshotDigest } from '../../shared/delta/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import { noFilters } from './file-filters.ts';
import { fileLines } from './files-source.ts';
import { inSnapshot, planInSnapshot, type TableRef } from './snapshot-scope.ts';
import { summaryAt } from './summary-source.ts';

export interface ShadowSettings {
  /** the share of answers of followed and published tables checked, 0 (off) to 1 */
  readonly sample: number;
  readonly maxFiles: number;
  readonly queueMax: number;
}

export type ShadowOutcome = 'match' | 'mismatch' | 'skipped' | 'error';

/** How long a table's shadow record lives in Redis after its last check. */
const recordTtlSeconds = 7 * 86_400;

/** The fields of two digests that differ (empty: they agree). */
export function differences(ours: SnapshotDigest, files: SnapshotDigest): string[] {
  const fields = ['numFiles', 'sizeBytes', 'numRecords', 'metadata', 'protocol', 'linesSha256'] as const;
  return fields.filter((field) => ours[field] !== files[field]);
}

export class ShadowVerifier {
  private readonly queue: { table: TableRef; version: number }[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: {
    readonly pool: Pool; readonly redis: Redis; readonly prefix: string; readonly logger: Logger; readonly metrics: ReaderMetrics; readonly settings: ShadowSettings;
    /** told each outcome (tests) */
    readonly onOutcome?: (table: string, version: number, outcome: ShadowOutcome) => void;
  }) {}

  /** After an answer for `table` at `version`: maybe queue a check (never waits). */
  offer(table: TableRef, version: number): void {
    const { sample, queueMax } = this.deps.settings;
    if (this.stopped || sample <= 0 || table.location === null || (table.kind !== 'followed' && !table.published)) return;
    if (Math.random() >= sample) return;
    if (this.queue.length >= queueMax) {
      this.deps.metrics.shadowChecksTotal.inc({ outcome: 'skipped' });
      return;
    }
    this.queue.push({ table, version });
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for the check in progress; queued ones are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let next = this.queue.shift(); next && !this.stopped; next = this.queue.shift()) {
      const { table, version } = next;
      let outcome: ShadowOutcome;
      try {
        outcome = await this.check(table, version);
      } catch (error) {
        outcome = 'error';
        this.deps.logger.warn({ err: error, table: table.name, version }, 'shadow check failed');
      }
      this.deps.metrics.shadowChecksTotal.inc({ outcome });
      this.deps.onOutcome?.(table.name, version, outcome);
    }
  }

  private async check(table: TableRef, version: number): Promise<ShadowOutcome> {
    const location = table.location as string;
    const listing = await listLog(location);
    // A published version not written yet, or one cleaned up from the files: nothing to compare with.
    if (version > listing.latestVersion) return 'skipped';
    const ours = await this.served(table, version);
    if (ours === undefined) return 'skipped';
    let files: SnapshotDigest;
    try {
      files = await replayDigestInWorker(location, version);
    } catch (error) {
      this.deps.logger.info({ err: error, table: table.name, version, location }, 'shadow check skipped: the files cannot rebuild this version');
      return 'skipped';
    }
    const differing = differences(ours.lines, files);
    // The summary's own counts (table_state, or the tail's) must agree too.
    for (const field of ['numFiles', 'sizeBytes', 'numRecords'] as const) if (ours.summary[field] !== files[field]) differing.push(`summary.${field}`);
    await this.record(table.name, version, differing);
    if (differing.length === 0) return 'match';
    this.deps.metrics.shadowMismatchesTotal.inc();
    this.deps.logger.error({ table: table.name, version, location, differing, ours: ours.lines, files }, 'shadow check: deltameta and the table\'s files disagree at this version');
    return 'mismatch';
  }

  /** What deltameta serves for the version: its list as a digest and its summary's counts; undefined above the size bound. */
  private served(table: TableRef, version: number): Promise<{ lines: SnapshotDigest; summary: { numFiles: number; sizeBytes: number; numRecords: number } } | undefined> {
    return inSnapshot(this.deps.pool, async (client) => {
      const plan = await planInSnapshot(client, table, version, true);
      const summary = await summaryAt(client, table, plan, version);
      if (summary.numFiles > this.deps.settings.maxFiles) return undefined;
      const digest = new DigestBuilder();
      for await (const file of fileLines(client, table, plan, { version, filters: noFilters, after: undefined, limit: undefined })) digest.addLine(file.line);
      return { lines: digest.finish(version, summary.metadata, summary.protocol), summary };
    });
  }

  private async record(table: string, version: number, differing: readonly string[]): Promise<void> {
    const key = redisKeys(this.deps.prefix).shadow(table);
    const write = this.deps.redis.multi().hincrby(key, 'checked', 1).hset(key, 'lastVersion', String(version), 'lastAt', new Date().toISOString());
    if (differing.length > 0) {
      write.hincrby(key, 'mismatches', 1).hset(key, 'lastMismatch', JSON.stringify({ version, differing, at: new Date().toISOString() }));
    }
    await write.expire(key, recordTtlSeconds).exec();
  }
}
