/**
 * services/invalidator: Kafka commits → head pointers in Redis (announced on
 * pub/sub) and deduplicated BullMQ refresh jobs. See shared/invalidator.
 */
import { loadConfig } from '../../shared/config/index.ts';
import { CommitInvalidator } from './index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, invalidatorMetrics } from '../../shared/metrics/index.ts';
import { runUntilSignal, startAdminServer } from '../../shared/service/index.ts';

const config = loadConfig();
const logger = createLogger('invalidator', config.logLevel);
const registry = createRegistry('invalidator');
const invalidator = new CommitInvalidator(config, { logger, metrics: invalidatorMetrics(registry) });

await invalidator.start();
const admin = await startAdminServer({ port: config.adminPorts.invalidator, registry, readiness: () => invalidator.readiness() });
logger.info({ adminPort: admin.port, topic: config.pipeline.commitsTopic, group: config.pipeline.consumerGroup }, 'invalidator running');

await runUntilSignal(logger, {
  async stop() {
    await invalidator.stop();
    await admin.close();
  },
});
