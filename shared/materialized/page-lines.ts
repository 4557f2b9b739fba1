/**
 * Row reading for file pages: the live lines (file_index add_line) of page
 * runs at a version, in path order.
 */
import { cursorBatches, type PoolClient } from '../db/index.ts';
import { compareCodePoints } from '../delta/index.ts';
import { batchedRunLinesSql, runLinesSql } from './file-pages-sql.ts';
import type { PageRun } from './page-runs.ts';

export interface RunLine {
  readonly path: string;
  readonly add_line: string;
}

/** Runs above this many old bytes are read through a cursor, alone. */
export const streamRunAboveBytes = 4 * 1024 * 1024;

/** Lines per FETCH from a big run's cursor. */
const fetchRows = 5000;

/** Live lines of [lower, upper) at `version` (file-pages-sql.ts runLinesSql says which index serves it). */
export async function* runLines(client: PoolClient, tableId: number, run: PageRun, version: number, atWatermark: boolean): AsyncGenerator<RunLine> {
  const shape = atWatermark ? runLinesSql.atWatermark : runLinesSql.asOf;
  const sql = run.upper === null ? shape.open : shape.bounded;
  const params = run.upper === null ? [tableId, run.lower, version] : [tableId, run.lower, version, run.upper];
  if (run.oldBytes <= streamRunAboveBytes) {
    const { rows } = await client.query<RunLine>(sql, params);
    yield* rows;
    return;
  }
  for await (const rows of cursorBatches<RunLine>(client, sql, params, { batchRows: fetchRows, name: 'file_page_lines' })) yield* rows;
}

type KeyedLine = RunLine & { readonly dv_id: string };

function compareKeys(a: KeyedLine, b: KeyedLine): number {
  return compareCodePoints(a.path, b.path) || compareCodePoints(a.dv_id, b.dv_id);
}

/**
 * The live lines at `version` of several bounded runs, in path order: the
 * runs are disjoint and ascending, so path order is run order, and a commit
 * touching pages all over a table costs one round trip, not one per run.
 * The query keeps each run's scan a scan of its range (OFFSET 0, see
 * batchedRunLinesSql). Rows come back run by run, each run in order; the
 * order is checked here rather than paid for with a sort.
 */
export async function batchedRunLines(client: PoolClient, tableId: number, runs: readonly PageRun[], version: number, atWatermark: boolean): Promise<KeyedLine[]> {
  const { rows } = await client.query<KeyedLine>(
    atWatermark ? batchedRunLinesSql.atWatermark : batchedRunLinesSql.asOf,
    [tableId, runs.map((run) => run.lower), runs.map((run) => run.upper), version],
  );
  for (let i = 1; i < rows.length; i++) {
    if (compareKeys(rows[i - 1] as KeyedLine, rows[i] as KeyedLine) > 0) return rows.sort(compareKeys);
  }
  return rows;
}
