/**
 * The Delta log commands: `gen` (a synthetic table on disk), `import` and
 * `export` (between `_delta_log` and PostgreSQL), `commit` (one version),
 * `replay` and `snapshot` (the live files at a version, from the files and
 * from PostgreSQL: byte-identical, the correctness contract of docs/design.md).
 */
import { type Command, Option } from 'commander';
import { loadConfig } from '../../shared/config/index.ts';
import { generateTable, parseActionLines, replay, type Action } from '../../shared/delta/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';
import { importMaterialized, refreshArrowSegments, refreshFilePages } from '../../shared/materialized/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import {
  commit, describeImport, exportTable, isolationLevels, parseReadPredicate, snapshotLines, type CommitRequest, type IsolationLevel,
} from '../../shared/log-store/index.ts';
import {
  addVersionOptions, checkpointIntervalOption, integer, readStdin, tableOption, versionSelector, withPool, type VersionOptions,
} from './options.ts';
import { writeLines } from './output.ts';
import { withProgress } from './progress.ts';

export function registerLogCommands(program: Command): void {
  program
    .command('commit')
    .description('commit one version from Delta commit-file lines on stdin; prints the version (conflict: exit 3)')
    .addOption(tableOption())
    .option('--read-version <v>', 'the version the actions were decided on (required unless a blind append or the create)', integer('--read-version', -1))
    .addOption(new Option('--isolation-level <level>', "Serializable or WriteSerializable (default: the table's delta.isolationLevel, else WriteSerializable)"))
    .option('--read-predicate <predicate>', 'a partition predicate it read, repeatable: "country=US", "country in (US,FR)", "country is null", terms joined by "and"', collect, [])
    .option('--read-whole-table', 'it read the whole table (any concurrent change conflicts)')
    .option('--read-file <path>', 'a file it read (besides predicates), repeatable', collect, [])
    .option('--blind-append', 'it only adds files and read nothing')
    .option('--no-blind-append', 'it is not a blind append, though it only adds files')
    .action(async (options: CommitOptions) => {
      const actions = parseActionLines(await readStdin(), '<stdin>').map((located) => located.action);
      const request = commitRequest(options, actions);
      const result = await withPool((pool) => commit(pool, request));
      console.log(result.version);
      if (result.alreadyCommitted) console.error(`deltameta: already committed as version ${result.version} (same commitInfo.txnId)`);
    });

  addVersionOptions(program
    .command('replay')
    .description('file-based log replay: NDJSON of the live add actions, sorted by path')
    .argument('<dir>', 'Delta table folder (holding _delta_log)'))
    .action(async (dir: string, options: VersionOptions) => {
      const state = await replay(dir, versionSelector(options));
      await writeLines(state.liveLines());
    });

  addVersionOptions(program
    .command('snapshot')
    .description('the same NDJSON as replay, from PostgreSQL')
    .addOption(tableOption()))
    .action(async (options: VersionOptions & { table: string }) => {
      await withPool(async (pool) => {
        const snapshot = await snapshotLines(pool, options.table, versionSelector(options));
        await writeLines(snapshot.lines);
      });
    });

  program
    .command('import')
    .description("import (or incrementally sync) a Delta table's log into PostgreSQL")
    .argument('<dir>', 'Delta table folder (holding _delta_log)')
    .addOption(tableOption())
    .option('--history', 'import every retained version, not just the newest checkpoint and its tail')
    .action(async (dir: string, options: { table: string; history?: boolean }) => {
      const started = Date.now();
      await withPool(async (pool) => {
        // A new table (without --history) comes back materialized: its state is written by the import's own transaction.
        const result = await withProgress(`import ${options.table}`, (progress) =>
          importMaterialized(pool, dir, options.table, { history: options.history === true, onProgress: (p) => progress.update(p.stepsDone, p.stepsTotal) }));
        const seconds = (Date.now() - started) / 1000;
        console.log(describeImport(result, options.table, dir));
        if (result.rows > 0) console.error(`${result.rows} rows in ${seconds.toFixed(1)} s (${Math.round(result.rows / seconds)} rows/s)`);
        if (result.created && options.history !== true) await pagesAfterImport(pool, result.tableId);
      });
    });

  program
    .command('export')
    .description("write the table's log back as _delta_log (JSON commits, Parquet checkpoints, _last_checkpoint)")
    .addOption(tableOption())
    .argument('<dir>', 'target table folder (its _delta_log must be empty or absent)')
    .addOption(checkpointIntervalOption())
    .action(async (dir: string, options: { table: string; checkpointInterval: number }) => {
      const result = await withProgress(`export ${options.table}`, (progress) => withPool((pool) =>
        exportTable(pool, options.table, dir, { checkpointInterval: options.checkpointInterval, onProgress: (done, total) => progress.update(done, total) }),
      ));
      console.log(`${options.table}: wrote versions ${result.fromVersion}..${result.toVersion}, checkpoints at [${result.checkpoints.join(', ')}] into ${dir}`);
    });

  program
    .command('gen')
    .description('write a realistic synthetic Delta table (a real _delta_log), deterministic by seed')
    .argument('<dir>', 'target table folder')
    .requiredOption('--files <n>', 'live files at the last version', integer('--files'))
    .requiredOption('--commits <n>', 'commits after the create', integer('--commits', 1))
    .option('--partitions <n>', 'partitions (0: unpartitioned)', integer('--partitions'), 10)
    .addOption(checkpointIntervalOption())
    .option('--seed <n>', 'random seed', integer('--seed'), 1)
    .option('--no-deletion-vectors', 'no deletion-vector updates (protocol 1/2)')
    .action(async (dir: string, options: { files: number; commits: number; partitions: number; checkpointInterval: number; seed: number; deletionVectors: boolean }) => {
      const result = await withProgress('gen', (progress) => generateTable(dir, { ...options, onProgress: (done, total) => progress.update(done, total) }));
      console.log(`${dir}: ${result.versions} versions, ${result.liveFiles} live files, ${result.actions} actions, checkpoints at [${result.checkpoints.join(', ')}]`);
    });
}

