/**
 * File-based log replay: the baseline every other path is measured against,
 * and the reference it must agree with. Reads the files of a log segment
 * (segment.ts: newest usable checkpoint, then commits or compaction files up
 * to the version, without gaps) in order and applies their actions to a
 * TableState (table-state.ts), which reconciles them by logical file key.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LogFormatError } from '../errors/index.ts';
import { listLog, type CheckpointFiles, type LogListing } from './listing.ts';
import { readParquetActions } from './parquet-read.ts';
import { parseActionLines } from './parse.ts';
import { buildSegment, type LogSegment } from './segment.ts';
import { checkFirstVersion, checkOneVersion, TableState, type LocatedAction } from './table-state.ts';
import { versionAtTimestamp, versionTimestamps } from './version-timestamps.ts';

/** Every action of a checkpoint: its parts in order; a V2 checkpoint's sidecars after its top-level file. */
export async function* readCheckpoint(listing: LogListing, checkpoint: CheckpointFiles): AsyncGenerator<LocatedAction> {
  for (const file of checkpoint.files) {
    const sidecars: string[] = [];
    if (file.endsWith('.json')) {
      for (const { action, line } of parseActionLines(await readFile(file, 'utf8'), file)) {
        if (action.kind === 'sidecar') sidecars.push(sidecarPath(action.sidecar, file));
        else yield { action, file, line };
      }
    } else {
      for await (const action of readParquetActions(file)) {
        if (action.kind === 'sidecar') sidecars.push(sidecarPath(action.sidecar, file));
        else yield { action, file, line: undefined };
      }
    }
    for (const sidecar of sidecars) {
      const sidecarFile = path.isAbsolute(sidecar) ? sidecar : path.join(listing.logDir, '_sidecars', sidecar);
      if (!existsSync(sidecarFile)) throw new LogFormatError(sidecarFile, undefined, `sidecar named by ${path.basename(file)} is missing`);
      for await (const action of readParquetActions(sidecarFile)) yield { action, file: sidecarFile, line: undefined };
    }
  }
}

function sidecarPath(sidecar: Record<string, unknown>, file: string): string {
  const value = sidecar['path'];
  if (typeof value !== 'string' || value === '') throw new LogFormatError(file, undefined, 'sidecar.path must be a non-empty string');
  return value;
}

export async function readJsonActions(file: string): Promise<LocatedAction[]> {
  return parseActionLines(await readFile(file, 'utf8'), file).map(({ action, line }) => ({ action, file, line }));
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
