/**
 * PostgreSQL advisory locks: every namespace (the first int of the two-int
 * form, so deltameta's locks never meet another application's) and the one
 * order in which a holder of several takes them:
 *
 *   migrations  →  import (per table name)  →  table state (per table id)  →  file pages (per table id)
 *
 * A process never takes an earlier lock while holding a later one, so two
 * holders of overlapping sets cannot deadlock. Table ids beyond 2^31 wrap,
 * which at worst serializes two tables that did not need it.
 */
// pg's own type: shared/db imports this module (migrations), so this one does not import shared/db.
import type { ClientBase as PoolClient } from 'pg';

export const lockNamespaces = {
  /** schema migrations (the one-bigint form: the whole database) */
  migrations: 0x64656c7461n,
  /** `deltameta import` of one table, keyed by hashtext(name) ('dmi') */
  import: 0x646d69,
  /** materialized state of one table: file_index, table_state, partition_summary ('rfsh') */
  tableState: 0x72667368,
  /** file pages of one table ('fpag') */
  filePages: 0x66706167,
} as const;

const tableKey = (tableId: number): number => tableId % 2147483647;

export async function lockMigrations(client: PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [lockNamespaces.migrations.toString()]);
}

export async function unlockMigrations(client: PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1)', [lockNamespaces.migrations.toString()]);
}

/** Held until the transaction ends. */
export async function lockImport(client: PoolClient, tableName: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [lockNamespaces.import, tableName]);
}

/** Held until the transaction ends. */
export async function lockTableState(client: PoolClient, tableId: number): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [lockNamespaces.tableState, tableKey(tableId)]);
}

/** Held until the transaction ends (rebuild and retention, after lockTableState). */
export async function lockFilePages(client: PoolClient, tableId: number): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [lockNamespaces.filePages, tableKey(tableId)]);
}

/**
 * Held by the session until unlockFilePagesSession: the file-pages pass takes
 * it before BEGIN, because an xact lock taken as the transaction's first
 * statement is granted after its snapshot and would hide the previous
 * holder's pages.
 */
export async function lockFilePagesSession(client: PoolClient, tableId: number): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [lockNamespaces.filePages, tableKey(tableId)]);
}

export async function unlockFilePagesSession(client: PoolClient, tableId: number): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1, $2)', [lockNamespaces.filePages, tableKey(tableId)]);
}
