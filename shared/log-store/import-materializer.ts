/**
 * What an import hands to whoever materializes the table as it is read
 * (shared/materialized import-state.ts implements it; log-store cannot import
 * shared/materialized, which reads the log tables through this module). The
 * import calls it inside its own transaction: a failed import leaves no
 * materialized row either.
 */
import type { PoolClient } from '../db/index.ts';
import type { Action, AddAction, CheckpointFiles, InputLimits, LocatedAction, LogListing } from '../delta/index.ts';
import type { VersionSummary } from './rows.ts';

/** The versions an import wrote. */
export interface ImportedSegment {
  readonly tableId: number;
  /** the checkpoint the import started from; undefined when it read the commits from version 0 */
  readonly baseVersion: number | undefined;
  /** log_start_version of the new table */
  readonly logStartVersion: number;
  /** the newest version written */
  readonly version: number;
}

export interface ImportMaterializer {
  /**
   * One commit after the base checkpoint, told before the checkpoint is read
   * (in version order): the keys the tail touches wait for it, every other
   * add of the checkpoint is final as it comes.
   */
  tail(version: number, actions: readonly Action[]): void;
  /** One add of the base checkpoint, at the checkpoint's version. */
  baseAdd(version: number, add: AddAction): void;
  /** Rows ready to write. */
  readonly pending: number;
  /** Takes the rows ready to write now; the function returned writes them (undefined: nothing to write). */
  take(): ((client: PoolClient) => Promise<void>) | undefined;
  /**
   * Reads the base checkpoint itself (off the main thread), writing its log
   * rows as RowBatch would and its state rows as baseAdd would: each chunk's
   * `write` runs on the import's connection, one chunk at a time, in order.
   * The import validates the actions a chunk names (all but file actions)
   * and, at the end, one add per distinct set of partition columns.
   * Optional: without it the import reads the checkpoint and calls baseAdd.
   */
  readBase?(base: BaseInput): BaseReader;
  /**
   * Optional: a slice of what finish would do, done ahead while the import
   * waits on PostgreSQL (called between the chunks of readBase).
   */
  prepare?(): void;
  /** Every log row of the import is written: the rest of the state, in the same transaction. */
  finish(client: PoolClient, segment: ImportedSegment): Promise<void>;
}

/** Made once per attempt (an unreadable checkpoint restarts the import from an older base). */
export type ImportMaterializerFactory = (tableId: number) => ImportMaterializer;

export interface BaseInput {
  readonly listing: LogListing;
  readonly checkpoint: CheckpointFiles;
  readonly limits: InputLimits;
  readonly tableId: number;
}

/**
 * A base checkpoint being read: started by readBase before the tail is read
 * (a worker loads its modules meanwhile), its chunks asked for once the
 * tail's keys are known. Closed by the end of `chunks`, or by `close` when
 * the import fails before.
 */
export interface BaseReader {
  chunks(): AsyncGenerator<BaseChunk, BaseEnd>;
  close(): Promise<void>;
}

export interface BaseChunk {
  /** the actions to validate, in order: metadata, protocol, txn, domain metadata and any other non-file action */
  readonly actions: readonly LocatedAction[];
  /** log rows in this chunk (ImportResult.rows) */
  readonly rows: number;
  /** writes the chunk's rows: log tables, then materialized */
  readonly write: (client: PoolClient) => Promise<void>;
}

export interface BaseEnd {
  /** the checkpoint version's summary (its commit row) */
  readonly summary: VersionSummary;
  /** one add per distinct set of partition columns, for the deferred partition check */
  readonly partitionSamples: readonly LocatedAction[];
}
