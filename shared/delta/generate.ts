/**
 * `deltameta gen`: writes a synthetic Delta table (table-generator.ts makes
 * its actions) as a real `_delta_log`, streaming so that a table of millions
 * of files is written in bounded memory: commit files with the commits'
 * modification times, and classic or multi-part Parquet checkpoints every K
 * versions.
 */
import { createWriteStream, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { BadRequestError } from '../errors/index.ts';
import type { Action } from './actions.ts';
import { commitFileName } from './listing.ts';
import { writeParquetCheckpoint } from './parquet-write.ts';
import { baseTimeMs, TableGenerator, type TableGeneratorOptions } from './table-generator.ts';
import { fileTimeSeconds } from './version-timestamps.ts';

export interface GenerateOptions extends TableGeneratorOptions {
  /** live files at the last version */
  readonly files: number;
  /** commits after the version-0 create */
  readonly commits: number;
  /** a checkpoint every this many versions (0: none). Default 10. */
  readonly checkpointInterval?: number;
  /** rows per checkpoint part; larger checkpoints become multi-part. Default 250,000. */
  readonly checkpointPartRows?: number;
  readonly onProgress?: (version: number, total: number) => void;
}

export interface GenerateResult {
  readonly versions: number;
  readonly liveFiles: number;
  readonly actions: number;
  readonly checkpoints: number[];
}

async function writeLines(file: string, actions: readonly Action[]): Promise<void> {
  const stream = createWriteStream(file, { flags: 'wx' });
  for (const action of actions) {
    const body = action.kind === 'unknown' ? action.value : (action as unknown as Record<string, unknown>)[action.kind];
    const line = `${JSON.stringify({ [action.kind === 'unknown' ? action.name : action.kind]: body })}\n`;
    if (!stream.write(line)) await once(stream, 'drain');
  }
  stream.end();
  await once(stream, 'finish');
}

export async function generateTable(dir: string, options: GenerateOptions): Promise<GenerateResult> {
  for (const [name, value] of [['files', options.files], ['commits', options.commits]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new BadRequestError(`--${name} must be a non-negative integer, got ${value}`);
  }
  if (options.commits < 1 && options.files > 0) throw new BadRequestError('--commits must be at least 1 to add files');
  for (const [name, at] of [['renameAt', options.columnMapping?.renameAt], ['dropAt', options.columnMapping?.dropAt]] as const) {
    // The last version lands the live count on --files: a schema change there would take its place.
    if (at !== undefined && (!Number.isInteger(at) || at < 1 || at >= options.commits)) {
      throw new BadRequestError(`columnMapping.${name} must be a version from 1 to ${options.commits - 1}, got ${at}`);
    }
  }
  if (options.columnMapping?.renameAt !== undefined && options.columnMapping.renameAt === options.columnMapping.dropAt) {
    throw new BadRequestError('columnMapping.renameAt and dropAt must be different versions');
  }
  const logDir = path.join(dir, '_delta_log');
  if (existsSync(logDir) && readdirSync(logDir).length > 0) throw new BadRequestError(`${logDir} already holds a log`);
  mkdirSync(logDir, { recursive: true });
  const generator = new TableGenerator(options);
  const interval = options.checkpointInterval ?? 10;
  const partRows = options.checkpointPartRows ?? 250_000;
  const checkpoints: number[] = [];
  let actionCount = 0;
  let domainVersion: number | undefined;
  for (let version = 0; version <= options.commits; version++) {
    const actions = version === 0 ? generator.create() : generator.next(version, options.commits, options.files);
    for (const action of actions) {
      if (action.kind === 'domainMetadata') domainVersion = version;
    }
    actionCount += actions.length;
    const file = path.join(logDir, commitFileName(version));
    await writeLines(file, actions);
    const seconds = fileTimeSeconds(baseTimeMs + version * 60_000);
    await utimes(file, seconds, seconds);
    if (interval > 0 && version > 0 && version % interval === 0) {
      await writeCheckpointParts(logDir, version, generator, domainVersion, partRows);
      checkpoints.push(version);
    }
    options.onProgress?.(version, options.commits);
  }
  return { versions: options.commits + 1, liveFiles: generator.liveCount, actions: actionCount, checkpoints };
}

async function writeCheckpointParts(logDir: string, version: number, generator: TableGenerator, domainVersion: number | undefined, partRows: number): Promise<void> {
  const rows = generator.liveCount + 3 + (domainVersion !== undefined ? 1 : 0);
  const prefix = String(version).padStart(20, '0');
  if (rows <= partRows) {
    await writeParquetCheckpoint(path.join(logDir, `${prefix}.checkpoint.parquet`), generator.checkpointActions(domainVersion));
    await writeFile(path.join(logDir, '_last_checkpoint'), `${JSON.stringify({ version, size: rows })}\n`);
    return;
  }
  const parts = Math.ceil(rows / partRows);
  const all = generator.checkpointActions(domainVersion);
  for (let part = 1; part <= parts; part++) {
    const name = `${prefix}.checkpoint.${String(part).padStart(10, '0')}.${String(parts).padStart(10, '0')}.parquet`;
    await writeParquetCheckpoint(path.join(logDir, name), take(all, partRows));
  }
  await writeFile(path.join(logDir, '_last_checkpoint'), `${JSON.stringify({ version, size: rows, parts })}\n`);
}

function* take<T>(source: Iterator<T>, count: number): Generator<T> {
  for (let i = 0; i < count; i++) {
    const next = source.next();
    if (next.done) return;
    yield next.value;
  }
}
