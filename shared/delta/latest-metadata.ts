/**
 * The metaData and protocol in effect at the latest version of a
 * `_delta_log`, without replaying it: the newest of each in the commits
 * walking back (only metaData and protocol lines are parsed), else the ones
 * the caller already knows at a version (`known`: an import has read its
 * base), else the ones in the newest readable checkpoint (read until both
 * rows; delta-rs writes them after the adds, so that can be the whole
 * checkpoint). Time travel needs them before any replay: in-commit
 * timestamps are switched on in the configuration, and only count where the
 * protocol supports them.
 */
import { LogFormatError } from '../errors/index.ts';
import type { Json, MetadataAction, ProtocolAction } from './actions.ts';
import { CheckpointUnreadableError, readCheckpoint } from './checkpoint-read.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import type { LogListing } from './listing.ts';
import { readLogText } from './log-files.ts';
import { parseActionObject } from './parse.ts';

export interface KnownMetadata {
  readonly version: number;
  readonly metadata: MetadataAction | undefined;
  readonly protocol: ProtocolAction | undefined;
}

/** The latest metaData and protocol of a log (either undefined when the log has none). */
export interface LatestTableActions {
  metadata: MetadataAction | undefined;
  protocol: ProtocolAction | undefined;
}

// A line that is a metaData or protocol action (one action per line, its only key).
const metadataOrProtocolLine = /^\s*\{\s*"(metaData|protocol)"\s*:/;

/**
 * Fills what `found` still lacks from one commit file's metaData and protocol
 * lines, parsed and checked; the other lines are not parsed (the commits
 * between a checkpoint and the latest version are parsed in full by whoever
 * replays or imports them). A version has at most one of each.
 */
async function takeFromCommit(found: LatestTableActions, file: string, logDir: string, limits: InputLimits): Promise<void> {
  const lines = (await readLogText(logDir, file, limits.maxJsonFileBytes)).split('\n');
  for (const [index, raw] of lines.entries()) {
    if (!metadataOrProtocolLine.test(raw)) continue;
    let value: Json;
    try {
      value = JSON.parse(raw) as Json;
    } catch (error) {
      throw new LogFormatError(file, index + 1, `not valid JSON (${(error as Error).message})`);
    }
    const action = parseActionObject(value, file, index + 1, limits);
    if (action.kind === 'metaData') found.metadata ??= action.metaData;
    if (action.kind === 'protocol') found.protocol ??= action.protocol;
  }
}

const complete = (found: LatestTableActions): boolean => found.metadata !== undefined && found.protocol !== undefined;

export async function latestTableActions(listing: LogListing, options: { limits?: InputLimits; known?: KnownMetadata } = {}): Promise<LatestTableActions> {
  const limits = options.limits ?? defaultInputLimits;
  const { known } = options;
  const found: LatestTableActions = { metadata: undefined, protocol: undefined };
  if (known) {
    // The commits after the known version, when all there, decide without opening a checkpoint.
    let at = listing.latestVersion;
    for (; at > known.version && listing.commits.has(at) && !complete(found); at--) {
      await takeFromCommit(found, listing.commits.get(at) as string, listing.logDir, limits);
    }
    if (complete(found)) return found;
    if (at <= known.version) return { metadata: found.metadata ?? known.metadata, protocol: found.protocol ?? known.protocol };
  }
  found.metadata = undefined;
  found.protocol = undefined;
  let at = listing.latestVersion;
  // Newest first; an unreadable checkpoint is passed over as a replay would pass it (the replay reports the fallback).
  for (const checkpoint of [...listing.checkpoints, undefined]) {
    if (checkpoint && checkpoint.version > at) continue;
    for (; at > (checkpoint?.version ?? -1); at--) {
      const file = listing.commits.get(at);
      if (!file) break;
      await takeFromCommit(found, file, listing.logDir, limits);
      if (complete(found)) return found;
    }
    if (!checkpoint) return found;
    at = checkpoint.version;
    try {
      const fromCheckpoint: LatestTableActions = { metadata: undefined, protocol: undefined };
      for await (const { action } of readCheckpoint(listing, checkpoint, limits)) {
        if (action.kind === 'metaData') fromCheckpoint.metadata = action.metaData;
        if (action.kind === 'protocol') fromCheckpoint.protocol = action.protocol;
        if (complete(fromCheckpoint)) break;
      }
      return { metadata: found.metadata ?? fromCheckpoint.metadata, protocol: found.protocol ?? fromCheckpoint.protocol };
    } catch (error) {
      if (!(error instanceof CheckpointUnreadableError)) throw error;
    }
  }
  return found;
}
