export { CommitPublisher, type CdcDeps, type CdcReadiness } from './commit-publisher.ts';
export { CdcRowError } from './errors.ts';
export { ReplicationSetupError } from './setup.ts';
