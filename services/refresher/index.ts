export { RefreshWorker, type RefreshWorkerDeps } from './refresh-worker.ts';
export { RefreshBatcher, type RefreshBatcherOptions, type TableRefresh } from './refresh-batcher.ts';
export { PagesScheduler, type PagesSchedulerOptions } from './pages-scheduler.ts';
export { RefreshQuarantine, type RefreshFailure } from './quarantine.ts';
