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
