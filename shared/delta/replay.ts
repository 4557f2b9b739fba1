/**
 * File-based log replay: the baseline every other path is measured against,
 * and the reference it must agree with. Picks the log segment for a version
 * (newest usable checkpoint, then commits or compaction files up to the
 * version, without gaps) and reconciles actions by logical file key: the
 * newest action on (path, deletion vector id) wins, a path added, removed
 * and added again is live.
 */
import { existsSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError, LogFormatError, NotFoundError, VersionGoneError } from '../errors/index.ts';
import {
  addLine, fileKey, type Action, type AddAction, type DomainMetadataAction, type MetadataAction, type ProtocolAction,
  type RemoveAction, type TxnAction,
} from './actions.ts';
import { commitFileName, fileModificationTimeMs, listLog, type CheckpointFiles, type LogListing } from './listing.ts';
import { compareCodePoints } from './order.ts';
import { readParquetActions } from './parquet-read.ts';
import { parseActionLines } from './parse.ts';

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

export interface LocatedAction {
  readonly action: Action;
  readonly file: string;
  readonly line: number | undefined;
}

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

/** The reconciled state of a table at one version. */
export class TableState {
  version = -1;
  protocol: ProtocolAction | undefined;
  metadata: MetadataAction | undefined;
  readonly txns = new Map<string, TxnAction>();
  readonly domains = new Map<string, DomainMetadataAction>();
  readonly files = new Map<string, AddAction>();
  readonly tombstones = new Map<string, RemoveAction>();

  /**
   * Checkpoint rows come in no particular order (delta-rs writes adds before
   * the metaData row), so inside a checkpoint partition values are checked
   * once it has been read: each distinct set of partition columns once.
   */
  private deferredPartitionChecks: Map<string, { partitionValues: Record<string, string | null>; file: string; line: number | undefined }> | undefined;

  /** With trackFiles false only metadata, protocol, txns and domains are kept (validation during imports). */
  constructor(private readonly trackFiles = true) {}

  beginCheckpoint(): void {
    this.deferredPartitionChecks = new Map();
  }

  endCheckpoint(): void {
    const deferred = this.deferredPartitionChecks;
    this.deferredPartitionChecks = undefined;
    for (const { partitionValues, file, line } of deferred?.values() ?? []) checkPartitionValues(partitionValues, this.metadata, file, line);
  }

  /** Applies one action in log order; checks what the log must not contradict. */
  apply({ action, file, line }: LocatedAction): void {
    switch (action.kind) {
      case 'add': {
        if (this.deferredPartitionChecks) {
          const signature = Object.keys(action.add.partitionValues).join('\u0000');
          if (!this.deferredPartitionChecks.has(signature)) this.deferredPartitionChecks.set(signature, { partitionValues: action.add.partitionValues, file, line });
        } else {
          checkPartitionValues(action.add.partitionValues, this.metadata, file, line);
        }
        if (!this.trackFiles) break;
        const key = fileKey(action.add);
        this.files.set(key, action.add);
        this.tombstones.delete(key);
        break;
      }
      case 'remove': {
        if (!this.trackFiles) break;
        const key = fileKey(action.remove);
        this.files.delete(key);
        this.tombstones.set(key, action.remove);
        break;
      }
      case 'metaData':
        checkMetadata(action.metaData, file, line);
        this.metadata = action.metaData;
        break;
      case 'protocol':
        this.protocol = action.protocol;
        break;
      case 'txn':
        this.txns.set(action.txn.appId, action.txn);
        break;
      case 'domainMetadata':
        if (action.domainMetadata.removed) this.domains.delete(action.domainMetadata.domain);
        else this.domains.set(action.domainMetadata.domain, action.domainMetadata);
        break;
      default:
        // commitInfo, cdc, checkpointMetadata and unknown actions do not change the snapshot.
        break;
    }
  }

  /** The live add actions as NDJSON lines, sorted by path (then deletion vector id). */
  liveLines(): string[] {
    return [...this.files.keys()].sort(compareCodePoints).map((key) => addLine(this.files.get(key) as AddAction));
  }
}

export function checkPartitionValues(
  partitionValues: Record<string, string | null>,
  metadata: MetadataAction | undefined,
  file: string,
  line: number | undefined,
): void {
  if (!metadata) throw new LogFormatError(file, line, 'an add action before the table has metadata');
  const expected = metadata.partitionColumns;
  const got = Object.keys(partitionValues);
  const ok = got.length === expected.length && expected.every((column) => Object.hasOwn(partitionValues, column));
  if (!ok) {
    throw new LogFormatError(
      file, line,
      `add.partitionValues has columns [${got.join(', ')}] but the table is partitioned by [${expected.join(', ')}]`,
    );
  }
}

