/**
 * Which version "latest" means, per table, in this process. Fed by the
 * invalidator's pub/sub announcements (moves arrive in about a millisecond);
 * a pointer not confirmed for `safetyTtlMs` is re-read from Redis, in case an
 * announcement was missed (pub/sub is at most once), and from PostgreSQL
 * when Redis has none (a table committed before the pipeline ran). Forward
 * only: a stale read never moves a pointer back.
 *
 * Announcements and Redis pointers are hints, not facts: anyone who can
 * publish on the channel or write the key could name version 10^9, and a
 * reader that served it would cache answers for a version that does not
 * exist. A hint above the known head moves it only once PostgreSQL has the
 * commit (one check per (table, version); the head is the highest
 * confirmed version, and every version below it exists). Refuted hints are
 * remembered for a while so repeating one costs nothing.
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Pool } from '../../shared/db/index.ts';
import { HeadPointers, type DropAnnouncement, type HeadAnnouncement } from '../../shared/contracts/index.ts';
import { requireTable } from '../../shared/log-store/index.ts';
import type { Logger } from '../../shared/logging/index.ts';

interface KnownHead {
  version: number;
  confirmedAtMs: number;
}

// serves: delta_table name unique index, then the delta_commit primary key (table_id, version)
const commitExistsSql = `
  SELECT EXISTS (
    SELECT FROM deltameta.delta_commit c JOIN deltameta.delta_table t ON t.table_id = c.table_id
     WHERE t.name = $1 AND c.version = $2) AS found`;

/** A refuted hint is retried after this long: a version can be committed later than a hostile announcement named it. */
const refutedTtlMs = 10_000;
/** Distinct refuted hints remembered; a flood of distinct ones is bounded by maxConfirming instead. */
const refutedMax = 10_000;
/** Checks in flight from announcements; more are dropped (a dropped hint is caught up by the safety TTL). */
const maxConfirming = 16;

interface Waiter {
  readonly table: string;
  readonly version: number;
  readonly resolve: (reached: boolean) => void;
}

export class HeadTracker {
  // A Map, not an LRU: one entry per table read, and forgetting a head would let a stale Redis read move it back.
  private readonly known = new Map<string, KnownHead>();
  private readonly waiters = new Set<Waiter>();
  private readonly refuted = new LRUCache<string, true>({ max: refutedMax, ttl: refutedTtlMs });
  private readonly confirming = new Map<string, Promise<boolean>>();
  private readonly dropListeners: Array<(table: string) => void> = [];
  private readonly pointers: HeadPointers;
  private subscriber: Redis | undefined;

  constructor(
    private readonly deps: { pool: Pool; redis: Redis; prefix: string; logger: Logger },
    private readonly options: { safetyTtlMs: number },
  ) {
    this.pointers = new HeadPointers(deps.redis, deps.prefix);
  }

