/**
 * Spark's ConflictChecker (delta-io/delta, spark/…/ConflictChecker.scala),
 * rule by rule and in its order, against one winning commit at a time.
 * Pure: the winners come from conflict-winners.ts, the transaction from
 * transaction-request.ts. Each rule names the Scala method it follows.
 * Where deltameta differs (docs/delta-log.md, "Commit rules"), the comment
 * says why.
 */
import { supportedFeatures, type ProtocolAction } from '../delta/index.ts';
import { CommitConflictError } from '../errors/index.ts';
import { matchesAny, type PartitionValues, type PhysicalPredicate } from './conflict-predicates.ts';
import { type WinnerSummary } from './conflict-winners.ts';
import { rowTrackingDomain, type IsolationLevel, type PreparedTransaction } from './transaction-request.ts';

/** Spark uses SnapshotIsolation for a commit whose file actions all have dataChange false (no concurrent-append check). */
export type EffectiveIsolation = IsolationLevel | 'SnapshotIsolation';

export interface ConflictContext {
  readonly txn: PreparedTransaction;
  readonly readVersion: number;
  readonly isolation: EffectiveIsolation;
  /** the loser's read predicates, physical-keyed, against the partition columns at the read version */
  readonly readPredicates: readonly PhysicalPredicate[];
  /** the table was partitioned at the read version (Spark: unpartitioned → every added file counts) */
  readonly partitionedAtRead: boolean;
  readonly readProtocol: ProtocolAction | undefined;
}

export function checkWinner(context: ConflictContext, winner: WinnerSummary): void {
  checkProtocolCompatibility(context, winner);
  checkNoMetadataUpdates(context, winner);
  checkIfDomainMetadataConflict(context, winner);
  checkForUpdatedApplicationTransactionIdsThatCurrentTxnDependsOn(context, winner);
  checkForAddedFilesThatShouldHaveBeenReadByCurrentTxn(context, winner);
  checkForDeletedFilesAgainstCurrentTxnReadFiles(context, winner);
  checkForDeletedFilesAgainstCurrentTxnDeletedFiles(context, winner);
}

function conflict(context: ConflictContext, winner: WinnerSummary, reason: CommitConflictError['reason'], detail: string): CommitConflictError {
  const by = winner.operation ? ` (winner: ${winner.operation})` : '';
  return new CommitConflictError(context.txn.table, reason, context.readVersion, winner.version, `${detail}${by}`);
}

/** Features a protocol supports (shared/delta supportedFeatures: Spark's rule); none without a protocol. */
export function protocolFeatures(protocol: ProtocolAction | undefined): ReadonlySet<string> {
  return protocol ? supportedFeatures(protocol) : new Set();
}

/**
 * checkProtocolCompatibility: a winner's protocol fails a loser that changes
 * the protocol too, and any loser when it drops a feature. Spark lets a
 * winner that only adds features pass unless one of them is marked
 * failConcurrentTransactionsAtUpgrade; deltameta has none of Spark's
 * per-feature reconciliation, so any added feature fails the loser (its
 * actions were decided under the old writer rules).
 */
function checkProtocolCompatibility(context: ConflictContext, winner: WinnerSummary): void {
  if (!winner.protocol) return;
  if (context.txn.changesProtocol) throw conflict(context, winner, 'protocol-changed', 'the protocol changed concurrently and this commit changes it too');
  const before = protocolFeatures(context.readProtocol);
  const after = protocolFeatures(winner.protocol);
  const dropped = [...before].filter((feature) => !after.has(feature));
  if (dropped.length > 0) throw conflict(context, winner, 'protocol-changed', `the protocol dropped ${dropped.join(', ')} concurrently`);
  const added = [...after].filter((feature) => !before.has(feature));
  if (added.length > 0) throw conflict(context, winner, 'protocol-changed', `the protocol added ${added.join(', ')} concurrently`);
}

/**
 * checkNoMetadataUpdates: any metadata change by a winner fails the loser.
 * (Spark tolerates IDENTITY-high-water-mark-only and row-tracking-enablement-
 * only updates; deltameta keeps neither exception: it cannot tell them apart
 * from the log without Spark's commit tags, and failing is the safe side.)
 */
