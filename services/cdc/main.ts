/**
 * services/cdc: delta_commit inserts from the logical replication slot →
 * deltameta.commit.v1 events on the commits topic (key = table). The slot
 * moves only after Kafka has the events (the rule: flush-position.ts).
 * Several instances: one streams, the others stand by (slot-consumer.ts).
 */
import { createKafka } from '../../shared/clients/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { cdcMetrics, createRegistry } from '../../shared/metrics/index.ts';
import { instanceClientName, runUntilSignal, startAdminServer, withInstance } from '../../shared/service/index.ts';
import { cdcActiveGauge, CommitPublisher, loadCdcConfig } from './index.ts';

const config = loadConfig();
const own = loadCdcConfig();
const logger = withInstance(createLogger('cdc', config.logLevel));
const registry = createRegistry('cdc');
const kafka = createKafka({
  clientId: instanceClientName('deltameta-cdc'),
  brokers: config.kafkaBrokers,
  logger,
  retry: { retries: 5, initialRetryTime: 100, maxRetryTime: config.pipeline.reconnectMaxBackoffMs },
});
const publisher = new CommitPublisher(config, { kafka, logger, metrics: cdcMetrics(registry), standbyRetryMs: own.standbyRetryMs });
cdcActiveGauge(registry, () => publisher.role === 'active' && publisher.isReady());

const service = {
  async stop() {
    await publisher.stop();
    await admin.close();
  },
};

// The admin port first: /healthz answers while the slot is still being waited for.
const admin = await startAdminServer({ port: config.adminPorts.cdc, registry, readiness: () => publisher.readiness() });
logger.info({ adminPort: admin.port }, 'admin port listening');
// Signals are handled from here on: a standby waits in start() until it takes the slot, and SIGTERM must stop it gracefully there too.
const stopped = runUntilSignal(logger, service, { shutdownGraceMs: config.shutdownGraceMs });
try {
  await publisher.start();
} catch (error) {
  logger.fatal({ err: error }, 'cdc could not start');
  await admin.close();
  process.exit(1);
}
// start() also returns when a signal stopped it while it stood by.
if (publisher.isReady()) logger.info({ slot: config.pipeline.slotName, topic: config.pipeline.commitsTopic }, 'cdc running');

// A row that cannot become a valid event halts the publisher: publish and acknowledge what came before it, then exit non-zero.
void publisher.whenFailed().then(async (error) => {
  logger.fatal({ err: error }, 'cdc halted');
  await service.stop().catch(() => undefined);
  process.exit(1);
});
await stopped;
