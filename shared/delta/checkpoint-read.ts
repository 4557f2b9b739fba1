/**
 * Reading a checkpoint's actions, and what happens when it cannot be read.
 * A damaged checkpoint (truncated, not Parquet, a part or sidecar missing)
 * is skipped as Spark skips it (SnapshotManagement falls back on a corrupt
 * checkpoint): the caller drops it from the listing (withoutCheckpoint) and
 * rebuilds from an older checkpoint or the commits, reporting the fallback.
 * A checkpoint refused as hostile (over an input limit, a path out of the
 * log) stays an error: skipping it would let a crafted file choose the base.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputRefusedError, LogFormatError } from '../errors/index.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import type { CheckpointFiles, LogListing } from './listing.ts';
import { checkLogFile, readLogText, sidecarFile } from './log-files.ts';
import { readParquetActions } from './parquet-read.ts';
import { parseActionLines } from './parse.ts';
import type { LocatedAction } from './table-state.ts';

/** Something a reader worked around and reports: the file and why. */
export interface LogWarning {
  readonly file: string;
  readonly message: string;
}

export type OnLogWarning = (warning: LogWarning) => void;

/** Where warnings go when the caller names no place: stderr, beside every other diagnostic of the CLI. */
export const warnOnStderr: OnLogWarning = ({ file, message }) => {
  process.stderr.write(`deltameta: warning: ${file}: ${message}\n`);
};

/** A checkpoint that could not be read; `checkpoint` is the one to leave out. */
export class CheckpointUnreadableError extends LogFormatError {
  readonly checkpoint: CheckpointFiles;
  readonly reason: string;
  constructor(checkpoint: CheckpointFiles, damage: LogFormatError) {
    const reason = reasonOf(damage);
    super(damage.file, damage.line, reason, { cause: damage });
    this.checkpoint = checkpoint;
    this.reason = reason;
  }
}

function reasonOf(error: LogFormatError): string {
  const prefix = `${error.file}${error.line !== undefined ? `:${error.line}` : ''}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}


/**
 * Every action of a checkpoint: its parts in order; a V2 checkpoint's
 * sidecars after its top-level file. Each file is checked (checkLogFile)
 * before it is opened: inside the log folder, regular, within the limits.
 * Damage is thrown as CheckpointUnreadableError.
 */
export async function* readCheckpoint(listing: LogListing, checkpoint: CheckpointFiles, limits: InputLimits = defaultInputLimits): AsyncGenerator<LocatedAction> {
  try {
    yield* readCheckpointFiles(listing, checkpoint, limits);
  } catch (error) {
    // Refusals of hostile input (InputRefusedError: a limit, a path out of the log, a gzip bomb) stay errors; the rest is damage.
    if (error instanceof LogFormatError && !(error instanceof CheckpointUnreadableError) && !(error instanceof InputRefusedError)) {
      throw new CheckpointUnreadableError(checkpoint, error);
    }
    throw error;
  }
}

async function* readCheckpointFiles(listing: LogListing, checkpoint: CheckpointFiles, limits: InputLimits): AsyncGenerator<LocatedAction> {
  for (const file of checkpoint.files) {
    const sidecars: string[] = [];
    if (file.endsWith('.json')) {
      for (const { action, line } of parseActionLines(await readLogText(listing.logDir, file, limits.maxJsonFileBytes), file, limits)) {
        if (action.kind === 'sidecar') sidecars.push(sidecarFile(listing.logDir, sidecarPath(action.sidecar, file), file));
        else yield { action, file, line };
      }
    } else {
      await checkLogFile(listing.logDir, file, Number.MAX_SAFE_INTEGER);
      for await (const action of readParquetActions(file, limits)) {
        if (action.kind === 'sidecar') sidecars.push(sidecarFile(listing.logDir, sidecarPath(action.sidecar, file), file));
        else yield { action, file, line: undefined };
      }
    }
    for (const sidecar of sidecars) {
      if (!existsSync(sidecar)) throw new LogFormatError(sidecar, undefined, `sidecar named by ${path.basename(file)} is missing`);
      await checkLogFile(listing.logDir, sidecar, Number.MAX_SAFE_INTEGER);
      for await (const action of readParquetActions(sidecar, limits)) yield { action, file: sidecar, line: undefined };
    }
  }
}

function sidecarPath(sidecar: Record<string, unknown>, file: string): string {
  const value = sidecar['path'];
  if (typeof value !== 'string' || value === '') throw new LogFormatError(file, undefined, 'sidecar.path must be a non-empty string');
  return value;
}

/** A commit or compaction file's actions; the file must lie in its folder (the `_delta_log`) and be within the limits. */
export async function readJsonActions(file: string, limits: InputLimits = defaultInputLimits): Promise<LocatedAction[]> {
  const text = await readLogText(path.dirname(file), file, limits.maxJsonFileBytes);
  return parseActionLines(text, file, limits).map(({ action, line }) => ({ action, file, line }));
}

/** The listing without a checkpoint found unreadable, which joins the unusable ones (newest first). */
export function withoutCheckpoint(listing: LogListing, unreadable: CheckpointUnreadableError): LogListing {
  const { checkpoint } = unreadable;
  return {
    ...listing,
    checkpoints: listing.checkpoints.filter((candidate) => candidate !== checkpoint),
    unusableCheckpoints: [...listing.unusableCheckpoints, { version: checkpoint.version, file: unreadable.file, reason: unreadable.reason }]
      .sort((a, b) => b.version - a.version),
  };
}

/**
 * Reports each unusable checkpoint a rebuild of `version` went past: newer
 * than the base it used (`baseVersion`: a checkpoint's version, -1 for the
 * commits from version 0), at or below the version.
 */
export function reportFallback(listing: LogListing, version: number, baseVersion: number, onWarning: OnLogWarning): void {
  const base = baseVersion >= 0 ? `the checkpoint at version ${baseVersion}` : 'the commits from version 0';
  for (const skipped of listing.unusableCheckpoints) {
    if (skipped.version > baseVersion && skipped.version <= version) {
      onWarning({ file: skipped.file, message: `checkpoint ${skipped.version} not used (${skipped.reason}); read ${base} instead` });
    }
  }
}
