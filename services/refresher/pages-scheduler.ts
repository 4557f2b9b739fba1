/**
 * The file-pages pass, coalesced per table: a refresh asks for one, and the
 * pass runs `delayMs` after the first ask (asks meanwhile join it), with at
 * most one pass running and one waiting per table and at most `concurrency`
 * passes in the process. A burst of refreshes of one table becomes one pass
 * over all their versions; a pass never holds a refresh slot, so commit →
 * refreshed never waits for pages. Readers use file_index for versions the
 * pages do not reach yet (docs/reader.md, "File pages").
 *
 * What is asked for lives in memory only: a refresher that dies leaves the
 * table's pages behind its watermark, and the catch-up sweep (refresh-worker.ts)
 * finds such tables and asks again. A failed pass is asked again after a
 * backoff (doubling from delayMs, at most a minute) and logged; the lag shows
 * in deltameta_file_pages_behind_versions.
 */
import type { Logger } from '../../shared/logging/index.ts';

export interface PagesSchedulerOptions {
  /** how long after the first ask a pass starts (asks meanwhile join it) */
  readonly delayMs: number;
  /** passes running at once, over all tables */
  readonly concurrency: number;
}

type PagesPass = (tableId: number, table: string) => Promise<void>;

interface TableSlot {
  table: string;
  timer: NodeJS.Timeout | undefined;
  /** due: waiting for a free pass slot */
  ready: boolean;
  running: boolean;
  /** asked for while running: another pass after this one */
  again: boolean;
  failures: number;
}

const maxRetryDelayMs = 60_000;

export class PagesScheduler {
  private readonly tables = new Map<number, TableSlot>();
  private readonly ready: number[] = [];
  private running = 0;
  private stopped = false;
  private readonly idleWaiters: Array<() => void> = [];
  /** passes started, for tests and the log */
  passes = 0;

  constructor(private readonly pass: PagesPass, private readonly options: PagesSchedulerOptions, private readonly logger: Logger) {}

  /** The table's pages should catch up with its watermark: a pass within delayMs (or after the running one). */
  request(tableId: number, table: string): void {
    if (this.stopped) return;
    const slot = this.tables.get(tableId);
    if (!slot) {
      this.tables.set(tableId, { table, timer: undefined, ready: false, running: false, again: false, failures: 0 });
      this.schedule(tableId, this.options.delayMs);
      return;
    }
    slot.table = table;
    if (slot.running) slot.again = true;
    // Waiting on its timer or for a slot: this ask joins that pass.
  }

  /** Tables asked for and not yet caught up (waiting, due or running). */
  get pending(): number {
    return this.tables.size;
  }

  /** Resolves when no pass is waiting or running. */
  async idle(): Promise<void> {
    if (this.tables.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** No new passes; the waiting ones are dropped (the catch-up sweep of the next start asks again); running ones finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [tableId, slot] of this.tables) {
      clearTimeout(slot.timer);
      if (!slot.running) this.tables.delete(tableId);
    }
    this.ready.length = 0;
    await this.idle();
  }

  private schedule(tableId: number, delayMs: number): void {
    const slot = this.tables.get(tableId);
    if (!slot) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      slot.ready = true;
      this.ready.push(tableId);
      this.startReady();
    }, delayMs);
    slot.timer.unref();
  }

  private startReady(): void {
    while (this.running < this.options.concurrency && this.ready.length > 0) {
      const tableId = this.ready.shift() as number;
      const slot = this.tables.get(tableId);
      if (!slot || !slot.ready) continue;
      slot.ready = false;
      slot.running = true;
      this.running++;
      this.passes++;
      void this.run(tableId, slot);
    }
  }

  private async run(tableId: number, slot: TableSlot): Promise<void> {
    let retryInMs: number | undefined;
    try {
      await this.pass(tableId, slot.table);
      slot.failures = 0;
    } catch (error) {
      slot.failures++;
      retryInMs = Math.min(maxRetryDelayMs, this.options.delayMs * 2 ** Math.min(slot.failures, 16));
      this.logger.warn({ err: error, table: slot.table, attempt: slot.failures, retryInMs }, 'file pages pass failed: retried (readers use file_index meanwhile)');
    }
    slot.running = false;
    this.running--;
    if (!this.stopped && (slot.again || retryInMs !== undefined)) {
      slot.again = false;
      this.schedule(tableId, retryInMs ?? this.options.delayMs);
    } else {
      this.tables.delete(tableId);
    }
    this.startReady();
    if (this.tables.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
