/**
 * Native materialized views for cross-table questions, refreshed on a
 * schedule (the refresher's maintenance job), and the live staleness gauge.
 */
import type { Pool } from '../db/index.ts';

/** Every materialized view the refresher keeps; each has a unique index, as CONCURRENTLY requires. */
export const catalogViews = ['deltameta.catalog_overview'] as const;

export interface ViewRefresh {
  readonly view: string;
  readonly durationMs: number;
}

/**
 * CONCURRENTLY: readers of the view are not blocked while it is recomputed
 * (a refresh of the same view by another process waits for this one).
 */
export async function refreshMaterializedViews(pool: Pool): Promise<ViewRefresh[]> {
  const done: ViewRefresh[] = [];
  for (const view of catalogViews) {
    const started = performance.now();
    await pool.query(`REFRESH MATERIALIZED VIEW CONCURRENTLY ${view}`);
    done.push({ view, durationMs: performance.now() - started });
  }
  return done;
}

/**
 * serves: delta_commit primary key (newest version per table: one backward
 * probe each) and table_state primary key. A table without state counts
 * every version from its log start.
 */
const stalenessSql = `
  SELECT coalesce(max(head.version - coalesce(s.mv_version, t.log_start_version - 1)), 0)::bigint AS staleness
    FROM deltameta.delta_table t
    CROSS JOIN LATERAL (SELECT max(c.version) AS version FROM deltameta.delta_commit c WHERE c.table_id = t.table_id) head
    LEFT JOIN deltameta.table_state s ON s.table_id = t.table_id
   WHERE head.version IS NOT NULL`;

/** Max over tables of head version − mv_version, now (deltameta_mv_staleness_versions); 0 without tables. */
export async function mvStaleness(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ staleness: number }>(stalenessSql);
  return rows[0]?.staleness ?? 0;
}
