/** An in-process reader on the suite's database and Redis prefix, on a free port, with the configuration a test gives it. */
import type { Redis } from 'ioredis';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics, type ReaderMetrics } from '../../shared/metrics/index.ts';
import { Reader } from '../../services/reader/index.ts';
import type { TestEnv } from './env.ts';

export interface RunningReader {
  readonly reader: Reader;
  readonly base: string;
  readonly redis: Redis;
  /** the Redis key prefix it uses (the suite's, plus `keySuffix`) */
  readonly prefix: string;
  readonly metrics: ReaderMetrics;
  stop(): Promise<void>;
}

const logger = createLogger('test-reader', 'silent');

export async function startTestReader(env: TestEnv, overrides: Record<string, string>, keySuffix: string): Promise<RunningReader> {
  const redis = env.redis();
  const prefix = `${env.keyPrefix}${keySuffix}`;
  const metrics = readerMetrics(createRegistry('test-reader'));
  const reader = new Reader({
    config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', ...overrides }),
    defaultPostgresUrl: env.readerUrl, redis, redisPrefix: prefix, logger, metrics,
  });
  await reader.start();
  return {
    reader, redis, prefix, metrics, base: `http://127.0.0.1:${reader.port}`,
    async stop() {
      await reader.stop();
      redis.disconnect();
    },
  };
}
