import { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';

/**
 * An ioredis connection to the pipeline's Redis (BullMQ, head pointers,
 * pub/sub, hot tables). `maxRetriesPerRequest: null` keeps commands queued
 * across a Redis restart instead of failing them after 20 tries (BullMQ
 * requires it for its blocking connections anyway).
 */
export function createRedis(config: Config, connectionName: string, options: { lazyConnect?: boolean; onError?: (error: Error) => void } = {}): Redis {
  const redis = new Redis(config.redisUrl, {
    connectionName,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: options.lazyConnect ?? false,
    retryStrategy,
  });
  // Without a listener ioredis prints "Unhandled error event" while it reconnects.
  redis.on('error', options.onError ?? (() => undefined));
  return redis;
}

/** A cache command that has not answered in this long is a miss: PostgreSQL answers instead. */
const cacheCommandTimeoutMs = 2000;

/**
 * An ioredis connection to the cache's Redis (the reader's L2, warmed
 * summaries): a separate instance with an eviction budget (docs/stack.md).
 * Unlike the pipeline's, a command here must never wait for a Redis that is
 * gone: queued until a reconnect (backing off to 5 s) or across a restart,
 * every request would wait on its L2 lookup. So while disconnected a command
 * fails at once (no offline queue; the first commands of a process that has
 * not connected yet are misses too), one in flight when the connection drops
 * after one retry, one the server does not answer after
 * `cacheCommandTimeoutMs`; callers treat a failure as a miss.
 */
export function createCacheRedis(config: Config, connectionName: string, options: { onError?: (error: Error) => void } = {}): Redis {
  const redis = new Redis(config.cacheRedisUrl, {
    connectionName,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: cacheCommandTimeoutMs,
    enableReadyCheck: true,
    retryStrategy,
  });
  redis.on('error', options.onError ?? (() => undefined));
  return redis;
}

function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 8), 5000);
}

/** Deletes every key matching a SCAN pattern (UNLINK: freed in the background), a batch at a time. Returns how many. */
export async function unlinkMatching(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let count = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) count += await redis.unlink(...keys);
  } while (cursor !== '0');
  return count;
}
