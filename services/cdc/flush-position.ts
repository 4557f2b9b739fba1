/**
 * The flush position: what the replication slot may forget. This class is
 * the only thing that moves it and the only thing that reports it to the
 * server, and it only moves in two ways:
 * - after Kafka acknowledged a send: to the commit end of the newest
 *   transaction that, with every transaction before it, has all its events
 *   on Kafka;
 * - on a keepalive while nothing is held (no transaction half received,
 *   none waiting or in flight): to the keepalive's WAL end, so WAL of other
 *   tables and databases does not pile up behind an idle slot.
 * A crash at any point therefore loses nothing; what was published and not
 * yet acknowledged comes again (at least once).
 *
 * pg-logical-replication's `acknowledge(lsn)` reports lsn + 1 ("last byte
 * received + 1"). The positions here are already "next byte" positions (a
 * commit's end LSN, a keepalive's WAL end), and a transaction whose commit
 * record starts at exactly that position must not be skipped, so the
 * library is handed position - 1.
 */
import { bigIntToLsn, type Lsn } from '../../shared/replication/index.ts';
import type { SlotRow } from './drop-row.ts';
import { TransactionQueue, type ReceivedTransaction, type TakenBatch } from './transaction-queue.ts';

/** Where status updates go: the open replication stream (pg-logical-replication's acknowledge). */
export interface StatusChannel {
  acknowledge(lsn: Lsn, requestReply: boolean): void;
}

export class FlushPosition {
  /** A "next byte" position, like a commit end LSN; 0 until the slot's own is known. */
  private position = 0n;
  private channel: StatusChannel | undefined;
  /** Transactions received and not yet all on Kafka, in commit order. */
  private readonly queue = new TransactionQueue<SlotRow>();

  /** Every transaction that commits before it is on Kafka. */
  get current(): bigint {
    return this.position;
  }

  get lsn(): Lsn {
    return bigIntToLsn(this.position);
  }

  /** Rows received and not yet handed to a send. */
  get unsentRows(): number {
    return this.queue.unsent;
  }

  /** Transactions received and not all on Kafka. */
  get heldTransactions(): number {
    return this.queue.size;
  }

  /**
   * The slot's own confirmed position, read at start and whenever a
   * connection holds the slot: another instance may have moved it ahead
   * (it published while this one waited for the slot). Never moves back.
   */
  adoptSlotPosition(slotPosition: bigint): void {
    if (slotPosition > this.position) this.position = slotPosition;
  }

  /** Status updates go to `channel` from now on; the position goes at once (one sent on a connection that then died may never have arrived). */
  attach(channel: StatusChannel): void {
    this.channel = channel;
    this.report(false);
  }

  detach(): void {
    this.channel = undefined;
  }

  /** A committed transaction from the slot; one without rows is complete on arrival, once those before it are. */
  transactionReceived(transaction: ReceivedTransaction<SlotRow>): void {
    this.queue.push(transaction);
    this.advanceTo(this.queue.releaseCompleted());
  }

  /** The next rows to send, oldest first, at most `maxRows`. */
  takeBatch(maxRows: number): TakenBatch<SlotRow> {
    return this.queue.take(maxRows);
  }

  /** Kafka acknowledged every event of `batch`. */
  batchPublished(batch: TakenBatch<SlotRow>): void {
    this.advanceTo(this.queue.markPublished(batch));
  }

  /**
   * A primary keepalive: the server has sent everything decoded before
   * `walEnd`, and all of it has reached the receiver (one connection, in
   * order). `betweenTransactions` is false while a transaction is half
   * received, or when the receiver no longer takes messages (halted,
   * stopping): then what it dropped may lie before `walEnd`.
   */
  keepalive(walEnd: bigint, replyRequested: boolean, betweenTransactions: boolean): void {
    if (betweenTransactions && this.queue.size === 0 && walEnd > this.position) {
      this.position = walEnd;
      this.report(false);
    } else if (replyRequested) {
      this.report(false);
    }
  }

  /** Reports the position again: wal_sender_timeout ends a silent connection. `requestReply` makes a busy walsender read it now. */
  resend(requestReply = false): void {
    this.report(requestReply);
  }

  private advanceTo(position: bigint | undefined): void {
    if (position === undefined || position <= this.position) return;
    this.position = position;
    this.report(false);
  }

  private report(requestReply: boolean): void {
    if (this.position <= 0n) return;
    this.channel?.acknowledge(bigIntToLsn(this.position - 1n), requestReply);
  }
}