function checkMetadata(metadata: MetadataAction, file: string, line: number | undefined): void {
  let schema: unknown;
  try {
    schema = JSON.parse(metadata.schemaString);
  } catch {
    throw new LogFormatError(file, line, 'metaData.schemaString is not valid JSON');
  }
  const fields = (schema as { fields?: { name?: unknown }[] }).fields;
  if (!Array.isArray(fields)) throw new LogFormatError(file, line, 'metaData.schemaString has no fields');
  const names = new Set(fields.map((field) => field.name));
  for (const column of metadata.partitionColumns) {
    if (!names.has(column)) throw new LogFormatError(file, line, `metaData.partitionColumns names "${column}", which is not in the schema`);
  }
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

/** PROTOCOL.md: at most one metaData, one protocol and one file action per (path, dv id) and type in a version. */
export function checkOneVersion(actions: readonly LocatedAction[], file: string): void {
  const seen = new Set<string>();
  let metadata = 0;
  let protocol = 0;
  for (const { action, line } of actions) {
    if (action.kind === 'metaData' && ++metadata > 1) throw new LogFormatError(file, line, 'a second metaData action in one version');
    if (action.kind === 'protocol' && ++protocol > 1) throw new LogFormatError(file, line, 'a second protocol action in one version');
    if (action.kind === 'add' || action.kind === 'remove') {
      const key = `${action.kind}:${fileKey(action.kind === 'add' ? action.add : action.remove)}`;
      if (seen.has(key)) throw new LogFormatError(file, line, `a second ${action.kind} of ${JSON.stringify(action.kind === 'add' ? action.add.path : action.remove.path)} in one version`);
      seen.add(key);
    }
  }
}

export function checkFirstVersion(actions: readonly LocatedAction[], file: string): void {
  const kinds = new Set(actions.map((located) => located.action.kind));
  if (!kinds.has('protocol') || !kinds.has('metaData')) {
    throw new LogFormatError(file, undefined, 'version 0 must contain a protocol and a metaData action');
  }
}

/**
 * Timestamps of versions for time travel: the in-commit timestamp when the
 * commit carries one (its commitInfo comes first when the feature is on),
 * else the commit file's modification time; a checkpoint-only version uses
 * the checkpoint file's. Made strictly increasing as Delta readers do: a
 * timestamp not after its predecessor's becomes predecessor + 1 ms.
 */
export async function versionTimestamps(listing: LogListing): Promise<Map<number, number>> {
  const versions = new Set<number>([...listing.commits.keys(), ...listing.checkpoints.map((checkpoint) => checkpoint.version)]);
  const sorted = [...versions].sort((a, b) => a - b);
  const timestamps = new Map<number, number>();
  let previous = -Infinity;
  for (const version of sorted) {
    const commit = listing.commits.get(version);
    let timestamp: number;
    if (commit) {
      timestamp = (await inCommitTimestamp(commit)) ?? (await fileModificationTimeMs(commit));
    } else {
      const checkpoint = listing.checkpoints.find((candidate) => candidate.version === version);
      timestamp = await fileModificationTimeMs(checkpoint?.files[0] as string);
    }
    if (timestamp <= previous) timestamp = previous + 1;
    timestamps.set(version, timestamp);
    previous = timestamp;
  }
  return timestamps;
}

async function inCommitTimestamp(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const firstLine = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    if (!firstLine.startsWith('{"commitInfo"')) return undefined;
    const parsed = JSON.parse(firstLine) as { commitInfo?: { inCommitTimestamp?: unknown } };
    const value = parsed.commitInfo?.inCommitTimestamp;
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** The newest version whose timestamp is at or before `timestampMs`. */
export function versionAtTimestamp(timestamps: ReadonlyMap<number, number>, timestampMs: number, where: string): number {
  let found: number | undefined;
  for (const [version, timestamp] of timestamps) {
    if (timestamp <= timestampMs && (found === undefined || version > found)) found = version;
  }
  if (found === undefined) {
    throw new NotFoundError(`${where}: no version at or before ${new Date(timestampMs).toISOString()}`);
  }
  return found;
}

export function parseTimestamp(value: string): number {
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new BadRequestError(`not an ISO 8601 timestamp: ${JSON.stringify(value)}`);
  return parsed;
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
