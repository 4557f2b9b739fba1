/**
 * A table drop as the slot delivers it: the transactional logical decoding
 * message `deltameta drop` emits in its transaction (shared/log-store,
 * dropTable), and the drop event made from it. It travels the same queue as
 * the delta_commit rows, so it is published after every commit of the table
 * and acknowledged by the same flush rule.
 */
import { dropEventSchema, dropEventSchemaName, tableDropMessagePrefix, type DropEvent } from '../../shared/contracts/index.ts';
import { bigIntToLsn } from '../../shared/replication/index.ts';
import type { CommitRow } from './commit-row.ts';
import { CdcRowError } from './errors.ts';

export interface DropRow {
  readonly drop: true;
  readonly tableId: number;
  readonly table: string;
}

/** What one transaction of the slot carries, in order. */
export type SlotRow = CommitRow | DropRow;

export function isDropRow(row: SlotRow): row is DropRow {
  return 'drop' in row;
}

/** A logical decoding message of the slot: a DropRow when it is deltameta's drop message, else undefined (not ours). */
export function dropRowFromMessage(prefix: string, content: Uint8Array, lsn: string): DropRow | undefined {
  if (prefix !== tableDropMessagePrefix) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(content).toString('utf8'));
  } catch {
    throw new CdcRowError(lsn, `the ${prefix} message is not JSON`, {});
  }
  const parsed = dropEventSchema.pick({ table: true, tableId: true }).safeParse(json);
  if (!parsed.success) throw new CdcRowError(lsn, `the ${prefix} message lacks table or tableId`, {});
  return { drop: true, tableId: parsed.data.tableId, table: parsed.data.table };
}

export function dropEventFromRow(row: DropRow, commitEndLsn: bigint): DropEvent {
  return { schema: dropEventSchemaName, table: row.table, tableId: row.tableId, lsn: bigIntToLsn(commitEndLsn) };
}
