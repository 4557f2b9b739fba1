/**
 * File-based log replay: the baseline every other path is measured against,
 * and the reference it must agree with. Reads the files of a log segment
 * (segment.ts: newest usable checkpoint, then commits or compaction files up
 * to the version, without gaps) in order and applies their actions to a
 * TableState (table-state.ts), which reconciles them by logical file key.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LogFormatError } from '../errors/index.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import { listLog, type CheckpointFiles, type LogListing } from './listing.ts';
import { checkLogFile, readLogText, sidecarFile } from './log-files.ts';
import { readParquetActions } from './parquet-read.ts';
import { parseActionLines } from './parse.ts';
import { buildSegment, type LogSegment } from './segment.ts';
import { checkFirstVersion, checkOneVersion, TableState, type LocatedAction } from './table-state.ts';
import { versionAtTimestamp, versionTimestamps } from './version-timestamps.ts';

/**
 * Every action of a checkpoint: its parts in order; a V2 checkpoint's
 * sidecars after its top-level file. Each file is checked (checkLogFile)
 * before it is opened: inside the log folder, regular, within the limits.
 */
export async function* readCheckpoint(listing: LogListing, checkpoint: CheckpointFiles, limits: InputLimits = defaultInputLimits): AsyncGenerator<LocatedAction> {
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
}

/** The snapshot of a `_delta_log` at a version (latest by default) or timestamp. */
export async function replay(tableDir: string, options: ReplayOptions = {}): Promise<TableState> {
  const listing = await listLog(tableDir);
  let version = options.version ?? listing.latestVersion;
  if (options.timestampMs !== undefined) {
    version = versionAtTimestamp(await versionTimestamps(listing), options.timestampMs, tableDir);
  }
  return applySegment(listing, buildSegment(listing, version));
}
