/**
 * A running reader: its pool (read-only sessions), head tracker, caches and
 * HTTP server, started and stopped in order. services/reader/main.ts runs
 * one; tests run one in-process.
 */
import type { Redis } from 'ioredis';
import type { ReaderConfig } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { InternalError } from '../../shared/errors/index.ts';
import { closeHttpServer } from '../../shared/service/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { ReaderMetrics } from '../../shared/metrics/index.ts';
import { AccessControl } from './auth.ts';
import { HeadTracker } from './head-tracker.ts';
import { buildReaderApp } from './reader-app.ts';
import { ResponseCache } from './response-cache.ts';
import { checkReadOnlyRole } from './role-check.ts';
import { ShadowVerifier, type ShadowOutcome } from './shadow.ts';
import { endLingeringWatches } from './snapshot-scope.ts';

/**
 * Every session of the reader's pool is read-only (default_transaction_read_only),
 * on top of the read-only role it must connect as (role-check.ts): a bug cannot write.
 */
export function readOnlyUrl(postgresUrl: string): string {
  const url = new URL(postgresUrl);
  url.searchParams.set('options', '-c default_transaction_read_only=on');
  return url.toString();
}

export interface ReaderOptions {
  readonly config: ReaderConfig;
  /** the base config's database URL, used when config.postgresUrl is unset */
  readonly defaultPostgresUrl: string;
  /** the pipeline's Redis: head pointers, their announcements, hot tables */
  readonly redis: Redis;
  /**
   * the cache's Redis (L2 and the summaries the refresher warms there; shared/clients
   * createCacheRedis): an instance whose eviction can never reach the pipeline's keys.
   * Default: `redis` (a single-instance setup, as some tests run).
   */
  readonly cacheRedis?: Redis;
  readonly redisPrefix: string;
  readonly logger: Logger;
  readonly metrics: ReaderMetrics;
  /** access control; default: from config (tokens file, or disabled) */
  readonly access?: AccessControl;
  /** told each shadow check's outcome (tests) */
  readonly onShadowOutcome?: (table: string, version: number, outcome: ShadowOutcome) => void;
}

export class Reader {
  readonly pool: Pool;
  /** whole lists streamed to their clients (whole-list-stream.ts), capped by DELTAMETA_READER_STREAM_CONNECTIONS */
  readonly streamPool: Pool;
  readonly cache: ResponseCache;
  readonly heads: HeadTracker;
  readonly shadow: ShadowVerifier;
  private readonly app: ReturnType<typeof buildReaderApp>;
  private listeningPort: number | undefined;

  constructor(private readonly options: ReaderOptions) {
    const { config } = options;
    const sessionBounds = {
      acquireTimeoutMs: config.pgAcquireTimeoutMs, statementTimeoutMs: config.pgStatementTimeoutMs, idleInTransactionTimeoutMs: config.pgIdleInTransactionTimeoutMs,
    };
    const url = readOnlyUrl(config.postgresUrl ?? options.defaultPostgresUrl);
    this.pool = createPool(url, { max: config.poolMax, applicationName: 'deltameta-reader', ...sessionBounds });
    this.pool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
    // Streams hold a connection and a snapshot while their client reads: they get
    // their own small pool, so the slowest clients can exhaust only it, never the
    // connections cached answers and small lists are produced from.
    this.streamPool = createPool(url, { max: config.streamConnections, applicationName: 'deltameta-reader-stream', ...sessionBounds });
    this.streamPool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL stream connection failed'));
    this.cache = new ResponseCache({ redis: options.cacheRedis ?? options.redis, prefix: options.redisPrefix, metrics: options.metrics }, config);
    this.heads = new HeadTracker({ pool: this.pool, redis: options.redis, prefix: options.redisPrefix, logger: options.logger }, { safetyTtlMs: config.headSafetyTtlMs });
    const access = options.access ?? (config.authEnabled && config.tokensFile !== undefined ? AccessControl.fromFile(config.tokensFile) : AccessControl.disabled());
    this.shadow = new ShadowVerifier({
      pool: this.pool, redis: options.redis, prefix: options.redisPrefix, logger: options.logger, metrics: options.metrics,
      settings: { sample: config.shadowSample, maxFiles: config.shadowMaxFiles, queueMax: config.shadowQueue }, onOutcome: options.onShadowOutcome,
    });
    this.app = buildReaderApp({
      pool: this.pool, streamPool: this.streamPool, redis: options.redis, prefix: options.redisPrefix, logger: options.logger, metrics: options.metrics,
      cache: this.cache, heads: this.heads, access, config, shadow: this.shadow,
    });
  }

  get port(): number {
    if (this.listeningPort === undefined) throw new InternalError('the reader is not listening (port read before start())');
    return this.listeningPort;
  }

  async start(): Promise<void> {
    try {
      await checkReadOnlyRole(this.pool, this.options.config.allowWritableRole);
    } catch (error) {
      // Refused before anything started: close what the constructor opened, so a refused start leaves no handle.
      await Promise.all([this.pool.end(), this.streamPool.end(), this.app.close()]);
      throw error;
    }
    await this.heads.start();
    await this.app.listen({ port: this.options.config.port, host: this.options.config.host });
    const address = this.app.server.address();
    this.listeningPort = typeof address === 'object' && address ? address.port : this.options.config.port;
  }

  async readiness(): Promise<{ ready: boolean; detail: Record<string, unknown> }> {
    await this.pool.query('SELECT 1');
    await this.options.redis.ping();
    return { ready: this.listeningPort !== undefined, detail: { port: this.listeningPort, l1Bytes: this.cache.l1Bytes } };
  }

  /**
   * Stop taking requests, finish those in flight, then close connections. A
   * connection that holds no request (an aborted keep-alive) can keep
   * Fastify's close waiting: after `closeGraceMs` every connection is closed.
   */
  async stop(closeGraceMs = 5_000): Promise<void> {
    await closeHttpServer(this.app, closeGraceMs);
    await this.shadow.stop();
    await this.heads.stop();
    await this.pool.end();
    await this.streamPool.end();
    // Its requests' work is over with its pools: the watches kept for abandoned ones can end.
    endLingeringWatches();
  }
}
