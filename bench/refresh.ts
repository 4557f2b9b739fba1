/**
 * Refresh cost against table size (docs/design.md section 6: a 1k-action commit
 * on a 1M-file table refreshes in ≤50 ms, ≥100× faster than a full
 * recompute). For generated tables of each size: import, first refresh
 * (the build), then `--repeats` times one commit of 500 removes of live
 * files + 500 adds, timing the refresh of that one version; then a full
 * rebuildTable of the same table. File pages the same way: after each
 * commit's refresh its file-pages pass (random removes touch pages all
 * over the table: the worst case), and a whole build of the pages after
 * the rebuild. Then verifyTable (file_index and the pages against the log).
 *
 *   node --import tsx bench/refresh.ts [--sizes 10000,100000,1000000] [--repeats 7] [--no-verify]
 *
 * Uses its own database (deltameta_bench_refresh), dropped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createPool, type Pool } from '../shared/db/index.ts';
import { generateTable, type Action, type AddAction } from '../shared/delta/index.ts';
import { commit, findTable, importTable } from '../shared/log-store/index.ts';
import { rebuildTable, refreshFilePages, refreshTable, verifyTable } from '../shared/materialized/index.ts';
import { dropScratchDatabase, scratchDatabase } from './support.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    repeats: { type: 'string', default: '7' },
    'no-verify': { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const repeats = Number(values.repeats);
const databaseName = 'deltameta_bench_refresh';
const removesPerCommit = 500;
const addsPerCommit = 500;

interface Row {
  files: number;
  buildMs: number;
  incrementalMs: number[];
  rebuildMs: number;
  pagesIncrementalMs: number[];
  pagesRewritten: number[];
  pagesBuildMs: number;
  pages: number;
  appendMs: number[];
  appendPages: number[];
  verified: string;
  sizes: string;
}

function elapsed(started: number): number {
  return performance.now() - started;
}

/** 500 live files (whatever their DV) removed, 500 new ones added in the same partitions. */
async function nextCommit(pool: Pool, table: string, tableId: number, round: number): Promise<Action[]> {
  const { rows } = await pool.query<{ add_line: string }>(
    `SELECT add_line FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL ORDER BY random() LIMIT $2`,
    [tableId, removesPerCommit],
  );
  const victims = rows.map((row) => (JSON.parse(row.add_line) as { add: AddAction }).add);
  const actions: Action[] = [{ kind: 'commitInfo', commitInfo: { operation: 'MERGE', isBlindAppend: false, engineInfo: 'bench/refresh' } }];
  for (const file of victims) {
    actions.push({
      kind: 'remove',
      remove: {
        path: file.path, deletionTimestamp: Date.now(), dataChange: true, extendedFileMetadata: true, partitionValues: file.partitionValues, size: file.size,
        ...(file.deletionVector ? { deletionVector: file.deletionVector } : {}),
      },
    });
  }
  for (let i = 0; i < addsPerCommit; i++) {
    const template = victims[i % victims.length] as AddAction;
    const folder = template.path.includes('/') ? template.path.slice(0, template.path.lastIndexOf('/') + 1) : '';
    actions.push({
      kind: 'add',
      add: {
        path: `${folder}bench-${table}-${round}-${i}.snappy.parquet`, partitionValues: template.partitionValues, size: 123_456 + i,
        modificationTime: Date.now(), dataChange: true, stats: JSON.stringify({ numRecords: 1000 + i, minValues: { id: i }, maxValues: { id: i + 999 }, nullCount: { id: 0 } }),
      },
    });
  }
  return actions;
}

async function relationSizes(pool: Pool, tableId: number): Promise<string> {
  // The hash partition that holds the table (an earlier, smaller bench table may share it). Index names lose their partition prefix.
  const { rows } = await pool.query<{ heap: string; indexes: string }>(
    `SELECT pg_size_pretty(pg_table_size(p.oid)) AS heap,
            string_agg(replace(replace(i.indexrelid::regclass::text, 'deltameta.', ''), p.relname || '_', '') || ' ' || pg_size_pretty(pg_relation_size(i.indexrelid)), ', ' ORDER BY i.indexrelid) AS indexes
       FROM pg_class p JOIN pg_index i ON i.indrelid = p.oid
      WHERE p.oid = (SELECT tableoid FROM deltameta.file_index WHERE table_id = $1 LIMIT 1)
      GROUP BY p.oid, p.relname`,
    [tableId],
  );
  return rows[0] ? `heap ${rows[0].heap}; ${rows[0].indexes}` : '';
}

