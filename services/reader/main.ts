/**
 * services/reader: the /v1 HTTP API (docs/design.md section 4, "HTTP
 * reader"), answering from L1 (in-process LRU) ▶ L2 (the cache's Redis) ▶ L3
 * (materialized state) ▶ L4 (log tail), with /metrics, /healthz and
 * /readyz on its admin port.
 */
import { createCacheRedis, createRedis } from '../../shared/clients/index.ts';
import { loadConfig, loadReaderConfig } from '../../shared/config/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { instanceClientName, runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';
import { Reader } from './index.ts';

const config = loadConfig();
const readerConfig = loadReaderConfig();
const logger = withInstance(createLogger('reader', config.logLevel));
const registry = createRegistry('reader');
const redis = createRedis(config, instanceClientName('deltameta-reader'));
// L2 lives in the cache's instance, whose memory budget evicts; head pointers stay in the pipeline's.
const cacheRedis = createCacheRedis(config, instanceClientName('deltameta-reader-cache'));
const reader = new Reader({
  config: readerConfig, defaultPostgresUrl: config.postgresUrl, redis, cacheRedis, redisPrefix: config.pipeline.redisPrefix, logger, metrics: readerMetrics(registry),
});

await reader.start();
const admin = await startAdminServer({ port: config.adminPorts.reader, registry, readiness: () => reader.readiness() });
logger.info({ port: reader.port, adminPort: admin.port, auth: readerConfig.authEnabled, l1: readerConfig.l1Enabled, l2: readerConfig.l2Enabled, l3: readerConfig.l3Enabled }, 'reader running');

await runUntilSignal(logger, {
  async stop() {
    await reader.stop();
    await admin.close();
    redis.disconnect();
    cacheRedis.disconnect();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
