/**
 * Time travel by timestamp, as Spark's DeltaHistoryManager.getActiveCommitAtTime
 * does it (PROTOCOL.md "In-Commit Timestamps"): the rule (versionAtTimestamp,
 * over any VersionTimeSource: the files here, PostgreSQL in log-store) and
 * the files' version timeline (versionTimestamps).
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError, LogFormatError, NotFoundError } from '../errors/index.ts';
import type { ProtocolAction } from './actions.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import { checkLogFile } from './log-files.ts';
import { fileModificationTimeMs, type LogListing } from './listing.ts';
import { latestTableActions, type KnownMetadata } from './latest-metadata.ts';
import { supportedFeatures } from './table-features.ts';
import { oldestReconstructableVersion } from './segment.ts';

/** How a version's time is known: its commit file's modification time, or its commitInfo.inCommitTimestamp. */
export type TimedBy = 'file' | 'inCommitTimestamp';

export interface TimedVersion {
  readonly version: number;
  readonly timestampMs: number;
}

/** What time travel needs to know about a table's versions (from its files, or from PostgreSQL). */
export interface VersionTimeSource {
  /** names the table in errors */
  readonly where: string;
  /** the oldest version whose snapshot can be rebuilt */
  readonly earliestVersion: number;
  readonly latestVersion: number;
  /** the configuration of the latest metaData: it decides which versions carry in-commit timestamps */
  readonly configuration: Readonly<Record<string, unknown>> | undefined;
  /** the latest protocol: in-commit timestamps count only where it supports them */
  readonly protocol: ProtocolAction | undefined;
  /** the newest version in [from, to] timed at or before `timestampMs`; every version in the range is timed by `timedBy` */
  newestAtOrBefore(from: number, to: number, timestampMs: number, timedBy: TimedBy): Promise<TimedVersion | undefined>;
  /** the oldest timed version in [from, to] */
  oldest(from: number, to: number, timedBy: TimedBy): Promise<TimedVersion | undefined>;
}

/** Where in-commit timestamps start; undefined when the table does not enable them. */
export interface InCommitTimestampStart {
  /** the first version with an in-commit timestamp (undefined: every version, the table was created with them) */
  readonly version: number | undefined;
  /** that version's in-commit timestamp */
  readonly timestampMs: number | undefined;
}

const enabledKey = 'delta.enableInCommitTimestamps';
const enablementVersionKey = 'delta.inCommitTimestampEnablementVersion';
const enablementTimestampKey = 'delta.inCommitTimestampEnablementTimestamp';

/**
 * Spark's InCommitTimestampUtils.getValidatedICTEnablementInfo: with the
 * feature on, the enablement version and timestamp are both present (ICT from
 * that version) or both absent (ICT from the table's creation). "On" needs
 * both the property and the protocol's inCommitTimestamp writer feature
 * (PROTOCOL.md: a feature is active only where supported): delta-rs 1.6 sets
 * the property alone and writes no in-commit timestamps, and its versions
 * are timed by their files, as delta-rs and Spark time them.
 */
export function inCommitTimestampStart(
  configuration: Readonly<Record<string, unknown>> | undefined, protocol: ProtocolAction | undefined, where: string,
): InCommitTimestampStart | undefined {
  const enabled = configuration?.[enabledKey];
  if (typeof enabled !== 'string' || enabled.toLowerCase() !== 'true') return undefined;
  if (!protocol || !supportedFeatures(protocol).has('inCommitTimestamp')) return undefined;
  const version = configuration?.[enablementVersionKey];
  const timestamp = configuration?.[enablementTimestampKey];
  if ((version === undefined || version === null) && (timestamp === undefined || timestamp === null)) return { version: undefined, timestampMs: undefined };
  const parsedVersion = typeof version === 'string' && /^\d{1,15}$/.test(version) ? Number(version) : undefined;
  const parsedTimestamp = typeof timestamp === 'string' && /^-?\d{1,16}$/.test(timestamp) ? Number(timestamp) : undefined;
  if (parsedVersion === undefined || parsedTimestamp === undefined) {
    throw new LogFormatError(where, undefined, `metaData.configuration: ${enablementVersionKey} (${JSON.stringify(version ?? null)}) and ${enablementTimestampKey} (${JSON.stringify(timestamp ?? null)}) must both be integers or both be absent when ${enabledKey} is true`);
  }
  return { version: parsedVersion, timestampMs: parsedTimestamp };
}

