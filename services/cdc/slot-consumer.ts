/**
 * Slot consumption: delta_commit transactions from the replication slot go
 * to the flush position's queue, whole and in commit order. The stream is
 * reopened whenever it ends (from the slot, which redelivers what was not
 * acknowledged), and paused while Kafka is behind.
 *
 * Several instances (docs/scaling.md): PostgreSQL streams a slot to one
 * walsender at a time and refuses the others with 55006 ('replication slot
 * "x" is active for PID n'). The refused one stands by: it logs that once
 * (per holder), retries every `standbyRetryMs` (not with a growing
 * backoff), and takes over, from the slot's confirmed position, as soon as
 * the holder is gone. What the dead one published and did not confirm comes
 * again; downstream deduplicates (head pointers only move forward). A
 * slot gone or invalidated is created again (slot-loss.ts).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Pgoutput } from 'pg-logical-replication';
import type { PipelineConfig } from '../../shared/config/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { bigIntToLsn, lsnToBigInt, type Lsn } from '../../shared/replication/index.ts';
import { commitRowFromTuple } from './commit-row.ts';
import { dropRowFromMessage, type SlotRow } from './drop-row.ts';
import type { FlushPosition } from './flush-position.ts';
import type { PublisherLifecycle } from './publisher-state.ts';
import { ReplicationStream } from './replication-stream.ts';
import { readSlot, slotHolder } from './setup.ts';
import { SlotHeldError, slotHolderPid } from './errors.ts';
import { replaceSlot, slotLoss } from './slot-loss.ts';
import { InternalError } from '../../shared/errors/index.ts';

export interface SlotConsumerOptions {
  readonly postgresUrl: string;
  readonly pipeline: PipelineConfig;
  readonly pool: Pool;
  readonly flush: FlushPosition;
  readonly lifecycle: PublisherLifecycle;
  readonly logger: Logger;
  /** Received events held in memory before reading from the slot pauses. */
  readonly maxBufferedRows: number;
  /** A transaction was queued. */
  readonly onTransaction: () => void;
  /** A row that cannot become an event. */
  readonly onFailure: (error: unknown) => void;
  /** A lost slot was created anew (a metric). */
  readonly onSlotRecreated?: () => void;
  /** How often an instance standing by tries to take the slot. */
  readonly standbyRetryMs: number;
  /** Each time this instance starts streaming, before the stream's rows are sent: publishes what the slot will not deliver (slot-gap.ts). */
  readonly onStreamStart: (slotPosition: bigint) => Promise<void>;
}

/** `connecting`: not yet refused nor streaming; `standby`: another walsender holds the slot; `active`: this one streams it. */
export type CdcRole = 'connecting' | 'standby' | 'active';

/** The first wait after a failure that is not a held slot; each next one doubles, up to reconnectMaxBackoffMs. */
const firstBackoffMs = 100;

/** How long a graceful stop waits for the server to confirm the final flush position. */
const stopConfirmTimeoutMs = 5_000;

export class SlotConsumer {
  private readonly flush: FlushPosition;
  private readonly lifecycle: PublisherLifecycle;
  private stream: ReplicationStream | undefined;
  private supervisor: Promise<void> | undefined;
  private openTransaction: { commitLsn: string; rows: SlotRow[] } | undefined;
  /** Commit end of the newest transaction received: a reconnect redelivers older ones, which are dropped. */
  private receivedPosition = 0n;
  private paused = false;
  private currentRole: CdcRole = 'connecting';
  private holder: number | undefined;

  constructor(private readonly options: SlotConsumerOptions) {
    this.flush = options.flush;
    this.lifecycle = options.lifecycle;
  }

  get isStreaming(): boolean {
    return this.stream?.isOpen === true;
  }

  /** Whether this instance streams the slot, stands by for it, or has not got that far. */
  get role(): CdcRole {
    return this.currentRole;
  }

  /** The walsender pid holding the slot while this instance stands by. */
  get holderPid(): number | undefined {
    return this.currentRole === 'standby' ? this.holder : undefined;
  }

  get receivedLsn(): Lsn {
    return bigIntToLsn(this.receivedPosition);
  }

  /** The slot's confirmed position: what is before it was published (by this process or another), and is not expected again. */
  resumeFrom(slotPosition: bigint): void {
    this.flush.adoptSlotPosition(slotPosition);
    if (slotPosition > this.receivedPosition) this.receivedPosition = slotPosition;
  }

