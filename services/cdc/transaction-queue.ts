import type { CommitRow } from './commit-row.ts';

/** A committed transaction from the slot: its delta_commit rows (and table drops) and where its commit record ends. */
/**
 * Generic in the row: the publisher queues SlotRow (commits and drops); the
 * queue itself only counts rows, and its unit tests queue plain CommitRows.
 */
export interface ReceivedTransaction<Row = CommitRow> {
  readonly commitEndLsn: bigint;
  readonly rows: readonly Row[];
}

interface HeldTransaction<Row> extends ReceivedTransaction<Row> {
  /** Rows handed to a send (in flight or done). */
  taken: number;
  /** Rows Kafka has acknowledged. */
  published: number;
}

/** Rows taken for one Kafka send, oldest first; a transaction may be split across sends. */
export interface TakenBatch<Row = CommitRow> {
  readonly rows: ReadonlyArray<{ readonly row: Row; readonly commitEndLsn: bigint }>;
  readonly parts: ReadonlyArray<{ readonly transaction: HeldTransaction<Row>; readonly count: number }>;
}

/**
 * Transactions received from the slot and not yet acknowledged to
 * PostgreSQL, in commit order. The acknowledgeable position is the commit
 * end of the newest transaction such that it and every transaction before
 * it have all their rows on Kafka: a transaction with several rows (one
 * PostgreSQL transaction can commit several tables) is acknowledged only
 * after its last row is published, even when its rows went in several sends.
 */
export class TransactionQueue<Row = CommitRow> {
  private readonly held: Array<HeldTransaction<Row>> = [];
  /** Index in `held` of the first transaction with rows not yet taken. */
  private nextToTake = 0;
  private unsentRows = 0;

  /** Rows received and not yet handed to a send. */
  get unsent(): number {
    return this.unsentRows;
  }

  /** Transactions held (received, not all published). */
  get size(): number {
    return this.held.length;
  }

  push(transaction: ReceivedTransaction<Row>): void {
    this.held.push({ ...transaction, taken: 0, published: 0 });
    this.unsentRows += transaction.rows.length;
  }

  take(maxRows: number): TakenBatch<Row> {
    const rows: Array<{ row: Row; commitEndLsn: bigint }> = [];
    const parts: Array<{ transaction: HeldTransaction<Row>; count: number }> = [];
    while (rows.length < maxRows && this.nextToTake < this.held.length) {
      const transaction = this.held[this.nextToTake] as HeldTransaction<Row>;
      const count = Math.min(maxRows - rows.length, transaction.rows.length - transaction.taken);
      for (let index = transaction.taken; index < transaction.taken + count; index++) {
        rows.push({ row: transaction.rows[index] as Row, commitEndLsn: transaction.commitEndLsn });
      }
      if (count > 0) parts.push({ transaction, count });
      transaction.taken += count;
      if (transaction.taken === transaction.rows.length) this.nextToTake++;
    }
    this.unsentRows -= rows.length;
    return { rows, parts };
  }

  /** Records a batch as on Kafka; returns the position that may now be acknowledged, if it moved. */
  markPublished(batch: TakenBatch<Row>): bigint | undefined {
    for (const { transaction, count } of batch.parts) transaction.published += count;
    return this.releaseCompleted();
  }

  /**
   * Drops the fully published transactions at the head (transactions without
   * rows are complete on arrival) and returns the commit end of the last one.
   */
  releaseCompleted(): bigint | undefined {
    let position: bigint | undefined;
    for (let head = this.held[0]; head && head.published === head.rows.length; head = this.held[0]) {
      position = head.commitEndLsn;
      this.held.shift();
      this.nextToTake = Math.max(0, this.nextToTake - 1);
    }
    return position;
  }
}
