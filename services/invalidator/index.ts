export { CommitInvalidator, type InvalidatorDeps } from './commit-invalidator.ts';