  /** Subscribes to announcements on a connection of its own (a subscribed ioredis connection can do nothing else). */
  async start(): Promise<void> {
    const subscriber = this.deps.redis.duplicate();
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => this.onAnnouncement(message));
    // Resubscribed by ioredis after a reconnect; what moved meanwhile is caught by the safety TTL.
    await subscriber.subscribe(this.pointers.channel);
    this.subscriber = subscriber;
  }

  async stop(): Promise<void> {
    for (const waiter of this.waiters) waiter.resolve(false);
    this.waiters.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) {
      await subscriber.quit().catch(() => undefined);
      subscriber.disconnect();
    }
  }

  /** Called with a table's name when it is announced dropped (its name may come again as a new table, from version 0). */
  onDropped(listener: (table: string) => void): void {
    this.dropListeners.push(listener);
  }

  private onAnnouncement(message: string): void {
    let announcement: HeadAnnouncement | DropAnnouncement;
    try {
      announcement = JSON.parse(message) as HeadAnnouncement | DropAnnouncement;
    } catch {
      return;
    }
    if (typeof announcement !== 'object' || announcement === null) return;
    if ('dropped' in announcement) {
      if (announcement.dropped !== true || typeof announcement.table !== 'string') return;
      // Forward-only no longer holds: the next table of this name starts again at version 0.
      this.known.delete(announcement.table);
      for (const listener of this.dropListeners) listener(announcement.table);
      return;
    }
    if (typeof announcement.table !== 'string' || !Number.isSafeInteger(announcement.version)) return;
    // A table this process has not read is looked up on its first request: a hint about it would cost a query for nothing.
    if (!this.known.has(announcement.table) || this.confirming.size >= maxConfirming) return;
    this.hint(announcement.table, announcement.version).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, table: announcement.table }, 'checking an announced head failed; the safety TTL catches up');
    });
  }

  /**
   * A head heard from pub/sub or Redis: confirmed by PostgreSQL before it
   * moves anything. The known head after it.
   */
  private async hint(table: string, version: number): Promise<number> {
    const current = this.known.get(table);
    // An older pointer says nothing about the present (and must not count as a recent confirmation).
    if (current && version < current.version) return current.version;
    if (current && version === current.version) return this.observe(table, version);
    if (!(await this.commitExists(table, version))) return current?.version ?? -1;
    return this.observe(table, version);
  }

  /** Whether PostgreSQL has commit `version` of `table`; concurrent checks of one pair share a query. */
  private async commitExists(table: string, version: number): Promise<boolean> {
    const key = `${version}@${table}`;
    if (this.refuted.has(key)) return false;
    let check = this.confirming.get(key);
    if (!check) {
      check = this.deps.pool.query<{ found: boolean }>(commitExistsSql, [table, version])
        .then(({ rows }) => rows[0]?.found === true)
        .finally(() => this.confirming.delete(key));
      this.confirming.set(key, check);
    }
    const found = await check;
    if (!found && !this.refuted.has(key)) {
      this.refuted.set(key, true);
      this.deps.logger.warn({ table, version }, 'a head pointer names a version PostgreSQL does not have: ignored');
    }
    return found;
  }

  /** Records a head PostgreSQL confirmed (its head, or a commit it has); forward only. */
  observe(table: string, version: number): number {
    const now = Date.now();
    const current = this.known.get(table);
    if (!current || version >= current.version) {
      this.known.set(table, { version, confirmedAtMs: now });
    } else {
      current.confirmedAtMs = now;
    }
    const head = Math.max(version, current?.version ?? -1);
    for (const waiter of this.waiters) {
      if (waiter.table === table && head >= waiter.version) {
        this.waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
    return head;
  }

  /** The latest known head: local when confirmed within the safety TTL, else Redis, else PostgreSQL. */
  async latest(table: string): Promise<number> {
    const current = this.known.get(table);
    if (current && Date.now() - current.confirmedAtMs < this.options.safetyTtlMs) return current.version;
    const fromRedis = await this.pointers.get(table);
    if (fromRedis && Number.isSafeInteger(fromRedis.version)) {
      const known = this.known.get(table)?.version ?? -1;
      if (fromRedis.version <= known || (await this.commitExists(table, fromRedis.version))) return this.observe(table, fromRedis.version);
    }
    return this.strong(table);
  }

  /** The head as PostgreSQL has it now (consistency=strong, read-through). Throws NotFoundError for an unknown table. */
  async strong(table: string): Promise<number> {
    const row = await requireTable(this.deps.pool, table);
    return this.observe(table, row.headVersion);
  }

  /**
   * Read-your-writes: a head at or past `minVersion`. The known head if it is
   * there; else an announcement within `waitMs`; else PostgreSQL's head
   * (which may still be below minVersion: the caller decides).
   */
  async atLeast(table: string, minVersion: number, waitMs: number): Promise<number> {
    const head = await this.latest(table);
    if (head >= minVersion) return head;
    if (waitMs > 0) {
      const reached = await new Promise<boolean>((resolve) => {
        const waiter: Waiter = { table, version: minVersion, resolve };
        this.waiters.add(waiter);
        setTimeout(() => {
          if (this.waiters.delete(waiter)) resolve(false);
        }, waitMs).unref();
      });
      const known = this.known.get(table)?.version ?? -1;
      if (reached && known >= minVersion) return known;
    }
    return this.strong(table);
  }
}
