/**
 * Reading a big result a batch at a time through a server-side SQL cursor
 * (DECLARE … NO SCROLL CURSOR, FETCH FORWARD n), inside the caller's
 * transaction: memory holds one batch, never the whole result.
 *
 * Not pg-query-stream: pg-cursor keeps its portal open as the client's
 * active query (no Sync between Executes), so every other statement on that
 * client queues behind it until the stream ends — and applyVersions and
 * refreshFilePages write on the same client between batches. A SQL cursor
 * is only a name in the session: statements interleave freely between
 * FETCHes, and the batches come back as plain arrays (no per-row stream
 * event).
 */
import type { QueryResultRow } from 'pg';
import type { PoolClient } from './pool.ts';

export interface CursorBatchOptions {
  /** rows per FETCH */
  readonly batchRows: number;
  /** the cursor's name (as pg_cursors shows it), made unique on the connection with a counter */
  readonly name: string;
  /**
   * FETCH the next batch as soon as one is handed out, so PostgreSQL
   * produces it while the caller works on this one (the reader encodes a
   * batch while the next arrives). Statements the caller sends in between
   * run after that FETCH (a client runs its queries in order).
   */
  readonly fetchAhead?: boolean;
}

let cursorCounter = 0;

/**
 * The rows of `sql`, a non-empty batch at a time. The cursor is declared on
 * the first iteration and closed when the rows run out, when the consumer
 * stops early (break, return, throw) and on error; a failing CLOSE (the
 * transaction already aborted) is left to the caller's ROLLBACK.
 */
export async function* cursorBatches<Row extends QueryResultRow>(
  client: PoolClient,
  sql: string,
  params: readonly unknown[],
  options: CursorBatchOptions,
): AsyncGenerator<Row[]> {
  const cursor = `${options.name}_${++cursorCounter}`;
  const fetchSql = `FETCH FORWARD ${options.batchRows} FROM ${cursor}`;
  const fetch = (): Promise<Row[]> => client.query<Row>(fetchSql).then((result) => result.rows);
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`, [...params]);
  let ahead: Promise<Row[]> | undefined;
  try {
    let rows = await fetch();
    for (;;) {
      // A short batch is the last: the cursor is at its end.
      const more = rows.length >= options.batchRows;
      if (more && options.fetchAhead === true) {
        ahead = fetch();
        // Handled here so that a FETCH failing while the consumer is busy is
        // not an unhandled rejection; awaiting it below still throws.
        ahead.catch(() => undefined);
      }
      if (rows.length > 0) yield rows;
      if (!more) break;
      if (ahead) {
        const pending = ahead;
        ahead = undefined;
        rows = await pending;
      } else {
        rows = await fetch();
      }
    }
  } finally {
    // A consumer that stopped early: the FETCH in flight settles before CLOSE.
    if (ahead) await ahead.catch(() => undefined);
    await client.query(`CLOSE ${cursor}`).catch(() => undefined);
  }
}
