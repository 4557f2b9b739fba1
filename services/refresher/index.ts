export { RefreshWorker, type RefreshWorkerDeps } from './refresh-worker.ts';
