/**
 * delta-rs (the Python `deltalake` package, pinned in
 * infra/python/requirements.txt) as an independent reference for the
 * project's Delta log import, replay and export: tests ask it what a table is
 * at a version (metadata, protocol, every live add action with its stats and
 * deletion vector) and compare with their own answer, brought into the same
 * form by test/reference/comparable-state.ts. The Python side is
 * test/reference/deltars.py; it runs from a project-local virtual
 * environment, `<checkout>/.venv`, that `ensureDeltaRs` (shared/stack)
 * creates on first use.
 *
 * Paths: every file path returned here is the `path` of the Delta `add`
 * action exactly as the log holds it, i.e. relative and URL-encoded (a
 * partition value `a b` is the directory `p=a%20b` on disk and
 * `p=a%2520b` in the log). That is what delta-rs 1.6's
 * `get_add_actions()['path']` returns, verbatim: it does not even
 * re-normalise a hand-written log (`%3a` stays lower-case, a raw space stays
 * raw), and it reconciles add and remove by that exact string, so a remove
 * spelled `p=a b/x` does not cancel an add spelled `p=a%20b/x`. Its other
 * listing, `file_uris()`, returns decoded absolute paths instead, so no
 * conversion is needed as long as the script reads `get_add_actions()`.
 *
 * Deletion vectors: delta-rs 1.6 cannot write them (its DELETE rewrites the
 * file even with delta.enableDeletionVectors), and it reads a DV's file
 * whenever it lists DVs, so tables with DVs come from the project's
 * generator, with `deltaRsWriteDeletionVectorFiles` writing the files its log
 * names.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { projectRoot } from '../../shared/config/index.ts';
import { type DeletionVectorDescriptor } from '../../shared/delta/index.ts';
import { ensureDeltaRs } from '../../shared/stack/index.ts';

export { ensureDeltaRs };

const script = path.join(projectRoot, 'test', 'reference', 'deltars.py');

const execFileAsync = promisify(execFile);

/** Runs one subcommand of deltars.py (or another reference script) and returns its parsed JSON stdout. */
export async function runReference(args: readonly string[], scriptPath: string = script): Promise<unknown> {
  const python = await ensureDeltaRs();
  const name = path.basename(scriptPath);
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(python, [scriptPath, ...args], {
      cwd: projectRoot,
      encoding: 'utf8',
      // all-versions of a long table lists every file of every version.
      maxBuffer: 512 * 1024 * 1024,
      // A reference that hangs (a racing writer waiting for a partner that died) fails its test instead of the run.
      timeout: 300_000,
      killSignal: 'SIGKILL',
    }));
  } catch (error) {
    const stderr = error instanceof Error && 'stderr' in error && typeof error.stderr === 'string' ? error.stderr.trimEnd() : '';
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`delta-rs reference \`${name} ${args.join(' ')}\` failed: ${reason}\n${stderr}`, { cause: error });
  }
  try {
    return JSON.parse(stdout) as unknown;
  } catch (error) {
    throw new Error(`delta-rs reference \`${name} ${args.join(' ')}\` printed no JSON: ${stdout.slice(0, 500)}`, { cause: error });
  }
}

/** JSON values as both sides give them once made comparable (no NaN: the script refuses to print it). */
export const jsonValue: z.ZodType<ComparableJson> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);
export type ComparableJson = null | boolean | number | string | ComparableJson[] | { [key: string]: ComparableJson };

const fileSchema = z.object({
  /** the add action's path in log form (URL-encoded), verbatim */
  path: z.string(),
  /** typed by the schema's column types; timestamps as microseconds since the epoch, dates as `YYYY-MM-DD` */
  partitionValues: z.record(z.string(), jsonValue),
  size: z.number().int(),
  modificationTime: z.number().int(),
  numRecords: z.number().int().nullable(),
  /** per column, nested for structs; a column without a value is absent (null and absent are one) */
  minValues: z.record(z.string(), jsonValue),
  maxValues: z.record(z.string(), jsonValue),
  nullCount: z.record(z.string(), jsonValue),
  /** what delta-rs reads from the DV's file: the number of deleted rows and the first of them */
  deletionVector: z.object({ cardinality: z.number().int().positive(), firstDeletedRow: z.number().int().nonnegative() }).nullable(),
});