async function measure(pool: Pool, files: number): Promise<Row> {
  const table = `bench_${files}`;
  const dir = mkdtempSync(path.join(tmpdir(), `deltameta-bench-refresh-${files}-`));
  try {
    const commits = 20;
    let started = performance.now();
    await generateTable(dir, { files, commits, partitions: 50, checkpointInterval: commits, seed: 42 });
    console.error(`${table}: generated in ${(elapsed(started) / 1000).toFixed(1)} s`);
    started = performance.now();
    const imported = await importTable(pool, dir, table);
    const importMs = elapsed(started);
    console.error(`${table}: imported ${imported.rows} rows in ${(importMs / 1000).toFixed(1)} s`);
    started = performance.now();
    const build = await refreshTable(pool, table);
    const buildMs = elapsed(started);
    console.error(`${table}: first refresh (build) ${build.versionsApplied} versions, ${build.rowsInserted} rows in ${(buildMs / 1000).toFixed(1)} s`);
    // Steady state, as autovacuum would leave it: visibility map set, statistics current.
    await pool.query('VACUUM (ANALYZE) deltameta.file_index, deltameta.delta_add, deltameta.delta_remove, deltameta.delta_commit');
    const sizes = await relationSizes(pool, imported.tableId);

    await refreshFilePages(pool, table);
    const incrementalMs: number[] = [];
    const pagesIncrementalMs: number[] = [];
    const pagesRewritten: number[] = [];
    for (let round = 0; round < repeats; round++) {
      const actions = await nextCommit(pool, table, imported.tableId, round);
      // Removes are decided on the version read: the commit says which.
      await commit(pool, { table, actions, readVersion: (await findTable(pool, table))?.headVersion ?? -1 });
      started = performance.now();
      const result = await refreshTable(pool, table);
      incrementalMs.push(elapsed(started));
      if (result.versionsApplied !== 1 || result.actionsRead !== removesPerCommit + addsPerCommit) {
        throw new Error(`${table}: expected one version of ${removesPerCommit + addsPerCommit} actions, got ${JSON.stringify(result)}`);
      }
      started = performance.now();
      const pages = await refreshFilePages(pool, table);
      pagesIncrementalMs.push(elapsed(started));
      pagesRewritten.push(pages.pagesWritten);
      if (pages.rebuilt) throw new Error(`${table}: file pages were rebuilt, not kept up`);
    }
    console.error(`${table}: file-pages passes ${pagesIncrementalMs.map((ms) => ms.toFixed(1)).join(', ')} ms (${pagesRewritten.join(', ')} pages written)`);
    // The common shape of a write: an append of new files into one partition (they sort after its existing files).
    const appendMs: number[] = [];
    const appendPages: number[] = [];
    for (let round = 0; round < 3; round++) {
      const { rows } = await pool.query<{ add_line: string }>('SELECT add_line FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL LIMIT 1', [imported.tableId]);
      const template = (JSON.parse(rows[0]?.add_line ?? '{}') as { add: AddAction }).add;
      const folder = template.path.includes('/') ? template.path.slice(0, template.path.lastIndexOf('/') + 1) : '';
      await commit(pool, {
        table,
        actions: Array.from({ length: removesPerCommit + addsPerCommit }, (_, i): Action => ({
          kind: 'add',
          add: { path: `${folder}zz-append-${round}-${String(i).padStart(4, '0')}.parquet`, partitionValues: template.partitionValues, size: 1000 + i, modificationTime: Date.now(), dataChange: true, stats: JSON.stringify({ numRecords: i }) },
        })),
      });
      await refreshTable(pool, table);
      started = performance.now();
      const pages = await refreshFilePages(pool, table);
      appendMs.push(elapsed(started));
      appendPages.push(pages.pagesWritten);
    }
    console.error(`${table}: file-pages passes after a ${removesPerCommit + addsPerCommit}-file append: ${appendMs.map((ms) => ms.toFixed(1)).join(', ')} ms (${appendPages.join(', ')} pages written)`);
    console.error(`${table}: incremental refreshes ${incrementalMs.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    started = performance.now();
    const rebuilt = await rebuildTable(pool, table);
    const rebuildMs = elapsed(started);
    console.error(`${table}: rebuild of ${rebuilt.rowsInserted} rows in ${(rebuildMs / 1000).toFixed(1)} s`);
    started = performance.now();
    const pagesBuilt = await refreshFilePages(pool, table);
    const pagesBuildMs = elapsed(started);
    console.error(`${table}: file pages built whole: ${pagesBuilt.pagesWritten} pages in ${(pagesBuildMs / 1000).toFixed(1)} s`);
    let verified = 'skipped';
    if (!values['no-verify']) {
      const result = await verifyTable(pool, table);
      verified = result.ok ? 'ok' : `MISMATCH: ${result.problems.slice(0, 3).join('; ')}`;
    }
    return { files, buildMs, incrementalMs, rebuildMs, pagesIncrementalMs, pagesRewritten, pagesBuildMs, pages: pagesBuilt.pagesWritten, appendMs, appendPages, verified, sizes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const url = await scratchDatabase(databaseName);
const pool = createPool(url, { max: 4, applicationName: 'bench-refresh' });
const results: Row[] = [];
try {
  for (const files of sizes) results.push(await measure(pool, files));
} finally {
  await pool.end();
  await dropScratchDatabase(databaseName);
}

const format = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
console.log(`\nrefresh of one ${removesPerCommit + addsPerCommit}-action commit vs full rebuild (median of ${repeats}; min-max)`);
console.log(['files', 'first refresh ms', 'incremental ms', 'min-max', 'full rebuild ms', 'ratio', 'verify'].join('\t'));
for (const row of results) {
  const incremental = median(row.incrementalMs);
  console.log([
    row.files.toLocaleString('en-US'), format(row.buildMs), format(incremental),
    `${format(Math.min(...row.incrementalMs))}-${format(Math.max(...row.incrementalMs))}`,
    format(row.rebuildMs), `${Math.round(row.rebuildMs / incremental)}x`, row.verified,
  ].join('\t'));
}
for (const row of results) console.log(`${row.files.toLocaleString('en-US')} files, file_index partition after the build: ${row.sizes}`);
console.log(`\nfile pages: pass after the same commit vs whole build (median of ${repeats}; min-max)`);
console.log(['files', 'pages', 'pass ms', 'min-max', 'pages written (median)', 'append pass ms', 'append pages', 'whole build ms', 'ratio'].join('\t'));
for (const row of results) {
  const pass = median(row.pagesIncrementalMs);
  console.log([
    row.files.toLocaleString('en-US'), row.pages, format(pass), `${format(Math.min(...row.pagesIncrementalMs))}-${format(Math.max(...row.pagesIncrementalMs))}`,
    median(row.pagesRewritten), format(median(row.appendMs)), median(row.appendPages), format(row.pagesBuildMs), `${Math.round(row.pagesBuildMs / pass)}x`,
  ].join('\t'));
}

// Machine-readable results for `deltameta bench` (docs/benchmarks.md and its charts).
const { writeFileSync } = await import('node:fs');
const { projectRoot } = await import('../shared/config/index.ts');
writeFileSync(path.join(projectRoot, 'bench', 'results', 'refresh.json'), `${JSON.stringify({
  when: new Date().toISOString(),
  command: `node --import tsx bench/refresh.ts --sizes ${sizes.join(',')} --repeats ${repeats}`,
  actionsPerCommit: removesPerCommit + addsPerCommit,
  rows: results.map((row) => ({
    files: row.files, firstRefreshMs: +row.buildMs.toFixed(1), incrementalMedianMs: +median(row.incrementalMs).toFixed(1),
    incrementalMinMs: +Math.min(...row.incrementalMs).toFixed(1), incrementalMaxMs: +Math.max(...row.incrementalMs).toFixed(1),
    fullRebuildMs: +row.rebuildMs.toFixed(1), ratio: Math.round(row.rebuildMs / median(row.incrementalMs)), verified: row.verified,
    pages: row.pages, pagesPassMedianMs: +median(row.pagesIncrementalMs).toFixed(1), pagesPassMinMs: +Math.min(...row.pagesIncrementalMs).toFixed(1),
    pagesPassMaxMs: +Math.max(...row.pagesIncrementalMs).toFixed(1), pagesWrittenMedian: median(row.pagesRewritten), pagesBuildMs: +row.pagesBuildMs.toFixed(1),
    pagesAppendMedianMs: +median(row.appendMs).toFixed(1), pagesAppendWrittenMedian: median(row.appendPages),
  })),
}, null, 2)}\n`);
