/**
 * Records which tables are read (the hot-tables sorted set the refresher
 * warms caches for), at most once per table per `recordIntervalMs`: a hot
 * summary is read thousands of times a second, a ZADD for each would cost
 * more than the answer.
 */
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import { redisKeys } from '../../shared/contracts/index.ts';

/** Tables recorded within the interval; one pushed out early is only recorded again sooner. */
const recentlyRecordedMax = 10_000;

export class HotTableRecorder {
  /** undefined when every read is recorded (an interval of 0: lru-cache reads a TTL of 0 as "no TTL") */
  private readonly recentlyRecorded: LRUCache<string, true> | undefined;

  constructor(private readonly deps: { readonly redis: Redis; readonly prefix: string; readonly recordIntervalMs: number }) {
    this.recentlyRecorded = deps.recordIntervalMs > 0 ? new LRUCache<string, true>({ max: recentlyRecordedMax, ttl: deps.recordIntervalMs }) : undefined;
  }

  record(table: string): void {
    if (this.recentlyRecorded) {
      if (this.recentlyRecorded.has(table)) return;
      this.recentlyRecorded.set(table, true);
    }
    // Best effort: the refresher warms hot tables; a lost record only costs a warm-up.
    this.deps.redis.zadd(redisKeys(this.deps.prefix).hotTables, Date.now(), table).catch(() => undefined);
  }
}
