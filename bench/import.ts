/**
 * The first read after an import (issue 12), side by side in one run on one
 * table: a realistic layout (bench/layouts.ts: 1,050 commits, the last
 * checkpoint at 1,000 rewritten by delta-rs, a JSON tail 1,001..1,050).
 *
 * For each mode, into a fresh database with a reader process running and no
 * refresher:
 * - `log` (the import before issue 12): importTable writes the log tables
 *   only; the first reads are the reader's fallback; then what the refresher
 *   would do (refreshTable: the build, then refreshFilePages) is timed.
 * - `materialized`: importMaterialized (what `deltameta import` runs) writes
 *   the state in the import's transaction; the first reads follow at once;
 *   then refreshFilePages (the CLI runs it after the import) is timed.
 * The first summary and whole list (Arrow, then NDJSON) are timed by the Python client, decoding
 * included (bench/reader_client.py), next to delta-rs loading the same table
 * (`DeltaTable(path)` + schema + version; `get_add_actions(flatten=True)`).
 *
 *   npx tsx bench/import.ts [--files 1000000] [--dir /tmp/deltameta-bench-import] [--modes log,materialized] [--out file.json]
 *
 * Prints one JSON object and writes it to --out (default bench/results/import.json). The
 * table is generated once per size and kept.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { projectRoot } from '../shared/config/index.ts';
import { createPool } from '../shared/db/index.ts';
import { importTable } from '../shared/log-store/index.ts';
import { importMaterialized, refreshArrowSegments, refreshFilePages, refreshTable } from '../shared/materialized/index.ts';
import { ensureDeltaRs } from '../test/support/deltars.ts';
import { generateLayout, parseLayouts } from './layouts.ts';
import { clientTimes, type ClientFormat } from './reader-client.ts';
import { dropScratchDatabase, scratchDatabase, startServices } from './support.ts';

const execFileAsync = promisify(execFile);
const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '1000000' },
    dir: { type: 'string', default: '/tmp/deltameta-bench-import' },
    modes: { type: 'string', default: 'log,materialized' },
    // Where the result goes; a scratch run passes a path outside bench/results (the lead's regenerated figures).
    out: { type: 'string', default: path.join(projectRoot, 'bench', 'results', 'import.json') },
  },
});
const files = Number(values.files);
const layout = parseLayouts('realistic')[0];
if (!layout) throw new Error('no realistic layout');
const checkpointVersion = 1_000;
const tableDir = path.join(values.dir, `realistic-${files}`);
const run = Date.now().toString(36);

/** The realistic layout with its checkpoint at 1,000 written by delta-rs (no multi-part one beside it). */
async function prepareTable(python: string): Promise<void> {
  const marker = path.join(tableDir, '_delta_log', `${String(checkpointVersion).padStart(20, '0')}.checkpoint.parquet`);
  if (existsSync(marker)) return;
  rmSync(tableDir, { recursive: true, force: true });
  await generateLayout(tableDir, layout as NonNullable<typeof layout>, files);
  const logDir = path.join(tableDir, '_delta_log');
  for (const name of readdirSync(logDir)) {
    if (name.startsWith(`${String(checkpointVersion).padStart(20, '0')}.checkpoint.`)) rmSync(path.join(logDir, name));
  }
  rmSync(path.join(logDir, '_last_checkpoint'), { force: true });
  await execFileAsync(python, ['-c', `from deltalake import DeltaTable; DeltaTable(${JSON.stringify(tableDir)}, version=${checkpointVersion}).create_checkpoint()`]);
}

/** delta-rs loading the table as a user would for each read (one cold-ish run each, as the first read is). */
async function deltaRs(python: string): Promise<{ summaryMs: number; addActionsMs: number }> {
  const script = `
import json, time
from deltalake import DeltaTable
path = ${JSON.stringify(tableDir)}
t = time.perf_counter(); table = DeltaTable(path); table.schema(); table.version(); summary = (time.perf_counter() - t) * 1000
t = time.perf_counter(); DeltaTable(path).get_add_actions(flatten=True); add_actions = (time.perf_counter() - t) * 1000
print(json.dumps({"summaryMs": summary, "addActionsMs": add_actions}))`;
  const { stdout } = await execFileAsync(python, ['-c', script], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout) as { summaryMs: number; addActionsMs: number };
}

