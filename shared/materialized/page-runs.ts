/**
 * Run planning: which current pages a version's changes make stale, grouped
 * into runs of adjacent pages that are rewritten together.
 */
import type { PoolClient } from '../db/index.ts';
import { compareCodePoints } from '../delta/index.ts';
import { InternalError } from '../errors/index.ts';
import { affectedPagesSql, changedPathsSql, pageAtSql } from './file-pages-sql.ts';

/** Adjacent current pages rewritten together: the path range [lower, upper), upper null for the table's last page. */
export interface PageRun {
  readonly lower: string;
  upper: string | null;
  /** lower bounds of the current pages the run replaces */
  readonly replaces: string[];
  /** their raw bytes */
  oldBytes: number;
}

export interface CurrentPage {
  readonly lowerPath: string;
  readonly rawBytes: number;
  /** the next page's lower bound; null for the last page */
  readonly upperPath: string | null;
}

/** Pages in path order joined into runs where one ends where the next begins. */
export function joinAdjacentPages(pages: readonly CurrentPage[]): PageRun[] {
  const sorted = [...pages].sort((a, b) => compareCodePoints(a.lowerPath, b.lowerPath));
  const runs: PageRun[] = [];
  for (const page of sorted) {
    const last = runs[runs.length - 1];
    if (last && last.upper === page.lowerPath) {
      last.upper = page.upperPath;
      last.replaces.push(page.lowerPath);
      last.oldBytes += page.rawBytes;
    } else {
      runs.push({ lower: page.lowerPath, upper: page.upperPath, replaces: [page.lowerPath], oldBytes: page.rawBytes });
    }
  }
  return runs;
}

/**
 * Small runs take in their right neighbour (a later run, if that is the
 * neighbour; else the current page there, from `pageAt`): pages do not
 * dwindle. Changes `runs` in place.
 */
export async function extendSmallRuns(
  runs: PageRun[],
  mergeBelowBytes: number,
  pageAt: (lowerPath: string) => Promise<Omit<CurrentPage, 'lowerPath'>>,
): Promise<PageRun[]> {
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i] as PageRun;
    while (run.oldBytes < mergeBelowBytes && run.upper !== null) {
      const next = runs[i + 1];
      if (next && next.lower === run.upper) {
        run.upper = next.upper;
        run.replaces.push(...next.replaces);
        run.oldBytes += next.oldBytes;
        runs.splice(i + 1, 1);
        continue;
      }
      const neighbour = await pageAt(run.upper);
      run.replaces.push(run.upper);
      run.oldBytes += neighbour.rawBytes;
      run.upper = neighbour.upperPath;
    }
  }
  return runs;
}

/** The runs of pages that the versions in (from, to] touched, merged where adjacent and extended where small. */
export async function affectedRuns(client: PoolClient, tableId: number, from: number, to: number, mergeBelowBytes: number): Promise<PageRun[]> {
  const { rows: changed } = await client.query<{ path: string }>(changedPathsSql, [tableId, from, to]);
  if (changed.length === 0) return [];
  const { rows: pages } = await client.query<{ lower_path: string; raw_bytes: number; upper_path: string | null }>(
    affectedPagesSql, [tableId, changed.map((row) => row.path)],
  );
  const runs = joinAdjacentPages(pages.map((page) => ({ lowerPath: page.lower_path, rawBytes: page.raw_bytes, upperPath: page.upper_path })));
  return extendSmallRuns(runs, mergeBelowBytes, async (lowerPath) => {
    const { rows } = await client.query<{ raw_bytes: number; upper_path: string | null }>(pageAtSql, [tableId, lowerPath]);
    const neighbour = rows[0];
    if (!neighbour) throw new InternalError(`file pages of table ${tableId}: no current page at ${JSON.stringify(lowerPath)}`);
    return { rawBytes: neighbour.raw_bytes, upperPath: neighbour.upper_path };
  });
}
