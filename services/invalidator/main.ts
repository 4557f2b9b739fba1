/**
 * services/invalidator: Kafka commits → head pointers in Redis (announced on
 * pub/sub) and deduplicated BullMQ refresh jobs (commit-invalidator.ts).
 * This file builds every client the invalidator uses and closes them after it stops.
 */
import { createKafka, createRedis } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { refreshQueue } from '../../shared/contracts/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, invalidatorMetrics } from '../../shared/metrics/index.ts';
import { runUntilSignal, startAdminServer } from '../../shared/service/index.ts';
import { CommitInvalidator } from './index.ts';

const config = loadConfig();
const logger = createLogger('invalidator', config.logLevel);
const registry = createRegistry('invalidator');
const kafka = createKafka({
  clientId: 'deltameta-invalidator',
  brokers: config.kafkaBrokers,
  logger,
  retry: { retries: 10, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
});
const redis = createRedis(config, 'deltameta-invalidator', {
  onError: (error) => logger.warn({ err: error.message }, 'redis connection error (reconnecting)'),
});
const queue = refreshQueue(config, 'deltameta-invalidator-queue');
const invalidator = new CommitInvalidator(config, { kafka, redis, refreshQueue: queue, logger, metrics: invalidatorMetrics(registry) });

await invalidator.start();
const admin = await startAdminServer({ port: config.adminPorts.invalidator, registry, readiness: () => invalidator.readiness() });
logger.info({ adminPort: admin.port, topic: config.pipeline.commitsTopic, group: config.pipeline.consumerGroup }, 'invalidator running');

await runUntilSignal(logger, {
  async stop() {
    await invalidator.stop();
    await admin.close();
    await queue.close();
    redis.disconnect();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
