/**
 * services/refresher: BullMQ workers that keep each table's materialized
 * state (file_index, table_state, partition_summary) caught up with its log,
 * plus the scheduled refresh of native materialized views and retention.
 */
import { loadConfig } from '../../shared/config/index.ts';
import { maintenanceQueue, refreshQueue } from '../../shared/contracts/index.ts';
import { createPool } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, queueMetrics, refresherMetrics } from '../../shared/metrics/index.ts';
import { RefreshWorker } from './index.ts';
import { createCacheRedis, createRedis } from '../../shared/clients/index.ts';
import { instanceClientName, runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';

const config = loadConfig();
const logger = withInstance(createLogger('refresher', config.logLevel));
const registry = createRegistry('refresher');
// Per refresh transaction a connection, as many for the tables refreshed alone
// (refresh-batcher.ts), one per file-pages pass, two for gauges, catch-up and maintenance.
const pool = createPool(config.postgresUrl, {
  max: 2 * config.pipeline.refreshTransactions + config.pipeline.filePagesConcurrency + 2, applicationName: 'deltameta-refresher',
});
const redis = createRedis(config, instanceClientName('deltameta-refresher'));
// Warmed summaries go where the reader reads its L2: the cache's instance.
const cacheRedis = createCacheRedis(config, instanceClientName('deltameta-refresher-cache'));
const queues = { refreshQueue: refreshQueue(config, 'deltameta-refresher-queue'), maintenanceQueue: maintenanceQueue(config, 'deltameta-refresher-maintenance') };
const worker = new RefreshWorker(config, { pool, redis, cacheRedis, ...queues, logger, metrics: refresherMetrics(registry), queueMetrics: queueMetrics(registry) });

await worker.start();
const admin = await startAdminServer({ port: config.adminPorts.refresher, registry, readiness: () => worker.readiness() });
logger.info({ adminPort: admin.port, queue: config.pipeline.refreshQueue }, 'refresher running');

await runUntilSignal(logger, {
  async stop() {
    await worker.stop();
    await admin.close();
    await queues.refreshQueue.close();
    await queues.maintenanceQueue.close();
    redis.disconnect();
    cacheRedis.disconnect();
    await pool.end();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
