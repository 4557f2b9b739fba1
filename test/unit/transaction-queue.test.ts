/**
 * The queue behind the flush position: which commit end may be acknowledged
 * as sends are taken and published, in any order and split any way.
 */
import { expect } from 'chai';
import { TransactionQueue, type TakenBatch } from '../../services/cdc/index.ts';

/** Rows only need to be told apart here: version n of table 1. */
function rows(...versions: number[]) {
  return versions.map((version) => ({
    tableId: 1, version, timestampMs: 0, operation: 'WRITE', adds: 1, removes: 0, metadataChanged: false, protocolChanged: false,
  }));
}

function taken(batch: TakenBatch): Array<[number, bigint]> {
  return batch.rows.map(({ row, commitEndLsn }) => [row.version, commitEndLsn]);
}

describe('TransactionQueue', () => {
  it('holds nothing at first', () => {
    const queue = new TransactionQueue();
    expect([queue.unsent, queue.size]).to.deep.equal([0, 0]);
    expect(queue.releaseCompleted()).to.equal(undefined);
    expect(taken(queue.take(10))).to.deep.equal([]);
  });

  it('releases a transaction without rows at once when nothing is before it', () => {
    const queue = new TransactionQueue();
    queue.push({ commitEndLsn: 100n, rows: [] });
    expect(queue.releaseCompleted()).to.equal(100n);
    expect(queue.size).to.equal(0);
  });

  it('holds a transaction without rows behind one whose rows are not on Kafka', () => {
    const queue = new TransactionQueue();
    queue.push({ commitEndLsn: 100n, rows: rows(1) });
    queue.push({ commitEndLsn: 200n, rows: [] });
    expect(queue.releaseCompleted()).to.equal(undefined);
    expect(queue.size).to.equal(2);
    const batch = queue.take(10);
    expect(queue.markPublished(batch)).to.equal(200n);
    expect(queue.size).to.equal(0);
  });

  it('takes rows oldest first, each with its own commit end, at most maxRows a batch', () => {
    const queue = new TransactionQueue();
    queue.push({ commitEndLsn: 100n, rows: rows(1, 2) });
    queue.push({ commitEndLsn: 200n, rows: rows(3) });
    queue.push({ commitEndLsn: 300n, rows: rows(4, 5) });
    expect(queue.unsent).to.equal(5);
    expect(taken(queue.take(2))).to.deep.equal([[1, 100n], [2, 100n]]);
    expect(taken(queue.take(2))).to.deep.equal([[3, 200n], [4, 300n]]);
    expect(queue.unsent).to.equal(1);
    expect(taken(queue.take(2))).to.deep.equal([[5, 300n]]);
    expect(queue.unsent).to.equal(0);
    expect(taken(queue.take(2))).to.deep.equal([]);
  });

  it('acknowledges a transaction split across sends only when its last row is published', () => {
    const queue = new TransactionQueue();
    queue.push({ commitEndLsn: 100n, rows: rows(1, 2, 3) });
    queue.push({ commitEndLsn: 200n, rows: rows(4) });
    const first = queue.take(2);
    const second = queue.take(2);
    // The rest of the transaction is taken (in flight), not published: nothing may be acknowledged yet.
    expect(queue.markPublished(first)).to.equal(undefined);
    expect(queue.size).to.equal(2);
    expect(queue.markPublished(second)).to.equal(200n);
    expect(queue.size).to.equal(0);
  });

  it('acknowledges nothing past a transaction still in flight when a later send completes first', () => {
    const queue = new TransactionQueue();
    queue.push({ commitEndLsn: 100n, rows: rows(1) });
    queue.push({ commitEndLsn: 200n, rows: rows(2) });
    const older = queue.take(1);
    const newer = queue.take(1);
    expect(queue.markPublished(newer)).to.equal(undefined);
    expect(queue.markPublished(older)).to.equal(200n);
  });

  it('keeps taking where it was after the head is released', () => {
    const queue = new TransactionQueue();
    queue.push({ commitEndLsn: 100n, rows: rows(1) });
    queue.push({ commitEndLsn: 200n, rows: rows(2) });
    expect(queue.markPublished(queue.take(1))).to.equal(100n);
    queue.push({ commitEndLsn: 300n, rows: rows(3) });
    expect(taken(queue.take(10))).to.deep.equal([[2, 200n], [3, 300n]]);
    expect(queue.size).to.equal(2);
  });
});
