/**
 * A snapshot reduced to what two derivations of it must agree on: counts,
 * metaData, protocol and a SHA-256 of the live add lines in list order (each
 * followed by "\n": the NDJSON list's bytes). The reader's shadow checks
 * (issue 13) compare the one re-derived from a table's `_delta_log` files
 * with the one deltameta serves; the replay runs on a worker thread, one per
 * check, so a large log never stalls the caller's event loop.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { InternalError } from '../errors/index.ts';
import { replay } from './replay.ts';

export interface SnapshotDigest {
  readonly version: number;
  readonly numFiles: number;
  readonly sizeBytes: number;
  readonly numRecords: number;
  /** JSON of the metaData and protocol actions in effect (null: none) */
  readonly metadata: string | null;
  readonly protocol: string | null;
  /** SHA-256 (hex) of the live add lines, each ending in "\n", in list order */
  readonly linesSha256: string;
}

/** numRecords of an add's stats when it has a number there; stats that do not parse count nothing. */
export function recordsInStats(stats: string | null | undefined): number {
  if (typeof stats !== 'string') return 0;
  try {
    const parsed = JSON.parse(stats) as { numRecords?: unknown };
    return typeof parsed.numRecords === 'number' ? parsed.numRecords : 0;
  } catch {
    return 0;
  }
}

/** Accumulates a digest from add lines in list order. */
export class DigestBuilder {
  private readonly hash = createHash('sha256');
  private files = 0;
  private bytes = 0;
  private records = 0;

  addLine(line: string): void {
    this.hash.update(line).update('\n');
    const { add } = JSON.parse(line) as { add: { size?: number; stats?: string | null } };
    this.files += 1;
    this.bytes += add.size ?? 0;
    this.records += recordsInStats(add.stats);
  }

  finish(version: number, metadata: unknown, protocol: unknown): SnapshotDigest {
    return {
      version, numFiles: this.files, sizeBytes: this.bytes, numRecords: this.records,
      metadata: metadata == null ? null : JSON.stringify(metadata), protocol: protocol == null ? null : JSON.stringify(protocol),
      linesSha256: this.hash.digest('hex'),
    };
  }
}

/** The digest of `tableDir`'s `_delta_log` at `version`, replayed on this thread. */
export async function replayDigest(tableDir: string, version: number): Promise<SnapshotDigest> {
  const state = await replay(tableDir, { version, onWarning: () => undefined });
  const digest = new DigestBuilder();
  for (const line of state.liveLines()) digest.addLine(line);
  return digest.finish(version, state.metadata, state.protocol);
}

const entry = new URL('./worker-entry.mjs', import.meta.url);
const workerModule = new URL('./replay-digest-worker.ts', import.meta.url).href;

/** replayDigest on a worker thread of its own (started and ended by the call). */
export function replayDigestInWorker(tableDir: string, version: number): Promise<SnapshotDigest> {
  return new Promise<SnapshotDigest>((resolve, reject) => {
    const worker = new Worker(entry, { workerData: { module: workerModule, tableDir, version } });
    let settled = false;
    worker.once('message', (message: { digest: SnapshotDigest } | { error: string }) => {
      settled = true;
      if ('digest' in message) resolve(message.digest);
      else reject(new Error(message.error));
      void worker.terminate();
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new InternalError(`the replay worker exited (code ${code}) without an answer`));
    });
  });
}
