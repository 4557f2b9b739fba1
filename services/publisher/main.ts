/**
 * services/publisher: owned tables' commits → their `_delta_log` files
 * (log-publisher.ts; docs/publisher.md). Commit events on the commits
 * topic wake a table up, a periodic sweep catches what no event announced.
 * This file builds every client the publisher uses and closes them after it stops.
 */
import { createKafka } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { createPool } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry } from '../../shared/metrics/index.ts';
import { instanceClientName, runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';
import { CommitWakeups, loadPublisherConfig, LogPublisher, publisherMetrics } from './index.ts';

const config = loadConfig();
const settings = loadPublisherConfig(config);
const logger = withInstance(createLogger('publisher', config.logLevel));
const registry = createRegistry('publisher');
const pool = createPool(settings.postgresUrl, { max: settings.concurrency + 2, applicationName: 'deltameta-publisher' });
pool.on('error', (error) => logger.warn({ err: error.message }, 'idle PostgreSQL connection failed'));
const kafka = createKafka({
  clientId: instanceClientName('deltameta-publisher'),
  brokers: config.kafkaBrokers,
  logger,
  retry: { retries: 10, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
});
const publisher = new LogPublisher(settings, { pool, logger, metrics: publisherMetrics(registry) });
const wakeups = new CommitWakeups(kafka, config, settings.consumerGroup, (tableIds) => publisher.wake(tableIds), logger);

await wakeups.start();
publisher.start();
const admin = await startAdminServer({
  port: config.adminPorts.publisher,
  registry,
  readiness: async () => {
    const database = await pool.query('SELECT 1').then(() => true, () => false);
    return { ready: wakeups.consuming && database, detail: { consuming: wakeups.consuming, database } };
  },
});
logger.info({ adminPort: admin.port, topic: config.pipeline.commitsTopic, group: settings.consumerGroup, sweepIntervalMs: settings.sweepIntervalMs }, 'publisher running');

await runUntilSignal(logger, {
  async stop() {
    await wakeups.stop();
    await publisher.stop();
    await admin.close();
    await pool.end();
  },
}, { shutdownGraceMs: config.shutdownGraceMs });
