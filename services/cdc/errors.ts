import { commitEventSchemaName } from '../../shared/contracts/index.ts';
import { DeltametaError } from '../../shared/errors/index.ts';

/**
 * Thrown when a delta_commit row from the slot cannot be turned into a valid
 * commit event (a value of the wrong type or out of range, a drop message
 * without its table). The publisher halts on it rather than
 * publish garbage or skip a version: its transaction and everything after it
 * stay unacknowledged in the slot until the cause is fixed.
 */
export class CdcRowError extends DeltametaError {
  /** Commit LSN of the transaction the row belongs to. */
  readonly lsn: string;
  readonly tableId: number | undefined;
  readonly version: number | undefined;
  constructor(lsn: string, reason: string, options: { tableId?: number; version?: number; cause?: unknown } = {}) {
    const where = [
      `transaction committed at ${lsn}`,
      options.tableId !== undefined ? `table_id ${options.tableId}` : undefined,
      options.version !== undefined ? `version ${options.version}` : undefined,
    ].filter(Boolean).join(', ');
    super('BAD_INPUT', `delta_commit row (${where}) cannot become a ${commitEventSchemaName} event: ${reason}`, { cause: options.cause });
    this.lsn = lsn;
    this.tableId = options.tableId;
    this.version = options.version;
  }
}

/** The slot seen active in pg_replication_slots before connecting. */
export class SlotHeldError extends Error {
  constructor(readonly pid: number) {
    super(`replication slot is active for PID ${pid}`);
  }
}

/** The pid of the walsender holding the slot, when `error` is PostgreSQL refusing a slot in use (55006). */
export function slotHolderPid(error: unknown): number | undefined {
  if (error instanceof SlotHeldError) return error.pid;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = 'code' in error ? error.code : undefined;
  const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
  const pid = /is active for PID (\d+)/.exec(message)?.[1];
  if (pid !== undefined) return Number(pid);
  return code === '55006' ? 0 : undefined;
}
