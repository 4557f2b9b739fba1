/**
 * Refresh jobs of many tables share transactions: a job asks for its
 * table, and the asks that arrive while the transactions are busy go
 * together into the next one (refreshTables: a fixed number of statements
 * for any number of tables). No waiting to fill a batch: an ask with a free
 * transaction runs at once, alone; under load the batches grow by
 * themselves. A job's ask joins only a transaction that has not started, so
 * what it sees was committed before it asked.
 *
 * Tables the shared path does not take (no state yet, far behind) are
 * refreshed by refreshTable, at most `transactions` at a time; when a shared
 * transaction fails, each of its tables is tried alone the same way, so one
 * failing table fails only its own job (and its quarantine), never its
 * neighbours'.
 */
import type { Pool } from '../../shared/db/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { refreshTable, refreshTables } from '../../shared/materialized/index.ts';

export interface TableRefresh {
  /** the watermark when done */
  readonly toVersion: number;
  readonly versionsApplied: number;
  /** delta_commit.timestamp_ms of the newest version applied; null when nothing was */
  readonly newestTimestampMs: number | null;
}

export interface RefreshBatcherOptions {
  /** shared transactions at once; as many refreshTable calls (for the tables the shared path leaves) */
  readonly transactions: number;
  /** refreshTable's versions per transaction */
  readonly batchMaxVersions: number;
  /** one transaction ended that applied versions (its duration, and how many tables it moved) */
  readonly onTransaction?: (seconds: number, tables: number) => void;
}

interface Ask {
  readonly tableId: number;
  readonly resolve: (result: TableRefresh) => void;
  readonly reject: (error: unknown) => void;
}

export class RefreshBatcher {
  private readonly waiting: Ask[] = [];
  private running = 0;
  private singles = 0;
  private readonly singleWaiting: Array<() => void> = [];
  /** shared transactions run, and tables they served (for tests and the log) */
  readonly counts = { transactions: 0, tables: 0, singles: 0 };

  constructor(private readonly pool: Pool, private readonly options: RefreshBatcherOptions, private readonly logger: Logger) {}

  /** Brings the table to the newest version committed before this call (and possibly later ones). */
  refresh(tableId: number): Promise<TableRefresh> {
    return new Promise<TableRefresh>((resolve, reject) => {
      this.waiting.push({ tableId, resolve, reject });
      this.start();
    });
  }

  private start(): void {
    while (this.running < this.options.transactions && this.waiting.length > 0) {
      const asks = this.waiting.splice(0);
      this.running++;
      void this.run(asks).finally(() => {
        this.running--;
        this.start();
      });
    }
  }

  private async run(asks: Ask[]): Promise<void> {
    const started = performance.now();
    let steps;
    try {
      steps = await refreshTables(this.pool, asks.map((ask) => ask.tableId), { maxVersionsBehind: Math.min(100, this.options.batchMaxVersions) });
    } catch (error) {
      this.logger.warn({ err: error, tables: asks.length }, 'shared refresh transaction failed: its tables are refreshed one by one');
      for (const ask of asks) void this.single(ask);
      return;
    }
    this.counts.transactions++;
    this.counts.tables += asks.length;
    let moved = 0;
    for (const ask of asks) {
      const step = steps.get(ask.tableId);
      if (step?.kind === 'refreshed') {
        if (step.versionsApplied > 0) moved++;
        ask.resolve({ toVersion: step.toVersion, versionsApplied: step.versionsApplied, newestTimestampMs: step.newestTimestampMs });
      } else if (step?.kind === 'single') {
        void this.single(ask);
      } else {
        ask.reject(new NotFoundError(`table id ${ask.tableId} does not exist`));
      }
    }
    if (moved > 0) this.options.onTransaction?.((performance.now() - started) / 1000, moved);
  }

  /** refreshTable for one table, at most `transactions` at a time (a first build can take long: it must not take every connection). */
  private async single(ask: Ask): Promise<void> {
    while (this.singles >= this.options.transactions) await new Promise<void>((resolve) => this.singleWaiting.push(resolve));
    this.singles++;
    this.counts.singles++;
    try {
      const started = performance.now();
      const result = await refreshTable(this.pool, ask.tableId, { batchMaxVersions: this.options.batchMaxVersions });
      if (result.versionsApplied > 0) this.options.onTransaction?.((performance.now() - started) / 1000 / Math.max(1, result.batches), 1);
      ask.resolve({ toVersion: result.toVersion, versionsApplied: result.versionsApplied, newestTimestampMs: result.newestTimestampMs });
    } catch (error) {
      ask.reject(error);
    } finally {
      this.singles--;
      this.singleWaiting.shift()?.();
    }
  }
}
