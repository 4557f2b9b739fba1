// What main.ts and the integration tests run: the publisher and the errors it throws.
export { CommitPublisher, type CdcDeps, type CdcReadiness } from './commit-publisher.ts';
export { CdcRowError, slotHolderPid } from './errors.ts';
export { loadCdcConfig, type CdcConfig } from './config.ts';
export { cdcActiveGauge } from './metrics.ts';
export { type CdcRole } from './slot-consumer.ts';
export { ReplicationSetupError } from './setup.ts';
// The pure logic behind the flush rule, for its unit tests.
export { FlushPosition, type StatusChannel } from './flush-position.ts';
export { PublisherLifecycle, type PublisherState } from './publisher-state.ts';
export { TransactionQueue, type ReceivedTransaction, type TakenBatch } from './transaction-queue.ts';
