/**
 * The metaData in effect at a version of a `_delta_log`, without replaying
 * it: the newest metaData in the commits walking back from the version, else
 * the one in the newest readable checkpoint at or below it (its read stops at
 * the metaData row). Time travel needs it before any replay (in-commit
 * timestamps are switched on in the configuration), and sync import to
 * compare the table's identity.
 */
import type { MetadataAction } from './actions.ts';
import { CheckpointUnreadableError, readCheckpoint, readJsonActions } from './checkpoint-read.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import type { LogListing } from './listing.ts';

export async function latestMetadata(
  listing: LogListing,
  options: { version?: number; limits?: InputLimits } = {},
): Promise<MetadataAction | undefined> {
  const limits = options.limits ?? defaultInputLimits;
  let at = options.version ?? listing.latestVersion;
  // Newest first; an unreadable checkpoint is passed over as a replay would pass it (it reports the fallback).
  for (const checkpoint of [...listing.checkpoints, undefined]) {
    if (checkpoint && checkpoint.version > at) continue;
    const floor = checkpoint?.version ?? -1;
    for (; at > floor; at--) {
      const file = listing.commits.get(at);
      if (!file) return undefined;
      const actions = await readJsonActions(file, limits);
      const metadata = [...actions].reverse().find(({ action }) => action.kind === 'metaData')?.action;
      if (metadata?.kind === 'metaData') return metadata.metaData;
    }
    if (!checkpoint) return undefined;
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
