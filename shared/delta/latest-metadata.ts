/**
 * The metaData in effect at the latest version of a `_delta_log`, without
 * replaying it: the newest metaData in the commits walking back (only
 * metaData lines are parsed), else the one the caller already knows at a
 * version (`known`: an import has read its base), else the one in the newest
 * readable checkpoint (read until its metaData row; delta-rs writes it after
 * the adds, so that can be the whole checkpoint). Time travel needs it before any replay: in-commit
 * timestamps are switched on in the configuration.
 */
import { LogFormatError } from '../errors/index.ts';
import type { Json, MetadataAction } from './actions.ts';
import { CheckpointUnreadableError, readCheckpoint } from './checkpoint-read.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import type { LogListing } from './listing.ts';
import { readLogText } from './log-files.ts';
import { parseActionObject } from './parse.ts';

export interface KnownMetadata {
  readonly version: number;
  readonly metadata: MetadataAction | undefined;
}

// A line that is a metaData action (one action per line, its only key).
const metadataLine = /^\s*\{\s*"metaData"\s*:/;

/**
 * The last metaData line of a commit file, parsed and checked; the other
 * lines are not parsed (the commits between a checkpoint and the latest
 * version are parsed in full by whoever replays or imports them).
 */
async function metadataInCommit(file: string, logDir: string, limits: InputLimits): Promise<MetadataAction | undefined> {
  const lines = (await readLogText(logDir, file, limits.maxJsonFileBytes)).split('\n');
  for (let index = lines.length - 1; index >= 0; index--) {
    const raw = lines[index] as string;
    if (!metadataLine.test(raw)) continue;
    let value: Json;
    try {
      value = JSON.parse(raw) as Json;
    } catch (error) {
      throw new LogFormatError(file, index + 1, `not valid JSON (${(error as Error).message})`);
    }
    const action = parseActionObject(value, file, index + 1, limits);
    if (action.kind === 'metaData') return action.metaData;
  }
  return undefined;
}

export async function latestMetadata(listing: LogListing, options: { limits?: InputLimits; known?: KnownMetadata } = {}): Promise<MetadataAction | undefined> {
  const limits = options.limits ?? defaultInputLimits;
  const { known } = options;
  if (known) {
    // The commits after the known version, when all there, decide without opening a checkpoint.
    let at = listing.latestVersion;
    for (; at > known.version && listing.commits.has(at); at--) {
      const metadata = await metadataInCommit(listing.commits.get(at) as string, listing.logDir, limits);
      if (metadata) return metadata;
    }
    if (at <= known.version) return known.metadata;
  }
  let at = listing.latestVersion;
  // Newest first; an unreadable checkpoint is passed over as a replay would pass it (the replay reports the fallback).
  for (const checkpoint of [...listing.checkpoints, undefined]) {
    if (checkpoint && checkpoint.version > at) continue;
    for (; at > (checkpoint?.version ?? -1); at--) {
      const file = listing.commits.get(at);
      if (!file) break;
      const metadata = await metadataInCommit(file, listing.logDir, limits);
      if (metadata) return metadata;
    }
    if (!checkpoint) return undefined;
    at = checkpoint.version;
    try {
      for await (const { action } of readCheckpoint(listing, checkpoint, limits)) {
        if (action.kind === 'metaData') return action.metaData;
      }
    } catch (error) {
      if (!(error instanceof CheckpointUnreadableError)) throw error;
    }
  }
  return undefined;
}
