/**
 * delta-rs's side of the Delta Sharing tests: test/support/sharing_tables.py
 * (run by the delta-rs venv through runReference) writes the shared tables
 * with real Parquet data and reads them back: the rows, the change data
 * feed and the live files the official connector's answers through deltameta
 * must equal. Rows are in sharing_rows.py's comparable form, sorted.
 */
import path from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../../shared/config/index.ts';
import { runReference } from './deltars.ts';

const script = path.join(projectRoot, 'test', 'support', 'sharing_tables.py');

export type Row = Record<string, unknown>;

const commitsSchema = z.object({ commits: z.array(z.object({ version: z.number().int(), mtimeMs: z.number().int() })) });
const rowsSchema = z.object({ count: z.number().int(), rows: z.array(z.record(z.string(), z.unknown())), version: z.number().int().optional() });
const filesSchema = z.object({
  files: z.array(z.object({ partitionValues: z.record(z.string(), z.string().nullable()), size: z.number().int(), numRecords: z.number().int().nullable() })),
});

export type Commits = z.infer<typeof commitsSchema>['commits'];
export type LiveFile = z.infer<typeof filesSchema>['files'][number];

async function run<T>(schema: z.ZodType<T>, args: readonly string[]): Promise<T> {
  return schema.parse(await runReference(args, script));
}

/** Writes one of the test tables (`partitioned`, `cdf`, `many` with `files` files) into `dir`; its commits' file times. */
export async function writeSharingTable(kind: 'partitioned' | 'cdf' | 'many', dir: string, files?: number): Promise<Commits> {
  const args = [`write-${kind}`, dir, ...(files === undefined ? [] : ['--files', String(files)])];
  return (await run(commitsSchema, args)).commits;
}

/** The table's rows as delta-rs reads them, at `version` (latest when omitted). */
export async function deltaRsRows(dir: string, version?: number): Promise<{ version: number; count: number; rows: Row[] }> {
  const answer = await run(rowsSchema, ['read', dir, ...(version === undefined ? [] : ['--version', String(version)])]);
  return { version: answer.version ?? -1, count: answer.count, rows: answer.rows };
}

/** The version delta-rs loads for an ISO timestamp (load_as_version). */
export async function deltaRsVersionAt(dir: string, timestamp: string): Promise<number> {
  return (await run(z.object({ version: z.number().int() }), ['as-of', dir, '--timestamp', timestamp])).version;
}

/** delta-rs's change data feed from `start` to `end` (inclusive), rows with _change_type and _commit_version. */
export async function deltaRsChanges(dir: string, start: number, end: number): Promise<{ count: number; rows: Row[] }> {
  return run(rowsSchema, ['cdf', dir, '--start', String(start), '--end', String(end)]);
}

/** The latest version's live files as delta-rs lists them. */
export async function deltaRsFiles(dir: string): Promise<LiveFile[]> {
  return (await run(filesSchema, ['files', dir])).files;
}
