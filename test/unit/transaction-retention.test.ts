/** delta.setTransactionRetentionDuration: the interval syntax, and which txns a snapshot keeps. */
import { expect } from 'chai';
import { transactionRetentionMs, unexpiredTransactions, type TxnAction } from '../../shared/delta/index.ts';
import { LogFormatError } from '../../shared/errors/index.ts';

const day = 86_400_000;
const retention = (value: string): Record<string, string> => ({ 'delta.setTransactionRetentionDuration': value });

describe('transaction retention', function () {
  it('reads Spark\'s interval syntax', function () {
    expect(transactionRetentionMs(undefined)).to.equal(undefined);
    expect(transactionRetentionMs({})).to.equal(undefined);
    expect(transactionRetentionMs(retention('interval 7 days'))).to.equal(7 * day);
    expect(transactionRetentionMs(retention('1 week 2 days'))).to.equal(9 * day);
    expect(transactionRetentionMs(retention('interval 1 hour 30 minutes'))).to.equal(90 * 60_000);
  });

  it('refuses what it cannot read, naming the property', function () {
    for (const value of ['7', 'seven days', 'interval 7 fortnights', 'interval -1 days']) {
      expect(() => transactionRetentionMs(retention(value)), value).to.throw(LogFormatError, /delta\.setTransactionRetentionDuration/);
    }
  });

  it('drops txns last updated before the retention, measured from the snapshot\'s time; keeps those without lastUpdated', function () {
    const now = 100 * day;
    const txns: TxnAction[] = [
      { appId: 'fresh', version: 3, lastUpdated: now - day },
      { appId: 'edge', version: 1, lastUpdated: now - 7 * day },
      { appId: 'stale', version: 9, lastUpdated: now - 8 * day },
      { appId: 'timeless', version: 2 },
    ];
    expect(unexpiredTransactions(txns, retention('interval 7 days'), now).map((txn) => txn.appId)).to.deep.equal(['fresh', 'edge', 'timeless']);
    expect(unexpiredTransactions(txns, {}, now)).to.have.length(4);
  });
});
