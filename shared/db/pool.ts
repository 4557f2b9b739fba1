import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// BIGINT (int8) columns hold versions and byte counts; they fit in a JS number
// (2^53) for any real table, and numbers keep the rest of the code simple.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PoolOptions {
  readonly max?: number;
  readonly applicationName?: string;
  /**
   * How long pool.connect() waits for a free connection before failing
   * (pg's connectionTimeoutMillis). Unset: forever — a pool exhausted by
   * slow work then queues every later caller without bound.
   */
  readonly acquireTimeoutMs?: number;
  /** Server-side statement_timeout of every session: one query string cannot keep PostgreSQL busy for minutes. */
  readonly statementTimeoutMs?: number;
  /** Server-side idle_in_transaction_session_timeout: a session left in a transaction (a stalled stream, a bug) is ended by PostgreSQL. */
  readonly idleInTransactionTimeoutMs?: number;
}

export function createPool(connectionString: string, options: PoolOptions = {}): Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'deltameta',
    idleTimeoutMillis: 30_000,
    // Sent in each connection's startup packet: set per session, before any query runs.
    ...(options.acquireTimeoutMs !== undefined ? { connectionTimeoutMillis: options.acquireTimeoutMs } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.idleInTransactionTimeoutMs !== undefined ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } : {}),
  });
  // An idle connection that PostgreSQL ends (a restart, a terminated backend) is
  // re-emitted by the pool as 'error': with no listener that ends the process.
  // The pool has already dropped the connection and the next query opens
  // another, so it is harmless; a service that wants it logged adds its own listener.
  pool.on('error', () => undefined);
  // The same for a connection ended while checked out between two queries
  // (a transaction's client): its next query fails and says so, instead of
  // the 'error' event ending the process.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/**
 * Runs `work` in one transaction on `client`, opened by `begin` (an
 * isolation level, a lock taken with it), committed, or rolled back if it
 * throws. The caller owns the client.
 */
export async function transactionOn<T>(client: PoolClient, work: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Runs `work` in one transaction on a connection of `pool`, rolled back if it throws. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await transactionOn(client, work);
  } finally {
    client.release();
  }
}