const stateSchema = z.object({
  version: z.number().int().nonnegative(),
  metadata: z.object({
    id: z.string(),
    name: z.string().nullable(),
    description: z.string().nullable(),
    partitionColumns: z.array(z.string()),
    configuration: z.record(z.string(), z.string().nullable()),
    createdTime: z.number().int().nullable(),
    /** the schemaString, parsed */
    schema: jsonValue,
  }),
  protocol: z.object({
    minReaderVersion: z.number().int(),
    minWriterVersion: z.number().int(),
    /** sorted: features are a set */
    readerFeatures: z.array(z.string()).nullable(),
    writerFeatures: z.array(z.string()).nullable(),
  }),
  /** live add actions, sorted by path in JS default string order */
  files: z.array(fileSchema),
});

export type ComparableFile = z.infer<typeof fileSchema>;
/** A table at a version, as delta-rs reports it and as comparable-state.ts puts a Delta log's state. */
export type ComparableState = z.infer<typeof stateSchema>;

// Python sorts by code point, JS by UTF-16 unit; they differ only beyond the
// BMP, but the contract is JS order, so sort here.
function sortedFiles(state: ComparableState): ComparableState {
  return { ...state, files: [...state.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
}

/** The table as delta-rs reads it at `version` (latest when omitted). */
export async function deltaRsState(tableDir: string, version?: number): Promise<ComparableState> {
  const args = ['state', tableDir];
  if (version !== undefined) {
    if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`not a table version: ${version}`);
    args.push('--version', String(version));
  }
  return sortedFiles(stateSchema.parse(await runReference(args)));
}

/** The same for every version delta-rs can load, oldest first; versions whose commits were cleaned up are skipped. */
export async function deltaRsAllVersions(tableDir: string): Promise<ComparableState[]> {
  return z
    .array(stateSchema)
    .parse(await runReference(['all-versions', tableDir]))
    .map(sortedFiles);
}

/**
 * Writes a realistic partitioned table with delta-rs itself (appends, a
 * predicate overwrite, a rewriting delete, a compaction, a schema merge,
 * two Parquet checkpoints); data values depend only on the seed.
 */
export async function deltaRsWriteSample(tableDir: string, options: { seed: number }): Promise<{ versions: number }> {
  if (!Number.isSafeInteger(options.seed)) throw new RangeError(`seed must be an integer, got ${options.seed}`);
  return z
    .object({ versions: z.number().int().positive() })
    .parse(await runReference(['write-sample', tableDir, '--seed', String(options.seed)]));
}

export interface WrittenDeletionVector {
  readonly descriptor: DeletionVectorDescriptor;
  /** the DV deletes rows firstDeletedRow .. firstDeletedRow + cardinality - 1 */
  readonly firstDeletedRow: number;
}

/**
 * Writes the file of every deletion vector (storage type `u`) that an add
 * action of the table's JSON commits names, as the generator leaves them
 * unwritten. Each DV deletes `cardinality` consecutive rows from a start
 * that differs between DVs, so delta-rs's answer tells DVs apart.
 */
export async function deltaRsWriteDeletionVectorFiles(tableDir: string): Promise<WrittenDeletionVector[]> {
  const descriptor = z
    .object({
      storageType: z.string(),
      pathOrInlineDv: z.string(),
      offset: z.number().int().optional(),
      sizeInBytes: z.number().int(),
      cardinality: z.number().int(),
    })
    .passthrough();
  return z
    .array(z.object({ descriptor, firstDeletedRow: z.number().int().nonnegative() }))
    .parse(await runReference(['write-dv-files', tableDir]));
}
