/**
 * services/invalidator: Kafka commits → head pointers in Redis (announced on
 * pub/sub) and deduplicated BullMQ refresh jobs (commit-invalidator.ts), and
 * the pipeline watch (pipeline-watch.ts): the lag of every consumer group on
 * the commits topic, the refresh queue's depth and age, the slot's lag.
 * With DELTAMETA_INVALIDATOR_CONSUME=off it only watches (config.ts).
 * This file builds every client the invalidator uses and closes them after it stops.
 */
import { createKafka, createRedis } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { refreshQueue } from '../../shared/contracts/index.ts';
import { createPool } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, invalidatorMetrics, queueMetrics } from '../../shared/metrics/index.ts';
import { instanceClientName, runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';
import { CommitInvalidator, loadInvalidatorConfig, PipelineWatch } from './index.ts';

const config = loadConfig();
const own = loadInvalidatorConfig();
const logger = withInstance(createLogger('invalidator', config.logLevel));
const registry = createRegistry('invalidator');
const kafka = createKafka({
  clientId: instanceClientName('deltameta-invalidator'),
  brokers: config.kafkaBrokers,
  logger,
  retry: { retries: 10, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
});
const redis = createRedis(config, instanceClientName('deltameta-invalidator'), {
  onError: (error) => logger.warn({ err: error.message }, 'redis connection error (reconnecting)'),
});
const queue = refreshQueue(config, 'deltameta-invalidator-queue');
// The watch's one reader of pg_replication_slots.
const pool = createPool(config.postgresUrl, { max: 1 });
const metrics = invalidatorMetrics(registry);
const invalidator = own.consume ? new CommitInvalidator(config, { kafka, redis, refreshQueue: queue, logger, metrics }) : undefined;
const watch = new PipelineWatch(config, own, { kafka, pool, refreshQueue: queue, registry, queueMetrics: queueMetrics(registry), logger });

await invalidator?.start();
await watch.start();
const admin = await startAdminServer({
  port: config.adminPorts.invalidator,
  registry,
  readiness: async () => {
    if (invalidator) return invalidator.readiness();
    const redisOk = await redis.ping().then(() => true, () => false);
    return { ready: redisOk, detail: { consuming: false, redis: redisOk, watching: watch.healthy } };
  },
});
logger.info({ adminPort: admin.port, topic: config.pipeline.commitsTopic, group: config.pipeline.consumerGroup, consume: own.consume }, 'invalidator running');

await runUntilSignal(logger, {
  async stop() {
    await watch.stop();
    await invalidator?.stop();
    await admin.close();
    await queue.close();
    await pool.end();
    redis.disconnect();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