function iso(timestampMs: number): string {
  return new Date(timestampMs).toISOString();
}

/**
 * The version active at `timestampMs`: the newest at or before it. As Spark:
 * with in-commit timestamps enabled at version E (timestamp T_E), a time at or
 * after T_E searches versions from E by their in-commit timestamps, an earlier
 * time the versions before E by their (monotonized) file times. A time before
 * the first version of that range, or after the latest version's time, is an
 * error (Spark's DELTA_TIMESTAMP_EARLIER_THAN_COMMIT_RETENTION and
 * DELTA_TIMESTAMP_GREATER_THAN_COMMIT): NotFoundError.
 */
export async function versionAtTimestamp(source: VersionTimeSource, timestampMs: number): Promise<number> {
  const { where, earliestVersion, latestVersion } = source;
  const start = inCommitTimestampStart(source.configuration, source.protocol, where);
  let from = earliestVersion;
  let to = latestVersion;
  let timedBy: TimedBy = 'file';
  if (start) {
    const ictForWholeWindow = start.version === undefined || start.version <= earliestVersion;
    if (ictForWholeWindow || timestampMs >= (start.timestampMs as number)) {
      from = Math.max(earliestVersion, start.version ?? earliestVersion);
      timedBy = 'inCommitTimestamp';
    } else {
      to = start.version - 1;
    }
  }
  const found = await source.newestAtOrBefore(from, to, timestampMs, timedBy);
  if (!found) {
    const first = await source.oldest(from, to, timedBy);
    const detail = first ? ` (version ${first.version}, ${iso(first.timestampMs)}); use a timestamp at or after ${iso(first.timestampMs)}` : '';
    throw new NotFoundError(`${where}: the timestamp ${iso(timestampMs)} is before the earliest version available${detail}`);
  }
  if (found.version === latestVersion && found.timestampMs < timestampMs) {
    throw new NotFoundError(
      `${where}: the timestamp ${iso(timestampMs)} is after the latest version available (version ${found.version}, ${iso(found.timestampMs)}); use a timestamp at or before ${iso(found.timestampMs)}`,
    );
  }
  return found.version;
}

/** A `_delta_log`'s versions with their times, as a VersionTimeSource. */
export interface FileTimeline extends VersionTimeSource {
  /** version → time for every version that has one (a checkpoint-only version where in-commit timestamps apply has none) */
  readonly timestamps: ReadonlyMap<number, number>;
  /** how each version in `timestamps` is timed: in-commit timestamps from this version on (undefined: none) */
  readonly inCommitTimestampsFrom: number | undefined;
}

/**
 * Each retained version's time, as Spark reads them. Versions before the
 * in-commit-timestamp enablement version (all versions when the feature is
 * off): the commit file's modification time (a checkpoint-only version: its
 * checkpoint file's), made strictly increasing (a time not after its
 * predecessor's becomes predecessor + 1 ms). From the enablement version on:
 * commitInfo.inCommitTimestamp exactly, never a file time and never
 * adjusted; a commit there without one is a log error. The latest metaData
 * decides (as Spark); `known` spares reading a checkpoint for it when the
 * caller has the metadata at a version already.
 */
