/**
 * Where an import starts and what it reads around its base: the base
 * segment (newest checkpoint, or with history the oldest the log can
 * rebuild), the tail read ahead for a materializer, a version's commitInfo.
 */
import {
  buildSegment, oldestReconstructableVersion, readJsonActions, type CommitInfo, type InputLimits, type LocatedAction, type LogListing, type LogSegment,
} from '../delta/index.ts';
import { LogFormatError } from '../errors/index.ts';
import type { ImportMaterializer } from './import-materializer.ts';

/** The commits after a checkpoint, read before it and told to the materializer. */
export async function readTail(segment: LogSegment, limits: InputLimits, materializer: ImportMaterializer): Promise<Map<number, LocatedAction[]>> {
  const tail = new Map<number, LocatedAction[]>();
  for (const step of segment.steps) {
    if (step.kind !== 'commit') continue;
    const actions = await readJsonActions(step.file, limits);
    tail.set(step.version, actions);
    materializer.tail(step.version, actions.map(({ action }) => action));
  }
  return tail;
}

/** The commitInfo of a version's commit file, when the file is there and has one. */
export async function commitInfoOf(listing: LogListing, version: number, limits: InputLimits): Promise<CommitInfo | undefined> {
  const file = listing.commits.get(version);
  if (!file) return undefined;
  const found = (await readJsonActions(file, limits)).find(({ action }) => action.kind === 'commitInfo')?.action;
  return found?.kind === 'commitInfo' ? found.commitInfo : undefined;
}

/** Where a new import starts: the newest checkpoint, or with history the oldest point the log can rebuild. */
export function chooseBase(listing: LogListing, history: boolean): LogSegment {
  if (!history) return buildSegment(listing, listing.latestVersion);
  const oldest = oldestReconstructableVersion(listing);
  if (oldest === 0 && listing.commits.has(0)) return buildSegment(listing, listing.latestVersion, { startAfter: -1 });
  // The oldest checkpoint from which every later commit is still there.
  for (const checkpoint of [...listing.checkpoints].reverse()) {
    try {
      const tail = buildSegment(listing, listing.latestVersion, { startAfter: checkpoint.version });
      return { version: tail.version, checkpoint, steps: tail.steps };
    } catch (error) {
      if (!(error instanceof LogFormatError)) throw error;
    }
  }
  return buildSegment(listing, listing.latestVersion);
}
