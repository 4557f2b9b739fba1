/**
 * What the CDC publisher needs in PostgreSQL before it streams, created when
 * missing and safe when several instances start at once: the publication and
 * the slot (the topics: ensureCommitTopics in shared/contracts). The publication
 * comes first: pgoutput reads it with the catalog as of each decoded change,
 * so a slot older than its publication fails on the changes in between.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Pool } from '../../shared/db/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';
import { lsnToBigInt } from '../../shared/replication/index.ts';
import { markGapIfRecorded } from './slot-gap.ts';

/** SQLSTATEs of losing a creation race: duplicate_object, and unique_violation on the catalog's name index. */
const alreadyExists = new Set(['42710', '23505']);

/**
 * Setup failures that waiting does not fix: this code's own setup errors,
 * and PostgreSQL's invalid authorization (28), unknown database (3D),
 * syntax or access rule violation (42, e.g. no privilege to create the
 * publication) and wal_level below logical (55000). Anything else (a server
 * restarting, Kafka electing leaders) is retried.
 */
export function isPermanentSetupError(error: unknown): boolean {
  if (error instanceof DeltametaError) return true;
  const state = sqlState(error);
  return state !== undefined && (['28', '3D', '42'].includes(state.slice(0, 2)) || state === '55000');
}

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

// serves: pg_publication_pubname_index
const publicationExistsSql = 'SELECT 1 FROM pg_publication WHERE pubname = $1';

/**
 * The delta_commit columns the CDC reads (commit-row.ts): the publication
 * ships only these (a column list, PostgreSQL 15+), so commit_info, txn_id
 * and unknown_actions — writer-supplied, possibly large — never reach the
 * WAL sender's output or anyone holding the replication role.
 * sql/000007_publication_columns.sql gives existing publications the same list.
 */
export const publishedCommitColumns = [
  'table_id', 'version', 'timestamp_ms', 'operation', 'num_adds', 'num_removes', 'metadata_changed', 'protocol_changed',
] as const;

/** DDL takes no parameters: `publication` is quoted by quoteIdentifier. */
function createPublicationSql(publication: string): string {
  return `CREATE PUBLICATION ${quoteIdentifier(publication)} FOR TABLE deltameta.delta_commit (${publishedCommitColumns.join(', ')}) WITH (publish = 'insert')`;
}

// serves: pg_publication_pubname_index (pg_publication_tables reads pg_publication_rel by publication)
const publicationCarriesCommitsSql = `
  SELECT p.pubinsert,
         EXISTS (SELECT 1 FROM pg_publication_tables t
                  WHERE t.pubname = p.pubname AND t.schemaname = 'deltameta' AND t.tablename = 'delta_commit') AS has_table
    FROM pg_publication p WHERE p.pubname = $1`;

// serves: no index: creates the slot, reads no table
const createSlotSql = `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`;

// serves: no index: pg_replication_slots is the max_replication_slots entries in shared memory
const readSlotSql = `
  SELECT plugin, slot_type, database = current_database() AS same_database, confirmed_flush_lsn::text
    FROM pg_replication_slots WHERE slot_name = $1`;

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Creates the publication when missing; an existing one must publish delta_commit inserts, or commits would be skipped. */
export async function ensurePublication(pool: Pool, publicationName: string): Promise<boolean> {
  let created = false;
  const { rows } = await pool.query(publicationExistsSql, [publicationName]);
  if (rows.length === 0) {
    try {
      await pool.query(createPublicationSql(publicationName));
      created = true;
    } catch (error) {
      if (!alreadyExists.has(sqlState(error) ?? '')) throw error;
    }
  }
  const { rows: checks } = await pool.query<{ pubinsert: boolean; has_table: boolean }>(publicationCarriesCommitsSql, [publicationName]);
  const check = checks[0];
  if (!check?.pubinsert || !check.has_table) {
    throw new ReplicationSetupError('publication', publicationName, 'it exists but does not publish inserts into deltameta.delta_commit');
  }
  return created;
}

/**
 * Thrown when the configured slot or publication exists but cannot serve
 * this publisher (another database, another plugin, other tables).
 */
export class ReplicationSetupError extends DeltametaError {
  readonly kind: 'slot' | 'publication';
  readonly objectName: string;
  constructor(kind: 'slot' | 'publication', objectName: string, reason: string) {
    const variable = kind === 'slot' ? 'DELTAMETA_SLOT_NAME' : 'DELTAMETA_PUBLICATION_NAME';
    super('CONFIG_INVALID', `${kind === 'slot' ? 'replication slot' : 'publication'} ${objectName}: ${reason}; drop it or set ${variable} to another name`);
    this.kind = kind;
    this.objectName = objectName;
  }
}

/** Waiting for a slot that another process is creating: creation waits for the transactions running at the time. */
const slotCreationTimeoutMs = 60_000;

/**
 * Creates the slot when missing (marking the gap of a lost one first,
 * slot-gap.ts) and returns its confirmed flush position (everything
 * committed before it has been published). A slot another
 * instance is still creating shows without a position: wait for it.
 */
export async function ensureSlot(pool: Pool, slotName: string): Promise<{ position: bigint; created: boolean }> {
  const deadline = Date.now() + slotCreationTimeoutMs;
  let created = false;
  for (;;) {
    const slot = await readSlot(pool, slotName);
    if (slot?.position !== undefined) return { position: slot.position, created };
    if (Date.now() > deadline) throw new ReplicationSetupError('slot', slotName, `it had no confirmed position for ${slotCreationTimeoutMs} ms`);
    if (slot) {
      await delay(50);
      continue;
    }
    try {
      // A name with published versions recorded had a slot that was lost: its gap is marked before the new slot exists.
      await markGapIfRecorded(pool, slotName);
      await pool.query(createSlotSql, [slotName]);
      created = true;
    } catch (error) {
      if (!alreadyExists.has(sqlState(error) ?? '')) throw error;
    }
  }
}

/** The slot's confirmed flush position, undefined while it is being created; undefined slot when there is none. */
export async function readSlot(pool: Pool, slotName: string): Promise<{ position: bigint | undefined } | undefined> {
  const { rows } = await pool.query<{ plugin: string | null; slot_type: string; same_database: boolean; confirmed_flush_lsn: string | null }>(
    readSlotSql,
    [slotName],
  );
  const slot = rows[0];
  if (!slot) return undefined;
  if (slot.slot_type !== 'logical' || slot.plugin !== 'pgoutput') {
    throw new ReplicationSetupError('slot', slotName, `it is a ${slot.slot_type} slot of plugin ${slot.plugin ?? 'none'}, not pgoutput`);
  }
  if (!slot.same_database) throw new ReplicationSetupError('slot', slotName, 'it belongs to another database');
  return { position: slot.confirmed_flush_lsn ? lsnToBigInt(slot.confirmed_flush_lsn) : undefined };
}

// serves: no index: pg_replication_slots is the max_replication_slots entries in shared memory
const slotHolderSql = 'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1';

/**
 * The pid of the walsender streaming the slot, undefined when none does (or
 * there is no slot). Asked before connecting, so a standby does not make
 * PostgreSQL log a refused replication connection every retry.
 */
export async function slotHolder(pool: Pool, slotName: string): Promise<number | undefined> {
  const { rows } = await pool.query<{ active_pid: number | null }>(slotHolderSql, [slotName]);
  return rows[0]?.active_pid ?? undefined;
}
