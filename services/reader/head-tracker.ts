/**
 * Which version "latest" means, per table, in this process. Fed by the
 * invalidator's pub/sub announcements (moves arrive in about a millisecond);
 * a pointer not confirmed for `safetyTtlMs` is re-read from Redis, in case an
 * announcement was missed (pub/sub is at most once), and from PostgreSQL
 * when Redis has none (a table committed before the pipeline ran). Forward
 * only: a stale read never moves a pointer back.
 */
import type { Redis } from 'ioredis';
import type { Pool } from '../../shared/db/index.ts';
import { HeadPointers, type HeadAnnouncement } from '../../shared/contracts/index.ts';
import { requireTable } from '../../shared/log-store/index.ts';
import type { Logger } from '../../shared/logging/index.ts';

interface KnownHead {
  version: number;
  confirmedAtMs: number;
}

interface Waiter {
  readonly table: string;
  readonly version: number;
  readonly resolve: (reached: boolean) => void;
}

export class HeadTracker {
  // A Map, not an LRU: one entry per table read, and forgetting a head would let a stale Redis read move it back.
  private readonly known = new Map<string, KnownHead>();
  private readonly waiters = new Set<Waiter>();
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

  private onAnnouncement(message: string): void {
    let announcement: HeadAnnouncement;
    try {
      announcement = JSON.parse(message) as HeadAnnouncement;
    } catch {
      return;
    }
    if (typeof announcement.table !== 'string' || !Number.isSafeInteger(announcement.version)) return;
    this.observe(announcement.table, announcement.version);
  }

  /** Records a head seen anywhere (announcement, Redis, PostgreSQL); forward only. */
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
    if (fromRedis) return this.observe(table, fromRedis.version);
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
