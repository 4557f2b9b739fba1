/**
 * Spark's checkProtocolCompatibility on a winner whose protocol drops a
 * feature: no commit through deltameta can make that winner (a commit that
 * drops a feature is refused, there is no DROP FEATURE), but the rule stays
 * for logs written elsewhere, so it is checked on the pure function.
 */
import { expect } from 'chai';
import type { ProtocolAction } from '../../shared/delta/index.ts';
import { CommitConflictError } from '../../shared/errors/index.ts';
import { checkWinner, prepareTransaction, type ConflictContext, type WinnerSummary } from '../../shared/log-store/index.ts';

const readProtocol: ProtocolAction = { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly', 'domainMetadata'] };

function context(): ConflictContext {
  const txn = prepareTransaction({
    table: 't', readVersion: 1,
    actions: [{ kind: 'add', add: { path: 'b', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } }],
  });
  return { txn, readVersion: 1, isolation: 'WriteSerializable', readPredicates: [], partitionedAtRead: false, readProtocol };
}

function winner(protocol: ProtocolAction | undefined): WinnerSummary {
  return {
    version: 2, operation: 'SET TBLPROPERTIES', isBlindAppend: false, metadataChanged: false, protocol,
    addedPartitionValues: [], removes: [], appIds: new Set(), domains: new Set(),
  };
}

function outcome(protocol: ProtocolAction | undefined): string {
  try {
    checkWinner(context(), winner(protocol));
    return 'compatible';
  } catch (error) {
    if (error instanceof CommitConflictError) return `${error.reason}: ${error.message}`;
    throw error;
  }
}

describe('conflict checker: protocol compatibility', function () {
  it('a winner that drops a feature fails the loser, naming the feature', function () {
    expect(outcome({ minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly'] })).to.match(/^protocol-changed: .*dropped domainMetadata/);
  });

  it('a winner that adds a feature fails the loser (deltameta has none of Spark\'s per-feature exceptions)', function () {
    expect(outcome({ minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly', 'domainMetadata', 'deletionVectors'] })).to.match(/^protocol-changed: .*added deletionVectors/);
  });

  it('a winner without a protocol change is compatible', function () {
    expect(outcome(undefined)).to.equal('compatible');
  });
});
