/**
 * One follower per followed table across instances: a lease in
 * deltameta.table_follow (lease_holder, lease_expires_at), timed by
 * PostgreSQL's clock so instances on different hosts agree on expiry.
 *
 * - take: every followed table whose lease is free (no row, no holder, or
 *   expired) becomes this instance's for the lease's time. Two instances
 *   taking at once: the row lock of ON CONFLICT DO UPDATE re-checks the
 *   holder on the newest row, so exactly one gets it.
 * - renew: pushes the expiry of the tables this instance holds; a table not
 *   renewed (taken over after an expiry, handed over, dropped) is let go.
 * - release: a graceful stop frees the leases at once (no wait for expiry).
 *
 * The lease keeps a table's imports in one process; it is not what keeps
 * versions whole: every import also takes the table's import lock and
 * continues from PostgreSQL's head, so two importers can never write a
 * version twice or skip one.
 */
import type { Pool } from '../../shared/db/index.ts';

export interface HeldTable {
  readonly tableId: number;
  readonly name: string;
  /** the followed folder (realpath, as registered) */
  readonly location: string;
}

// serves: delta_table (kind), table_follow primary key
const takeSql = `
  WITH taken AS (
    INSERT INTO deltameta.table_follow AS f (table_id, lease_holder, lease_expires_at)
    SELECT t.table_id, $1, now() + $2 * interval '1 millisecond'
      FROM deltameta.delta_table t
      LEFT JOIN deltameta.table_follow cur ON cur.table_id = t.table_id
     WHERE t.kind = 'followed' AND t.location IS NOT NULL
       AND NOT (t.table_id = ANY($3::bigint[]))
       AND (cur.table_id IS NULL OR cur.lease_holder IS NULL OR cur.lease_expires_at IS NULL OR cur.lease_expires_at < now())
     ORDER BY t.table_id
     LIMIT $4
    ON CONFLICT (table_id) DO UPDATE SET lease_holder = excluded.lease_holder, lease_expires_at = excluded.lease_expires_at
     WHERE f.lease_holder IS NULL OR f.lease_expires_at IS NULL OR f.lease_expires_at < now()
    RETURNING f.table_id
  )
  SELECT t.table_id, t.name, t.location FROM taken JOIN deltameta.delta_table t USING (table_id) ORDER BY t.table_id`;

// serves: table_follow primary key; delta_table primary key
const renewSql = `
  UPDATE deltameta.table_follow f SET lease_expires_at = now() + $2 * interval '1 millisecond'
    FROM deltameta.delta_table t
   WHERE f.table_id = ANY($3::bigint[]) AND f.lease_holder = $1 AND t.table_id = f.table_id AND t.kind = 'followed'
  RETURNING f.table_id`;

const releaseSql = `
  UPDATE deltameta.table_follow SET lease_holder = NULL, lease_expires_at = NULL
   WHERE table_id = ANY($2::bigint[]) AND lease_holder = $1`;

// A table handed over (or never followed) keeps no follow row of this instance's making.
const forgetSql = `
  DELETE FROM deltameta.table_follow f
   WHERE f.table_id = $1 AND f.lease_holder = $2
     AND NOT EXISTS (SELECT FROM deltameta.delta_table t WHERE t.table_id = f.table_id AND t.kind = 'followed')`;

const recordErrorSql = `
  UPDATE deltameta.table_follow SET error = $3, error_at = now()
   WHERE table_id = $1 AND lease_holder = $2`;

const recordMissingSql = `
  UPDATE deltameta.table_follow SET missing_from = $3, missing_to = $4, error = $5, error_at = now()
   WHERE table_id = $1 AND lease_holder = $2`;

export class Leases {
  constructor(
    private readonly pool: Pool,
    readonly holder: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes up to `limit` free followed tables (besides `held`); returns those taken. */
  async take(held: readonly number[], limit: number): Promise<HeldTable[]> {
    if (limit <= 0) return [];
    const { rows } = await this.pool.query<{ table_id: number; name: string; location: string }>(takeSql, [this.holder, this.ttlMs, held, limit]);
    return rows.map((row) => ({ tableId: row.table_id, name: row.name, location: row.location }));
  }

  /** Renews the leases of `held`; returns the ids still held (the others are lost). */
  async renew(held: readonly number[]): Promise<Set<number>> {
    if (held.length === 0) return new Set();
    const { rows } = await this.pool.query<{ table_id: number }>(renewSql, [this.holder, this.ttlMs, held]);
    return new Set(rows.map((row) => row.table_id));
  }

  async release(held: readonly number[]): Promise<void> {
    if (held.length === 0) return;
    await this.pool.query(releaseSql, [this.holder, held]);
  }

  /** After a handover: the follow row goes if the table is not followed any more; otherwise the lease is released. */
  async forget(tableId: number): Promise<void> {
    await this.pool.query(forgetSql, [tableId, this.holder]);
    await this.release([tableId]);
  }

  async recordError(tableId: number, error: string): Promise<void> {
    await this.pool.query(recordErrorSql, [tableId, this.holder, error.slice(0, 4000)]);
  }

  async recordMissing(tableId: number, from: number, to: number, error: string): Promise<void> {
    await this.pool.query(recordMissingSql, [tableId, this.holder, from, to, error.slice(0, 4000)]);
  }
}