  /** Connects, then reconnects whenever the stream ends, until stopped; false if stopped before it streamed. */
  async start(): Promise<boolean> {
    // The slot can be held by another instance, or by the walsender of a process that just died: stand by until it is free.
    const stream = await this.connect('connecting to the replication slot');
    if (!stream || this.lifecycle.stopping) return false;
    this.supervisor = this.superviseStream();
    return true;
  }

  /** Reading from the slot pauses while this many events wait for Kafka, and resumes at half. */
  resumeIfCaughtUp(): void {
    if (this.paused && this.flush.unsentRows <= this.options.maxBufferedRows / 2) {
      this.paused = false;
      this.stream?.resume();
    }
  }

  /** Closes the stream at once (an abort: nothing more is confirmed). */
  async closeStream(): Promise<void> {
    await this.stream?.close();
  }

  /**
   * Ends streaming for good (the lifecycle is stopping). With
   * `confirmFlush`, first sends the flush position and waits until the slot
   * shows it: false if it did not within stopConfirmTimeoutMs.
   */
  async close(confirmFlush: boolean): Promise<boolean> {
    const stream = this.stream;
    const confirmed = !(stream?.isOpen && confirmFlush) || (await this.waitForSlotToConfirm(stream));
    await stream?.close();
    await this.supervisor;
    // The supervisor may have opened another stream before it saw the stop.
    await this.stream?.close();
    return confirmed;
  }

  /** The server applies a status update asynchronously: closing right after sending it could leave the slot behind (repeats). */
  private async waitForSlotToConfirm(stream: ReplicationStream): Promise<boolean> {
    const deadline = Date.now() + stopConfirmTimeoutMs;
    for (let attempt = 0; stream.isOpen && Date.now() < deadline; attempt++) {
      // Asking for a reply makes the walsender read it now even when it is busy decoding.
      if (attempt % 50 === 0) this.flush.resend(true);
      const slot = await readSlot(this.options.pool, this.options.pipeline.slotName).catch(() => undefined);
      if (slot?.position !== undefined && slot.position >= this.flush.current) return true;
      await delay(10);
    }
    return false;
  }

  /**
   * Opens a stream, retrying until it streams or the lifecycle stops
   * (undefined then, unless the attempt running succeeded: the caller
   * closes it). A held slot is standing by, every standbyRetryMs, logged
   * once per holder; any other failure is a warning and a growing backoff.
   */
  private async connect(what: string): Promise<ReplicationStream | undefined> {
    const { logger, pipeline, standbyRetryMs } = this.options;
    let backoffMs = firstBackoffMs;
    while (!this.lifecycle.stopping) {
      try {
        // Held by another walsender: stand by without a refused connection (PostgreSQL would log each one).
        const held = this.currentRole === 'standby' ? await slotHolder(this.options.pool, pipeline.slotName) : undefined;
        if (held !== undefined) throw new SlotHeldError(held);
        const stream = await this.openStream();
        if (this.currentRole === 'standby') logger.info({ slot: pipeline.slotName, lsn: this.flush.lsn }, 'taking over: the slot is free');
        this.currentRole = 'active';
        await this.options.onStreamStart(this.flush.current).catch(async (error: unknown) => {
          // Not streamed from: given back, to be opened again.
          this.flush.detach();
          this.stream = undefined;
          await stream.close();
          throw error;
        });
        return stream;
      } catch (error) {
        if (this.lifecycle.stopping) return undefined;
        const loss = slotLoss(error);
        if (loss !== undefined) {
          // Gone or invalidated: created anew (slot-loss.ts); onStreamStart publishes what it missed.
          const position = await replaceSlot(this.options.pool, pipeline.slotName, loss, logger).catch((setupError: unknown) => logger.warn({ err: setupError }, 'could not create the slot again'));
          if (position === undefined) await this.waitFor(1000);
          else this.resumeFrom(position);
          if (position !== undefined) this.options.onSlotRecreated?.();
          continue;
        }
        const holder = slotHolderPid(error);
        if (holder !== undefined) {
          if (this.currentRole !== 'standby' || holder !== this.holder) {
            logger.info({ slot: pipeline.slotName, pid: holder, retryMs: standbyRetryMs }, `standing by: slot held by pid ${holder}`);
          }
          this.currentRole = 'standby';
          this.holder = holder;
          backoffMs = firstBackoffMs;
          await this.waitFor(standbyRetryMs);
          continue;
        }
        if (this.currentRole === 'active') this.currentRole = 'connecting';
        logger.warn({ err: error, retryInMs: backoffMs }, `${what} failed; retrying`);
        // Waits of [backoff / 2, backoff), as withBackoff's.
        await this.waitFor(backoffMs / 2 + Math.random() * backoffMs / 2);
        backoffMs = Math.min(backoffMs * 2, pipeline.reconnectMaxBackoffMs);
      }
    }
    return undefined;
  }

