/**
 * The one place a commit's writer table features are enforced, with the
 * protocol and metadata in force after the commit (PROTOCOL.md "Table
 * Features"; the rules themselves live in shared/delta/table-features.ts).
 */
import { type Action, type MetadataAction, type ProtocolAction } from '../delta/index.ts';

export interface CommitFeaturesInput {
  readonly protocol: ProtocolAction | undefined;
  readonly metadata: MetadataAction | undefined;
  readonly actions: readonly Action[];
  readonly source: string;
}

/** Seam for checkCommitFeatures (shared/delta/table-features.ts): it has not landed; until it does, no writer feature is enforced here. */
export function checkWriterFeatures(input: CommitFeaturesInput): void {
  void input;
}
