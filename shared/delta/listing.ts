/**
 * What a `_delta_log` folder holds, by file name (PROTOCOL.md "Delta Log
 * Entries"): commits, classic / multi-part / V2 checkpoints, log compaction
 * files and `_last_checkpoint`. CRC files and anything else are ignored.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LogFormatError } from '../errors/index.ts';
import { defaultInputLimits, type InputLimits } from './input-limits.ts';
import { checkLogFile } from './log-files.ts';

export interface CheckpointFiles {
  readonly version: number;
  readonly kind: 'classic' | 'multipart' | 'v2';
  /** Parquet or JSON files, in part order. */
  readonly files: readonly string[];
}

export interface CompactionFile {
  readonly start: number;
  readonly end: number;
  readonly file: string;
}

/** A checkpoint a reader must not use (PROTOCOL.md: an incomplete multi-part checkpoint), or found unreadable. */
export interface UnusableCheckpoint {
  readonly version: number;
  /** the file that is missing or damaged */
  readonly file: string;
  readonly reason: string;
}

export interface LastCheckpointHint {
  readonly version: number;
  readonly parts?: number;
}

export interface LogListing {
  readonly tableDir: string;
  readonly logDir: string;
  /** version → commit file path */
  readonly commits: ReadonlyMap<number, string>;
  /** complete checkpoints, newest first */
  readonly checkpoints: readonly CheckpointFiles[];
  /** checkpoints left out (incomplete, or unreadable once read), newest first: readers fall back past them and say so */
  readonly unusableCheckpoints: readonly UnusableCheckpoint[];
  readonly compactions: readonly CompactionFile[];
  readonly lastCheckpoint: LastCheckpointHint | undefined;
  /** newest version with a commit file (or a checkpoint when there is no later commit) */
  readonly latestVersion: number;
}

const commitPattern = /^(\d{20})\.json$/;
const classicPattern = /^(\d{20})\.checkpoint\.parquet$/;
const multipartPattern = /^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$/;
const v2Pattern = /^(\d{20})\.checkpoint\.([0-9a-fA-F-]{36})\.(json|parquet)$/;
const compactionPattern = /^(\d{20})\.(\d{20})\.compacted\.json$/;

export function commitFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.json`;
}

export async function listLog(tableDir: string, limits: InputLimits = defaultInputLimits): Promise<LogListing> {
  const logDir = path.join(tableDir, '_delta_log');
  if (!existsSync(logDir)) throw new LogFormatError(logDir, undefined, 'no _delta_log folder: not a Delta table');
  const names = await readdir(logDir);
  const commits = new Map<number, string>();
  const classic = new Map<number, string>();
  const multipart = new Map<number, Map<number, { part: number; total: number; file: string }[]>>();
  const v2 = new Map<number, string[]>();
  const compactions: CompactionFile[] = [];

  for (const name of names) {
    const file = path.join(logDir, name);
    let match: RegExpExecArray | null;
    if ((match = commitPattern.exec(name))) commits.set(Number(match[1]), file);
    else if ((match = classicPattern.exec(name))) classic.set(Number(match[1]), file);
    else if ((match = multipartPattern.exec(name))) {
      const version = Number(match[1]);
      const part = Number(match[2]);
      const total = Number(match[3]);
      // The name is all a reader has before opening parts: an absurd total
      // (0000000001.9999999999) must not size anything, nor a part lie outside it.
      if (total > limits.maxCheckpointParts) {
        throw new LogFormatError(file, undefined, `multi-part checkpoint declares ${total} parts, over the limit of ${limits.maxCheckpointParts}`);
      }
      if (part < 1 || part > total) throw new LogFormatError(file, undefined, `multi-part checkpoint part ${part} is not within 1..${total}`);
      const byTotal = multipart.get(version) ?? new Map<number, { part: number; total: number; file: string }[]>();
      multipart.set(version, byTotal);
      byTotal.set(total, [...(byTotal.get(total) ?? []), { part, total, file }]);
    } else if ((match = v2Pattern.exec(name))) {
      const version = Number(match[1]);
      v2.set(version, [...(v2.get(version) ?? []), file]);
    } else if ((match = compactionPattern.exec(name))) {
      compactions.push({ start: Number(match[1]), end: Number(match[2]), file });
    }
  }

  const lastCheckpoint = await readLastCheckpoint(logDir);
  const checkpoints: CheckpointFiles[] = [];
  for (const [version, file] of classic) checkpoints.push({ version, kind: 'classic', files: [file] });
  for (const [version, files] of v2) {
    // Several V2 checkpoints of one version are equivalent; take one deterministically.
    checkpoints.push({ version, kind: 'v2', files: [files.sort()[0] as string] });
  }
  const unusableCheckpoints: UnusableCheckpoint[] = [];
  for (const [version, byTotal] of multipart) {
    for (const [total, parts] of byTotal) {
      const present = new Set(parts.map((part) => part.part));
      const missing = Array.from({ length: total }, (_, index) => index + 1).filter((part) => !present.has(part));
      if (missing.length > 0) {
        // A reader may not use an incomplete checkpoint (a writer died halfway, or a part was lost): Spark skips it for an
        // older complete one or the commits. It is recorded, not dropped, so the fallback is reported and, when
        // nothing older can rebuild the table, the error names the missing part.
        const missingName = `${String(version).padStart(20, '0')}.checkpoint.${String(missing[0]).padStart(10, '0')}.${String(total).padStart(10, '0')}.parquet`;
        unusableCheckpoints.push({ version, file: path.join(logDir, missingName), reason: `multi-part checkpoint ${version} is missing part ${missing[0]} of ${total}` });
        continue;
      }
      checkpoints.push({ version, kind: 'multipart', files: parts.sort((a, b) => a.part - b.part).map((part) => part.file) });
    }
  }
  checkpoints.sort((a, b) => b.version - a.version);
  // A complete checkpoint of the same version makes an incomplete one irrelevant.
  const unusable = unusableCheckpoints.filter((skipped) => !checkpoints.some((checkpoint) => checkpoint.version === skipped.version));
  unusable.sort((a, b) => b.version - a.version);
  const newestCommit = Math.max(-1, ...commits.keys());
  const newestCheckpoint = checkpoints[0]?.version ?? -1;
  const latestVersion = Math.max(newestCommit, newestCheckpoint);
  if (latestVersion < 0) throw new LogFormatError(logDir, undefined, 'no commit or checkpoint files: not a Delta table');
  return { tableDir, logDir, commits, checkpoints, unusableCheckpoints: unusable, compactions, lastCheckpoint, latestVersion };
}

async function readLastCheckpoint(logDir: string): Promise<LastCheckpointHint | undefined> {
  const file = path.join(logDir, '_last_checkpoint');
  if (!existsSync(file)) return undefined;
  try {
    // A hint, but still input: a FIFO or a huge file must not stall or swell the listing.
    await checkLogFile(logDir, file, 1 << 20);
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown; parts?: unknown };
    if (typeof parsed.version !== 'number') return undefined;
    return typeof parsed.parts === 'number' ? { version: parsed.version, parts: parsed.parts } : { version: parsed.version };
  } catch {
    // _last_checkpoint is only a hint (it may be stale, missing or half written): listing decides.
    return undefined;
  }
}

export async function fileModificationTimeMs(file: string): Promise<number> {
  return Math.floor((await stat(file)).mtimeMs);
}
