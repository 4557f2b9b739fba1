/**
 * The one place a commit's writer table features are enforced, with the
 * protocol and metadata in force after the commit (PROTOCOL.md "Table
 * Features"; the rules live in shared/delta/commit-features.ts). Row ids,
 * row commit versions and in-commit timestamps are assigned afterwards
 * (transaction-rewrite.ts), so the check sees the writer's own actions.
 */
import { checkCommitFeatures, type CommitFeaturesInput } from '../delta/index.ts';

export function checkWriterFeatures(input: CommitFeaturesInput): void {
  checkCommitFeatures(input);
}