  /** A wait that a stop ends at once. */
  private async waitFor(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.lifecycle.stopSignal }).catch(() => undefined);
  }

  private async openStream(): Promise<ReplicationStream> {
    const { postgresUrl, pipeline, pool } = this.options;
    const stream = await ReplicationStream.open(
      { postgresUrl, slotName: pipeline.slotName, publicationName: pipeline.publicationName, applicationName: 'deltameta-cdc-replication' },
      { onMessage: (message) => this.onMessage(message), onKeepalive: (walEnd, replyRequested) => this.onKeepalive(walEnd, replyRequested) },
    );
    // Now that this process holds the slot, nobody else moves it. It may be ahead of what this process knows
    // (another instance published while this one waited for the slot): never report less, never expect older.
    let slot: Awaited<ReturnType<typeof readSlot>>;
    try {
      slot = await readSlot(pool, pipeline.slotName);
    } catch (error) {
      await stream.close();
      throw error;
    }
    if (slot?.position !== undefined) this.resumeFrom(slot.position);
    this.stream = stream;
    this.paused = false;
    this.flush.attach(stream);
    return stream;
  }

  /** Reconnects with backoff whenever the stream ends, until stopped; resumes from the slot. */
  private async superviseStream(): Promise<void> {
    for (let stream = this.stream; stream; stream = this.stream) {
      const reason = await stream.ended;
      if (this.lifecycle.stopping) return;
      this.options.logger.warn({ err: reason, lsn: this.flush.lsn }, 'replication stream ended; reconnecting from the slot');
      this.stream = undefined;
      this.flush.detach();
      // A transaction cut off mid-way comes again in full.
      this.openTransaction = undefined;
      await stream.close();
      this.currentRole = 'connecting';
      const next = await this.connect('reconnecting to the replication slot');
      if (this.lifecycle.stopping) {
        await next?.close();
        return;
      }
      this.options.logger.info({ lsn: this.flush.lsn }, 'replication stream reconnected');
    }
  }

  private onMessage(message: Pgoutput.Message): void {
    if (!this.lifecycle.receiving) return;
    switch (message.tag) {
      case 'begin':
        this.openTransaction = { commitLsn: message.commitLsn ? bigIntToLsn(lsnToBigInt(message.commitLsn)) : 'unknown', rows: [] };
        return;
      case 'insert': {
        const { relation } = message;
        // The publication could have been altered to carry other tables: only delta_commit rows are commits.
        if (relation.schema !== 'deltameta' || relation.name !== 'delta_commit') return;
        const transaction = this.openTransaction;
        if (!transaction) throw new InternalError('pgoutput sent an insert outside a transaction');
        try {
          transaction.rows.push(commitRowFromTuple(message.new, transaction.commitLsn));
        } catch (error) {
          this.options.onFailure(error);
        }
        return;
      }
      case 'message': {
        // Non-transactional messages are not deltameta's: a drop is always emitted inside its transaction.
        const transaction = this.openTransaction;
        if (!message.transactional || !transaction) return;
        try {
          const drop = dropRowFromMessage(message.prefix, message.content, transaction.commitLsn);
          if (drop) transaction.rows.push(drop);
        } catch (error) {
          this.options.onFailure(error);
        }
        return;
      }
      case 'commit': {
        const transaction = this.openTransaction;
        this.openTransaction = undefined;
        if (!transaction || !message.commitEndLsn) throw new InternalError('pgoutput sent a commit without its begin or end LSN');
        const commitEndLsn = lsnToBigInt(message.commitEndLsn);
        if (commitEndLsn <= this.receivedPosition) return;
        this.receivedPosition = commitEndLsn;
        this.flush.transactionReceived({ commitEndLsn, rows: transaction.rows });
        this.pauseIfBehind();
        this.options.onTransaction();
        return;
      }
      default:
        // relation and type messages are the plugin's business; origin and truncate are not published.
        return;
    }
  }

  private onKeepalive(walEnd: bigint, replyRequested: boolean): void {
    this.flush.keepalive(walEnd, replyRequested, this.lifecycle.receiving && this.openTransaction === undefined);
  }

  private pauseIfBehind(): void {
    if (!this.paused && this.flush.unsentRows >= this.options.maxBufferedRows) {
      this.paused = true;
      this.stream?.pause();
      this.options.logger.debug({ bufferedEvents: this.flush.unsentRows }, 'Kafka is behind: pausing the replication stream');
    }
  }
}
