import { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';

/**
 * An ioredis connection for a service. `maxRetriesPerRequest: null` keeps
 * commands queued across a Redis restart instead of failing them after 20
 * tries (BullMQ requires it for its blocking connections anyway).
 */
export function createRedis(config: Config, connectionName: string, options: { lazyConnect?: boolean; onError?: (error: Error) => void } = {}): Redis {
  const redis = new Redis(config.redisUrl, {
    connectionName,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: options.lazyConnect ?? false,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 8), 5000),
  });
  // Without a listener ioredis prints "Unhandled error event" while it reconnects.
  redis.on('error', options.onError ?? (() => undefined));
  return redis;
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
