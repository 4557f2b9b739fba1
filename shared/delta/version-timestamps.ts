/**
 * Time travel by timestamp over a `_delta_log`: each version's timestamp
 * and the version at a point in time.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError, LogFormatError, NotFoundError } from '../errors/index.ts';
import { defaultInputLimits } from './input-limits.ts';
import { checkLogFile } from './log-files.ts';
import { fileModificationTimeMs, type LogListing } from './listing.ts';

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
  if (typeof value !== 'number') return undefined;
  // This file may never be parsed in full (an import that starts at the checkpoint of its version), yet its
  // timestamp becomes a stored version's: the same range as the validator's, or Date and timestamptz fail later.
  const { minTimestampMs, maxTimestampMs } = defaultInputLimits;
  if (!Number.isInteger(value) || value < minTimestampMs || value > maxTimestampMs) {
    throw new LogFormatError(file, 1, `commitInfo.inCommitTimestamp: must be an integer from ${minTimestampMs} to ${maxTimestampMs} (got ${value})`);
  }
  return value;
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