const seconds = (from: number): number => Math.round(performance.now() - from) / 1000;

/** One client-timed read; a refusal (the reader's statement timeout on a fallback) is a result too: its time and why. */
async function firstRead(python: string, port: number, route: string, format: ClientFormat): Promise<{ ms: number; rows?: number; error?: string }> {
  const started = performance.now();
  try {
    const times = await clientTimes(python, port, route, format, 1);
    return { ms: times.samples[0] ?? Number.NaN, rows: times.rows };
  } catch (error) {
    const text = String((error as { stderr?: unknown }).stderr ?? error);
    return { ms: performance.now() - started, error: text.slice(0, 200) };
  }
}

async function measure(python: string, mode: 'log' | 'materialized'): Promise<Record<string, unknown>> {
  const name = `bench_import_${run}_${mode}`;
  const url = await scratchDatabase(name);
  const reader = await startServices(url, ['reader'], `import-${run}-${mode}`);
  const pool = createPool(url, { max: 2 });
  try {
    const port = reader.readerPort();
    if (port === undefined) throw new Error('the reader process did not report its port');
    const started = performance.now();
    const result = mode === 'log' ? await importTable(pool, tableDir, 't') : await importMaterialized(pool, tableDir, 't');
    const importSeconds = seconds(started);
    const returned = performance.now();
    const summary = await firstRead(python, port, '/v1/tables/t', 'json');
    const wholeList = await firstRead(python, port, '/v1/tables/t/files', 'arrow');
    const wholeListNdjson = await firstRead(python, port, '/v1/tables/t/files', 'ndjson');
    const firstReads = { summary, wholeList, wholeListNdjson };
    let stateSeconds = 0;
    if (mode === 'log') {
      // What the refresher's first event does: the build, then the pages.
      await refreshTable(pool, result.tableId);
      stateSeconds = seconds(returned);
    }
    const pagesStarted = performance.now();
    const pages = await refreshFilePages(pool, result.tableId);
    // As `deltameta import` does: the Arrow segments after the pages.
    await refreshArrowSegments(pool, result.tableId);
    const pagesSeconds = seconds(pagesStarted);
    const materializedSeconds = seconds(returned);
    // What a client meets once `deltameta import` has exited (it builds the pages before it does).
    const afterPages = { summary: await firstRead(python, port, '/v1/tables/t', 'json'), wholeList: await firstRead(python, port, '/v1/tables/t/files', 'arrow') };
    return {
      mode, rows: result.rows, importSeconds, firstReads, stateSecondsAfterImport: mode === 'log' ? stateSeconds : 0,
      pagesSeconds, materializedSecondsAfterImport: materializedSeconds, pagesWritten: pages.pagesWritten,
      cliSeconds: mode === 'materialized' ? importSeconds + pagesSeconds : undefined, readsAfterPages: afterPages,
    };
  } finally {
    await pool.end();
    await reader.stop();
    await dropScratchDatabase(name);
  }
}

const python = await ensureDeltaRs();
await prepareTable(python);
const modes = values.modes.split(',') as ('log' | 'materialized')[];
const measured: Record<string, unknown>[] = [];
for (const mode of modes) measured.push(await measure(python, mode));
const reference = await deltaRs(python);
const ratios = measured.map((row) => {
  const reads = row['firstReads'] as { summary: { ms: number; error?: string }; wholeList: { ms: number; error?: string } };
  const ratio = (deltaRsMs: number, read: { ms: number; error?: string }): number | string => (read.error ? 'failed' : deltaRsMs / read.ms);
  const afterPages = row['readsAfterPages'] as typeof reads;
  return {
    mode: row['mode'],
    summaryVsDeltaRs: ratio(reference.summaryMs, reads.summary), wholeListVsDeltaRs: ratio(reference.addActionsMs, reads.wholeList),
    afterPages: { summaryVsDeltaRs: ratio(reference.summaryMs, afterPages.summary), wholeListVsDeltaRs: ratio(reference.addActionsMs, afterPages.wholeList) },
  };
});
const command = `node --import tsx bench/import.ts --files ${files} --modes ${values.modes}`;
const output = { measuredAt: new Date().toISOString(), command, table: tableDir, files, layout: layout.description, deltaRs: reference, measured, ratios };
console.log(JSON.stringify(output, null, 2));
mkdirSync(path.dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(output, null, 2)}\n`);