interface CommitOptions {
  table: string;
  readVersion?: number;
  isolationLevel?: string;
  readPredicate: string[];
  readWholeTable?: boolean;
  readFile: string[];
  blindAppend?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The transaction the flags describe; each refusal names its flag (BAD_INPUT, exit 2). */
function commitRequest(options: CommitOptions, actions: Action[]): CommitRequest {
  if (options.isolationLevel !== undefined && !isolationLevels.includes(options.isolationLevel as IsolationLevel)) {
    throw new DeltametaError('BAD_INPUT', `--isolation-level must be ${isolationLevels.join(' or ')}, got ${JSON.stringify(options.isolationLevel)}`);
  }
  if (options.readWholeTable === true && options.readPredicate.length > 0) {
    throw new DeltametaError('BAD_INPUT', '--read-whole-table already reads every partition: give it or --read-predicate, not both');
  }
  const readPredicates = options.readWholeTable === true ? 'whole-table' as const : options.readPredicate.map((text) => parseReadPredicate(text, '--read-predicate'));
  return {
    table: options.table,
    actions,
    source: '<stdin>',
    readPredicates,
    readFiles: options.readFile,
    ...(options.readVersion !== undefined ? { readVersion: options.readVersion } : {}),
    ...(options.isolationLevel !== undefined ? { isolationLevel: options.isolationLevel as IsolationLevel } : {}),
    ...(options.blindAppend !== undefined ? { isBlindAppend: options.blindAppend } : {}),
  };
}

/**
 * A new table's file pages and Arrow segments right after its import, rather
 * than at the refresher's next event (a no-op without state: --history, or a
 * sync the refresher has not applied), so its first whole list is pages.
 */
export async function pagesAfterImport(pool: Pool, tableId: number): Promise<void> {
  const pagesStarted = Date.now();
  const pages = await refreshFilePages(pool, tableId);
  console.error(`file pages: ${pages.pagesWritten} pages at version ${pages.version} in ${((Date.now() - pagesStarted) / 1000).toFixed(1)} s`);
  // And the Arrow segments, so the first whole list in Arrow is a few large batches (none under the configured minimum of files).
  const segmentsStarted = Date.now();
  const segments = await refreshArrowSegments(pool, tableId, { minFiles: loadConfig().pipeline.arrowSegmentsMinFiles });
  if (segments.version !== null) console.error(`Arrow segments: ${segments.segments} at version ${segments.version} in ${((Date.now() - segmentsStarted) / 1000).toFixed(1)} s`);
}
