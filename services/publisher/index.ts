export { LogPublisher, publishLockNamespace, type LogPublisherDeps } from './log-publisher.ts';
export { CommitWakeups } from './commit-wakeups.ts';
export { loadPublisherConfig, type PublisherConfig } from './config.ts';
export { publisherMetrics, type PublisherMetrics } from './metrics.ts';
