/**
 * The follower: every table with kind = 'followed' is followed by exactly
 * one follower instance across processes (lease.ts). Each lease tick
 * (leaseTickMs: the scan interval, at most a third of the lease) renews the
 * leases held, lets go of the tables whose lease was lost, and takes the
 * followed tables nobody holds: the ones `deltameta follow` registered since,
 * and those of a follower that died (after their lease expired). Each held
 * table is followed by a TableFollower (watch, poll, import).
 *
 * If PostgreSQL cannot be reached to renew, the tables are let go once their
 * lease has run out as seen from here (another instance may hold them by
 * then), and taken again when it can. stop() releases the leases, so another
 * instance takes the tables at its next tick; abandon() (tests: a crash)
 * lets them expire.
 */
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { leaseTickMs, type FollowerConfig } from './config.ts';
import { Leases, type HeldTable } from './lease.ts';
import type { FollowerMetrics, FollowState } from './metrics.ts';
import { TableFollower, type ImportEvent } from './table-follower.ts';

export interface FollowerDeps {
  /** imports (one connection per table importing at once) */
  readonly pool: Pool;
  /** lease renewals and readiness, apart from imports so a long import never delays a renewal; default `pool` */
  readonly leasePool?: Pool;
  readonly logger: Logger;
  readonly metrics: FollowerMetrics;
  readonly config: FollowerConfig;
  /** Told about each import that wrote versions (tests, the benchmark). */
  readonly onImport?: (event: ImportEvent) => void;
}

export class Follower implements FollowState {
  private readonly tables = new Map<number, TableFollower>();
  private readonly leases: Leases;
  private readonly leasePool: Pool;
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  /** Date.now() by which the leases run out unless renewed (measured from before the renewal was sent) */
  private leasesUntil = 0;
  private warnedRenewal = false;
  /** lease writes started by a table's follower (forget after a handover): awaited before a stop returns */
  private readonly pendingWrites = new Set<Promise<void>>();

  constructor(private readonly deps: FollowerDeps) {
    this.leasePool = deps.leasePool ?? deps.pool;
    this.leases = new Leases(this.leasePool, deps.config.instanceId, deps.config.leaseTtlMs);
    deps.metrics.observe(this);
  }

  get instanceId(): string {
    return this.deps.config.instanceId;
  }

  /** Names of the tables this instance follows now. */
  get heldNames(): string[] {
    return [...this.tables.values()].map((table) => table.table.name).sort();
  }

  /** Tables whose `_delta_log` has an inotify watch armed now. */
  get watchedCount(): number {
    return [...this.tables.values()].filter((table) => table.watching).length;
  }

  /** Takes its tables (a first tick), then ticks on. */
  async start(): Promise<void> {
    await this.tick();
    this.tickTimer = setInterval(() => void this.tick(), leaseTickMs(this.deps.config));
    this.tickTimer.unref();
  }

  /** Graceful: imports in progress finish, the leases are released for another instance to take at once. */
  async stop(): Promise<void> {
    const held = await this.halt();
    try {
      await this.leases.release(held);
    } catch (error) {
      this.deps.logger.warn({ err: error instanceof Error ? error.message : String(error), tables: held.length }, 'releasing the leases failed: they expire instead');
    }
  }

  /** As a crash leaves things: everything stops, the leases stay until they expire. */
  async abandon(): Promise<void> {
    await this.halt();
  }

  async readiness(): Promise<{ ready: boolean; detail: Record<string, unknown> }> {
    await this.leasePool.query('SELECT 1');
    return { ready: true, detail: { instanceId: this.instanceId, tables: this.tables.size } };
  }

  lagSeconds(nowMs: number): ReadonlyMap<string, number> {
    return new Map([...this.tables.values()].map((table) => [table.table.name, table.lagSeconds(nowMs)]));
  }

  heldTables(): number {
    return this.tables.size;
  }

  missingVersions(): number {
    let total = 0;
    for (const table of this.tables.values()) {
      const missing = table.missingVersions;
      if (missing) total += missing.to - missing.from + 1;
    }
    return total;
  }

  /** One lease tick now (tests: no wait for the timer). */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.ticking ??= this.renewAndTake().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async halt(): Promise<number[]> {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    await this.ticking;
    const held = [...this.tables.values()];
    this.tables.clear();
    for (const table of held) table.close();
    await Promise.all(held.map((table) => table.settled));
    await Promise.all(this.pendingWrites);
    return held.map((table) => table.table.tableId);
  }

  private async renewAndTake(): Promise<void> {
    const { config, logger } = this.deps;
    const sentAt = Date.now();
    try {
      const held = [...this.tables.keys()];
      const kept = await this.leases.renew(held);
      this.leasesUntil = sentAt + config.leaseTtlMs;
      for (const tableId of held) {
        const table = this.tables.get(tableId);
        if (table && !kept.has(tableId)) {
          logger.info({ table: table.table.name }, 'lease lost (taken over, handed over or dropped): no longer followed here');
          this.drop(table);
        }
      }
      if (this.stopped) return;
      const taken = await this.leases.take([...this.tables.keys()], config.maxTables - this.tables.size);
      if (taken.length > 0) await this.follow(taken);
      if (this.warnedRenewal) logger.info({ tables: this.tables.size }, 'leases renewed again');
      this.warnedRenewal = false;
      for (const table of this.tables.values()) void table.scan();
    } catch (error) {
      if (!this.warnedRenewal) logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'lease renewal failed: retrying at the next tick');
      this.warnedRenewal = true;
      if (Date.now() >= this.leasesUntil && this.tables.size > 0) {
        logger.warn({ tables: this.tables.size }, 'leases ran out unrenewed: letting the tables go until they can be taken again');
        for (const table of [...this.tables.values()]) this.drop(table);
      }
    }
  }

  private async follow(taken: readonly HeldTable[]): Promise<void> {
    // serves: delta_commit primary key (max version per table)
    const { rows } = await this.leasePool.query<{ table_id: number; head: number | null }>(
      `SELECT t.table_id, (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) AS head
         FROM deltameta.delta_table t WHERE t.table_id = ANY($1::bigint[])`,
      [taken.map((table) => table.tableId)],
    );
    const heads = new Map(rows.map((row) => [row.table_id, row.head ?? -1]));
    for (const held of taken) {
      if (this.stopped) break;
      const table = new TableFollower(held, heads.get(held.tableId) ?? -1, {
        pool: this.deps.pool, leases: this.leases, logger: this.deps.logger, metrics: this.deps.metrics, config: this.deps.config,
        onImport: this.deps.onImport,
        onLetGo: (letGo, outcome) => this.letGo(letGo, outcome),
      });
      this.tables.set(held.tableId, table);
      this.deps.logger.info({ table: held.name, location: held.location, head: heads.get(held.tableId) ?? -1 }, 'following');
      table.start();
    }
  }

  private drop(table: TableFollower): void {
    if (this.tables.get(table.table.tableId) === table) this.tables.delete(table.table.tableId);
    table.close();
  }

  private letGo(table: TableFollower, outcome: 'handed_over' | 'dropped'): void {
    this.drop(table);
    if (outcome !== 'handed_over') return;
    const write = this.leases.forget(table.table.tableId).catch((error: unknown) =>
      this.deps.logger.warn({ table: table.table.name, err: error instanceof Error ? error.message : String(error) }, 'letting go of the lease failed: it expires instead'));
    this.pendingWrites.add(write);
    void write.finally(() => this.pendingWrites.delete(write));
  }
}
