/**
 * The log segment for a version: the newest usable checkpoint at or before
 * it, then the commits (or compaction files standing in for cleaned-up
 * commits) up to the version, without gaps.
 */
import path from 'node:path';
import { BadRequestError, LogFormatError, NotFoundError, VersionGoneError } from '../errors/index.ts';
import { commitFileName, type CheckpointFiles, type LogListing } from './listing.ts';

export type SegmentStep =
  | { readonly kind: 'commit'; readonly version: number; readonly file: string }
  | { readonly kind: 'compaction'; readonly start: number; readonly end: number; readonly file: string };

export interface LogSegment {
  readonly version: number;
  readonly checkpoint: CheckpointFiles | undefined;
  readonly steps: readonly SegmentStep[];
}

/** The oldest version whose snapshot this log can rebuild. */
export function oldestReconstructableVersion(listing: LogListing): number {
  if (listing.commits.has(0)) return 0;
  const oldestCheckpoint = listing.checkpoints.at(-1);
  return oldestCheckpoint?.version ?? Math.min(...listing.commits.keys());
}

export function buildSegment(listing: LogListing, version: number, options: { startAfter?: number } = {}): LogSegment {
  if (!Number.isInteger(version) || version < 0) throw new BadRequestError(`version must be a non-negative integer, got ${version}`);
  if (version > listing.latestVersion) throw new NotFoundError(`${listing.tableDir}: version ${version} does not exist (latest is ${listing.latestVersion})`);
  const checkpoint = options.startAfter === undefined ? listing.checkpoints.find((candidate) => candidate.version <= version) : undefined;
  let next = options.startAfter !== undefined ? options.startAfter + 1 : checkpoint ? checkpoint.version + 1 : 0;
  if (!checkpoint && options.startAfter === undefined && !listing.commits.has(0)) {
    // With a skipped checkpoint in the way, that checkpoint is the real problem: name its file and why.
    const skipped = listing.unusableCheckpoints.find((candidate) => candidate.version <= version);
    if (skipped) {
      throw new LogFormatError(skipped.file, undefined, `${skipped.reason}; no older complete checkpoint or version 0 commit is left to rebuild version ${version} from`);
    }
    throw new VersionGoneError(listing.tableDir, version, oldestReconstructableVersion(listing));
  }
  const steps: SegmentStep[] = [];
  while (next <= version) {
    const file = listing.commits.get(next);
    if (file) {
      steps.push({ kind: 'commit', version: next, file });
      next++;
      continue;
    }
    // Compaction files stand in for commits that were cleaned up (never past the target).
    const compaction = listing.compactions
      .filter((candidate) => candidate.start === next && candidate.end <= version)
      .sort((a, b) => b.end - a.end)[0];
    if (compaction) {
      steps.push({ kind: 'compaction', start: compaction.start, end: compaction.end, file: compaction.file });
      next = compaction.end + 1;
      continue;
    }
    const before = next - 1;
    throw new LogFormatError(
      path.join(listing.logDir, commitFileName(next)),
      undefined,
      `version ${next} is missing: the log has a gap between version ${before} and the next commit`,
    );
  }
  return { version, checkpoint, steps };
}
