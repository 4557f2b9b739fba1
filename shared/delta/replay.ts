/**
 * File-based log replay: the baseline every other path is measured against,
 * and the reference it must agree with. Reads the files of a log segment
 * (segment.ts: newest usable checkpoint, then commits or compaction files up
 * to the version, without gaps) in order and applies their actions to a
 * TableState (table-state.ts), which reconciles them by logical file key.
 * A checkpoint that cannot be read is skipped for an older base
 * (checkpoint-read.ts), and the fallback reported.
 */
import { CheckpointUnreadableError, readCheckpoint, readJsonActions, reportFallback, warnOnStderr, withoutCheckpoint, type OnLogWarning } from './checkpoint-read.ts';
import { listLog, type LogListing } from './listing.ts';
import { buildSegment, type LogSegment } from './segment.ts';
import { checkFirstVersion, checkOneVersion, TableState } from './table-state.ts';
import { versionAtTimestamp, versionTimestamps } from './version-timestamps.ts';

export { CheckpointUnreadableError, readCheckpoint, readJsonActions, reportFallback, withoutCheckpoint, type LogWarning, type OnLogWarning } from './checkpoint-read.ts';

/** Applies a segment to a state (a fresh one, or one already at the segment's start). */
export async function applySegment(listing: LogListing, segment: LogSegment, state = new TableState()): Promise<TableState> {
  if (segment.checkpoint) {
    state.beginCheckpoint();
    for await (const located of readCheckpoint(listing, segment.checkpoint)) state.apply(located);
    state.endCheckpoint();
    state.version = segment.checkpoint.version;
  }
  for (const step of segment.steps) {
    const actions = await readJsonActions(step.file);
    if (step.kind === 'commit' && step.version === 0) checkFirstVersion(actions, step.file);
    checkOneVersion(actions, step.file);
    for (const located of actions) state.apply(located);
    state.version = step.kind === 'commit' ? step.version : step.end;
  }
  return state;
}

export interface ReplayOptions {
  readonly version?: number;
  readonly timestampMs?: number;
  /** told about each checkpoint skipped for an older base (default: a line on stderr) */
  readonly onWarning?: OnLogWarning;
}

/** The snapshot of a `_delta_log` at a version (latest by default) or timestamp. */
export async function replay(tableDir: string, options: ReplayOptions = {}): Promise<TableState> {
  let listing = await listLog(tableDir);
  let version = options.version ?? listing.latestVersion;
  if (options.timestampMs !== undefined) {
    version = await versionAtTimestamp(await versionTimestamps(listing), options.timestampMs);
  }
  for (;;) {
    const segment = buildSegment(listing, version);
    try {
      const state = await applySegment(listing, segment);
      reportFallback(listing, version, segment.checkpoint?.version ?? -1, options.onWarning ?? warnOnStderr);
      return state;
    } catch (error) {
      if (!(error instanceof CheckpointUnreadableError)) throw error;
      listing = withoutCheckpoint(listing, error);
    }
  }
}