export async function versionTimestamps(
  listing: LogListing,
  options: { limits?: InputLimits; known?: KnownMetadata } = {},
): Promise<FileTimeline> {
  const { metadata, protocol } = await latestTableActions(listing, options);
  const start = inCommitTimestampStart(metadata?.configuration, protocol, listing.tableDir);
  const earliestVersion = oldestReconstructableVersion(listing);
  const inCommitTimestampsFrom = start ? Math.max(start.version ?? earliestVersion, earliestVersion) : undefined;
  const versions = new Set<number>([...listing.commits.keys(), ...listing.checkpoints.map((checkpoint) => checkpoint.version)]);
  const sorted = [...versions].filter((version) => version >= earliestVersion).sort((a, b) => a - b);
  const timestamps = new Map<number, number>();
  let previousFileTime = -Infinity;
  for (const version of sorted) {
    const commit = listing.commits.get(version);
    if (inCommitTimestampsFrom !== undefined && version >= inCommitTimestampsFrom) {
      // Spark reads in-commit timestamps from commit files only; a version known only by its checkpoint has no time.
      if (!commit) continue;
      const timestamp = await inCommitTimestamp(commit);
      if (timestamp === undefined) {
        throw new LogFormatError(commit, 1, `commitInfo.inCommitTimestamp is missing: in-commit timestamps are enabled from version ${inCommitTimestampsFrom}, and the commitInfo must come first and carry one`);
      }
      timestamps.set(version, timestamp);
      continue;
    }
    const checkpoint = listing.checkpoints.find((candidate) => candidate.version === version);
    let timestamp = await fileModificationTimeMs(commit ?? (checkpoint?.files[0] as string));
    if (timestamp <= previousFileTime) timestamp = previousFileTime + 1;
    timestamps.set(version, timestamp);
    previousFileTime = timestamp;
  }
  const inRange = (version: number, from: number, to: number, timedBy: TimedBy): boolean =>
    version >= from && version <= to && (inCommitTimestampsFrom !== undefined && version >= inCommitTimestampsFrom ? 'inCommitTimestamp' : 'file') === timedBy;
  return {
    where: listing.tableDir,
    earliestVersion,
    latestVersion: listing.latestVersion,
    configuration: metadata?.configuration,
    protocol,
    timestamps,
    inCommitTimestampsFrom,
    newestAtOrBefore(from, to, timestampMs, timedBy) {
      let found: TimedVersion | undefined;
      for (const [version, timestamp] of timestamps) {
        if (inRange(version, from, to, timedBy) && timestamp <= timestampMs && (!found || version > found.version)) found = { version, timestampMs: timestamp };
      }
      return Promise.resolve(found);
    },
    oldest(from, to, timedBy) {
      let found: TimedVersion | undefined;
      for (const [version, timestamp] of timestamps) {
        if (inRange(version, from, to, timedBy) && (!found || version < found.version)) found = { version, timestampMs: timestamp };
      }
      return Promise.resolve(found);
    },
  };
}

/** The in-commit timestamp of a commit file: its first line's commitInfo (the spec puts it first). */
async function inCommitTimestamp(file: string): Promise<number | undefined> {
  // Only the first 64 kB are read, but a FIFO or a symlink out of the log must not be opened at all.
  await checkLogFile(path.dirname(file), file, Number.MAX_SAFE_INTEGER);
  const handle = await open(file, 'r');
  let value: unknown;
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const firstLine = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    if (!firstLine.startsWith('{"commitInfo"')) return undefined;
    const parsed = JSON.parse(firstLine) as { commitInfo?: { inCommitTimestamp?: unknown } };
    value = parsed.commitInfo?.inCommitTimestamp;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
  if (value === undefined || value === null) return undefined;
  // This file may never be parsed in full (an import that starts at the checkpoint of its version), yet its
  // timestamp becomes a stored version's: the same range as the validator's, or Date and timestamptz fail later.
  const { minTimestampMs, maxTimestampMs } = defaultInputLimits;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minTimestampMs || value > maxTimestampMs) {
    throw new LogFormatError(file, 1, `commitInfo.inCommitTimestamp: must be an integer from ${minTimestampMs} to ${maxTimestampMs} (got ${JSON.stringify(value)})`);
  }
  return value;
}

export function parseTimestamp(value: string): number {
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new BadRequestError(`not an ISO 8601 timestamp: ${JSON.stringify(value)}`);
  return parsed;
}

/**
 * The seconds to hand utimes for a modification time of `timestampMs`: the
 * milliseconds as seconds are rarely exact in binary floating point
 * (1709251202.001 is stored as …202.000999), and a file time one nanosecond
 * short reads back (floor of mtimeMs, as here and in delta-rs) a millisecond
 * early. Half a microsecond more lands inside the intended millisecond.
 */
export function fileTimeSeconds(timestampMs: number): number {
  return (timestampMs + 0.0005) / 1000;
}