function checkNoMetadataUpdates(context: ConflictContext, winner: WinnerSummary): void {
  if (winner.metadataChanged) throw conflict(context, winner, 'metadata-changed', 'the metadata changed concurrently');
}

/** checkIfDomainMetadataConflict: the same domain in both fails, except row tracking's, which this commit recomputes. */
function checkIfDomainMetadataConflict(context: ConflictContext, winner: WinnerSummary): void {
  for (const domain of context.txn.domains) {
    if (domain !== rowTrackingDomain && winner.domains.has(domain)) {
      throw conflict(context, winner, 'concurrent-domain-metadata', `domain ${JSON.stringify(domain)} was set concurrently`);
    }
  }
}

/** checkForUpdatedApplicationTransactionIdsThatCurrentTxnDependsOn: this commit's txn appIds count as read. */
function checkForUpdatedApplicationTransactionIdsThatCurrentTxnDependsOn(context: ConflictContext, winner: WinnerSummary): void {
  for (const appId of context.txn.appIds.keys()) {
    if (winner.appIds.has(appId)) throw conflict(context, winner, 'concurrent-transaction', `appId ${JSON.stringify(appId)} committed concurrently`);
  }
}

/** Whether the concurrent-append check needs the winners' adds at all. */
export function needsWinnerAdds(context: Pick<ConflictContext, 'txn' | 'isolation'>): boolean {
  return context.isolation !== 'SnapshotIsolation' && !context.txn.isBlindAppend;
}

/**
 * checkForAddedFilesThatShouldHaveBeenReadByCurrentTxn: Serializable counts
 * every file the winner added; WriteSerializable skips a blind-append
 * winner's adds unless this commit changes metadata; SnapshotIsolation
 * (this commit changes no data) counts none. A blind-append loser read
 * nothing; on an unpartitioned table or a whole-table read every counted
 * file conflicts, else those matching a read predicate
 * (getFirstFileMatchingPartitionPredicates).
 */
function checkForAddedFilesThatShouldHaveBeenReadByCurrentTxn(context: ConflictContext, winner: WinnerSummary): void {
  if (!needsWinnerAdds(context)) return;
  const countBlindAppends = context.isolation === 'Serializable' || context.txn.metadata !== undefined;
  if (winner.isBlindAppend && !countBlindAppends) return;
  const files = winner.addedPartitionValues;
  let matching: PartitionValues | undefined;
  if (context.txn.readWholeTable || !context.partitionedAtRead) matching = files[0];
  else matching = files.find((partitionValues) => matchesAny(context.readPredicates, partitionValues));
  if (matching) {
    throw conflict(context, winner, 'concurrent-append', `files were added concurrently to a partition this commit read (${describePartition(matching)}), under ${context.isolation}`);
  }
}

/**
 * checkForDeletedFilesAgainstCurrentTxnReadFiles: a winner removed a file
 * this commit read — named in readFiles, in a partition its predicates read
 * (Spark's readFiles hold every file its predicates scanned), or anything
 * when it read the whole table.
 */
function checkForDeletedFilesAgainstCurrentTxnReadFiles(context: ConflictContext, winner: WinnerSummary): void {
  for (const remove of winner.removes) {
    const read = context.txn.readFiles.has(remove.path) || context.txn.readWholeTable
      // A remove without partition values may be in any partition: counted as read (the safe side).
      || (context.readPredicates.length > 0 && (remove.partitionValues === null || matchesAny(context.readPredicates, remove.partitionValues)));
    if (read) throw conflict(context, winner, 'concurrent-delete-read', `${JSON.stringify(remove.path)}, which this commit read, was removed concurrently`);
  }
}

/** checkForDeletedFilesAgainstCurrentTxnDeletedFiles: by path, so the same file under another deletion vector counts. */
function checkForDeletedFilesAgainstCurrentTxnDeletedFiles(context: ConflictContext, winner: WinnerSummary): void {
  for (const remove of winner.removes) {
    if (context.txn.removedPaths.has(remove.path)) {
      throw conflict(context, winner, 'concurrent-delete-delete', `${JSON.stringify(remove.path)} was removed concurrently`);
    }
  }
}

function describePartition(partitionValues: PartitionValues): string {
  const entries = Object.entries(partitionValues);
  return entries.length === 0 ? 'unpartitioned' : entries.map(([key, value]) => `${key}=${value ?? 'null'}`).join(', ');
}
