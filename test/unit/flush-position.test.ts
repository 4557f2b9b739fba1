/**
 * The flush rule, in the one place that enforces it: the slot's flush
 * position moves only after Kafka acknowledged every event of every
 * transaction up to it, or on a keepalive while nothing is held; what goes
 * to pg-logical-replication's acknowledge() is the position - 1 (it reports
 * lsn + 1).
 */
import { expect } from 'chai';
import { FlushPosition, type StatusChannel } from '../../services/cdc/index.ts';

/** Records what would go to pg-logical-replication's acknowledge(). */
class RecordingChannel implements StatusChannel {
  readonly sent: Array<[string, boolean]> = [];
  acknowledge(lsn: string, requestReply: boolean): void {
    this.sent.push([lsn, requestReply]);
  }
}

function rows(count: number) {
  return Array.from({ length: count }, (_, version) => ({
    tableId: 1, version, timestampMs: 0, operation: 'WRITE', adds: 1, removes: 0, metadataChanged: false, protocolChanged: false,
  }));
}

/** A flush position at 0/1000 (the slot's), reporting to a recording channel. */
function started(): { flush: FlushPosition; channel: RecordingChannel } {
  const flush = new FlushPosition();
  flush.adoptSlotPosition(0x1000n);
  const channel = new RecordingChannel();
  flush.attach(channel);
  channel.sent.length = 0;
  return { flush, channel };
}

describe('FlushPosition', () => {
  it('reports nothing before it knows the slot position, then the position - 1 on attach', () => {
    const flush = new FlushPosition();
    const channel = new RecordingChannel();
    flush.attach(channel);
    flush.resend(true);
    flush.keepalive(0x10n, true, false);
    expect(channel.sent).to.deep.equal([]);
    flush.adoptSlotPosition(0x1_0000_0000n);
    flush.attach(channel);
    expect(channel.sent).to.deep.equal([['0/FFFFFFFF', false]]);
    expect(flush.lsn).to.equal('1/0');
  });

  it('never takes an older slot position', () => {
    const { flush } = started();
    flush.adoptSlotPosition(0x800n);
    expect(flush.current).to.equal(0x1000n);
    flush.adoptSlotPosition(0x2000n);
    expect(flush.current).to.equal(0x2000n);
  });

  it('moves to a commit end only once Kafka acknowledged its events', () => {
    const { flush, channel } = started();
    flush.transactionReceived({ commitEndLsn: 0x1100n, rows: rows(2) });
    expect([flush.unsentRows, flush.heldTransactions]).to.deep.equal([2, 1]);
    const batch = flush.takeBatch(10);
    expect(flush.unsentRows).to.equal(0);
    expect(flush.current).to.equal(0x1000n);
    expect(channel.sent).to.deep.equal([]);
    flush.batchPublished(batch);
    expect(flush.current).to.equal(0x1100n);
    expect(channel.sent).to.deep.equal([['0/10FF', false]]);
    expect(flush.heldTransactions).to.equal(0);
  });

  it('moves past a transaction split across sends only after its last send', () => {
    const { flush, channel } = started();
    flush.transactionReceived({ commitEndLsn: 0x1100n, rows: rows(3) });
    const first = flush.takeBatch(2);
    const second = flush.takeBatch(2);
    flush.batchPublished(first);
    expect(flush.current).to.equal(0x1000n);
    flush.batchPublished(second);
    expect(flush.current).to.equal(0x1100n);
    expect(channel.sent).to.deep.equal([['0/10FF', false]]);
  });

  it('moves past a transaction without delta_commit rows only once those before it are on Kafka', () => {
    const { flush, channel } = started();
    flush.transactionReceived({ commitEndLsn: 0x1100n, rows: rows(1) });
    flush.transactionReceived({ commitEndLsn: 0x1200n, rows: [] });
    expect(flush.current).to.equal(0x1000n);
    flush.batchPublished(flush.takeBatch(10));
    expect(flush.current).to.equal(0x1200n);
    expect(channel.sent).to.deep.equal([['0/11FF', false]]);
    flush.transactionReceived({ commitEndLsn: 0x1300n, rows: [] });
    expect(flush.current).to.equal(0x1300n);
  });

  it('moves to a keepalive WAL end only while nothing is held', () => {
    const { flush, channel } = started();
    flush.keepalive(0x2000n, false, true);
    expect(flush.current).to.equal(0x2000n);
    expect(channel.sent).to.deep.equal([['0/1FFF', false]]);
    // Never backwards.
    flush.keepalive(0x1800n, false, true);
    expect(flush.current).to.equal(0x2000n);
    expect(channel.sent).to.have.length(1);
  });

  it('stays on a keepalive while a transaction is queued, in flight, or half received, answering a requested reply with the position as is', () => {
    const { flush, channel } = started();
    flush.transactionReceived({ commitEndLsn: 0x1100n, rows: rows(1) });
    flush.keepalive(0x2000n, false, true);
    const batch = flush.takeBatch(10);
    flush.keepalive(0x2000n, true, true);
    expect(flush.current).to.equal(0x1000n);
    expect(channel.sent).to.deep.equal([['0/FFF', false]]);
    flush.batchPublished(batch);
    // Between keepalives a transaction may be half received (or the receiver stopped taking messages).
    flush.keepalive(0x3000n, true, false);
    expect(flush.current).to.equal(0x1100n);
    expect(channel.sent).to.deep.equal([['0/FFF', false], ['0/10FF', false], ['0/10FF', false]]);
  });

  it('reports to the attached channel only, and the current position again on each attach', () => {
    const { flush, channel } = started();
    flush.detach();
    flush.keepalive(0x2000n, false, true);
    flush.resend();
    expect(channel.sent).to.deep.equal([]);
    expect(flush.current).to.equal(0x2000n);
    const next = new RecordingChannel();
    flush.attach(next);
    flush.resend(true);
    expect(next.sent).to.deep.equal([['0/1FFF', false], ['0/1FFF', true]]);
  });
});
