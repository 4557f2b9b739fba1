/**
 * A delta_commit row as pgoutput delivers it, and the commit event made from
 * it. pg-logical-replication types column values with pg's global type
 * parsers: bigint columns arrive as numbers where shared/db's parser is
 * installed, as strings where it is not (or as bigints from other setups),
 * so every column is checked rather than trusted.
 */
import { commitEventSchema, commitEventSchemaName, type CommitEvent } from '../../shared/contracts/index.ts';
import { bigIntToLsn } from '../../shared/replication/index.ts';
import { CdcRowError } from './errors.ts';

/** The delta_commit columns the event is made of (sql/000002_delta_log.sql). */
export interface CommitRow {
  readonly tableId: number;
  readonly version: number;
  readonly timestampMs: number;
  readonly operation: string | null;
  readonly adds: number;
  readonly removes: number;
  readonly metadataChanged: boolean;
  readonly protocolChanged: boolean;
}

type Tuple = Readonly<Record<string, unknown>>;

/** A column that does not hold what the schema promises; becomes a CdcRowError naming the row. */
class InvalidColumn extends Error {}

function integer(tuple: Tuple, column: string, min: number): number {
  const value = tuple[column];
  let parsed: number | undefined;
  if (typeof value === 'number') parsed = value;
  else if (typeof value === 'bigint') parsed = Number(value);
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) parsed = Number(value);
  if (parsed === undefined || !Number.isSafeInteger(parsed) || parsed < min) {
    throw new InvalidColumn(`${column} must be an integer >= ${min} within 2^53, got ${describe(value)}`);
  }
  return parsed;
}

function boolean(tuple: Tuple, column: string): boolean {
  const value = tuple[column];
  if (typeof value === 'boolean') return value;
  if (value === 't' || value === 'f') return value === 't';
  throw new InvalidColumn(`${column} must be a boolean, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'no such column';
  if (typeof value === 'bigint') return `${value}n`;
  return JSON.stringify(value) ?? `a ${typeof value}`;
}

/** Validates an inserted delta_commit tuple. `lsn` (the transaction's commit LSN) only names it in errors. */
export function commitRowFromTuple(tuple: Tuple, lsn: string): CommitRow {
  let tableId: number | undefined;
  let version: number | undefined;
  try {
    tableId = integer(tuple, 'table_id', 1);
    version = integer(tuple, 'version', 0);
    const operation = tuple['operation'];
    if (operation !== null && typeof operation !== 'string') throw new InvalidColumn(`operation must be text or null, got ${describe(operation)}`);
    return {
      tableId,
      version,
      // Dates stay within ±8.64e15 ms; the event schema checks the ISO form.
      timestampMs: integer(tuple, 'timestamp_ms', -8.64e15),
      operation,
      adds: integer(tuple, 'num_adds', 0),
      removes: integer(tuple, 'num_removes', 0),
      metadataChanged: boolean(tuple, 'metadata_changed'),
      protocolChanged: boolean(tuple, 'protocol_changed'),
    };
  } catch (error) {
    if (!(error instanceof InvalidColumn)) throw error;
    throw new CdcRowError(lsn, error.message, { tableId, version });
  }
}

/**
 * The event for a row of the table named `table`, in the transaction whose
 * commit ends at `commitEndLsn`. Validated against the contract's schema:
 * what does not pass is a CdcRowError, never a published event.
 */
export function commitEventFromRow(row: CommitRow, table: string, commitEndLsn: bigint): CommitEvent {
  const lsn = bigIntToLsn(commitEndLsn);
  const committedAt = new Date(row.timestampMs);
  const event = {
    schema: commitEventSchemaName,
    table,
    tableId: row.tableId,
    version: row.version,
    committedAt: Number.isNaN(committedAt.getTime()) ? String(row.timestampMs) : committedAt.toISOString(),
    operation: row.operation,
    adds: row.adds,
    removes: row.removes,
    metadataChanged: row.metadataChanged,
    protocolChanged: row.protocolChanged,
    lsn,
  };
  const parsed = commitEventSchema.safeParse(event);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new CdcRowError(lsn, reason, { tableId: row.tableId, version: row.version });
  }
  return parsed.data;
}
