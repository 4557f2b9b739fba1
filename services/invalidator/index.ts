export { CommitInvalidator, type InvalidatorDeps } from './commit-invalidator.ts';
export { loadInvalidatorConfig, type InvalidatorConfig } from './config.ts';
export { PipelineWatch, type PipelineWatchDeps } from './pipeline-watch.ts';
