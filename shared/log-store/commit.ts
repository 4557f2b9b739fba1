/**
 * The write path: one version = one PostgreSQL transaction that appends the
 * commit row and its actions. The (table_id, version) primary key is the
 * optimistic-concurrency check. A commit that loses the race is checked
 * against every winner since its read version with Spark's conflict rules
 * (conflict-checker.ts) and, when compatible, rebased: its row ids, row
 * commit versions and in-commit timestamp are redone for the version it
 * lands on (transaction-rewrite.ts). `commitInfo.txnId` makes a retried
 * commit idempotent: the same txnId returns the version it already got.
 */
import type { Pool, PoolClient } from '../db/index.ts';
import { checkPartitionValues, deletionVectorUniqueId, type MetadataAction, type ProtocolAction } from '../delta/index.ts';
import { BadRequestError, CommitConflictError, NotFoundError, TableFollowedError } from '../errors/index.ts';
import {
  commitClockSql, commitOfTxnIdSql, createTableSql, liveKeysOfPathsSql, lockTableRowSql, metadataAtSql, protocolAtSql, rowIdHighWaterMarkAtSql,
} from './commit-sql.ts';
import { checkWinner, needsWinnerAdds, protocolFeatures, type ConflictContext, type EffectiveIsolation } from './conflict-checker.ts';
import { physicalPredicates } from './conflict-predicates.ts';
import { loadWinners } from './conflict-winners.ts';
import { emptySummary, RowBatch } from './rows.ts';
import { checkTableName, findTable, type TableRow } from './tables.ts';
import {
  defaultIsolationLevel, isolationLevels, prepareTransaction, type CommitRequest, type IsolationLevel, type PreparedTransaction,
} from './transaction-request.ts';
import { highWaterMarkOf, inCommitTimestampsEnabled, landActions, rowTrackingActive } from './transaction-rewrite.ts';
import { checkWriterFeatures } from './transaction-features.ts';

export type { CommitRequest } from './transaction-request.ts';

export interface CommitResult {
  readonly version: number;
  readonly attempts: number;
  /** true when a commit with this commitInfo.txnId already existed and nothing was written */
  readonly alreadyCommitted: boolean;
  readonly created: boolean;
}

const uniqueViolation = '23505';

export async function commit(pool: Pool, request: CommitRequest): Promise<CommitResult> {
  checkTableName(request.table);
  const txn = prepareTransaction(request);
  const maxAttempts = request.maxAttempts ?? 100;
  // A retry keeps the first attempt's read version; only winners newer than the last head checked need checking again.
  let checkedUpTo: number | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const outcome = await attemptCommit(client, txn, checkedUpTo);
      if (outcome.kind === 'lost-race') {
        await client.query('ROLLBACK');
        checkedUpTo = outcome.checkedUpTo;
        continue;
      }
      await client.query('COMMIT');
      return { ...outcome.result, attempts: attempt };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
  throw new CommitConflictError(request.table, 'concurrent-transaction', request.readVersion ?? -1, -1, `gave up after ${maxAttempts} lost races`);
}

type AttemptOutcome =
  | { kind: 'committed'; result: Omit<CommitResult, 'attempts'> }
  | { kind: 'lost-race'; checkedUpTo: number };

async function attemptCommit(client: PoolClient, txn: PreparedTransaction, checkedUpTo: number | undefined): Promise<AttemptOutcome> {
  // Commits to one table queue on its row (PostgreSQL grants row locks in arrival order) instead of racing for the
  // next version: a racing loser restarts behind a writer that commits in a loop and can lose every round (seen: 100).
  // The head is read by the next statement, whose snapshot sees the commit the wait was for.
  await client.query(lockTableRowSql, [txn.table]);
  const found = await findTable(client, txn.table);
  if (found?.kind === 'followed') throw new TableFollowedError(found.name, found.location ?? '(no location)');
  const table = found ?? await createTable(client, txn);
  const created = !found;
  const txnId = txn.commitInfo?.txnId;
  if (typeof txnId === 'string' && !created) {
    const { rows } = await client.query<{ version: number }>(commitOfTxnIdSql, [table.tableId, txnId]);
    if (rows[0]) return { kind: 'committed', result: { version: Number(rows[0].version), alreadyCommitted: true, created: false } };
  }
  const head = table.headVersion;
  if (txn.readVersion === undefined && !txn.isBlindAppend && !created) {
    throw new BadRequestError(`${txn.table}: the table exists; a commit that changes its metadata or protocol needs the version it read (readVersion)`);
  }
  // A blind append without a read version read nothing: it is checked against nothing but lands on any head.
  const readVersion = txn.readVersion ?? (checkedUpTo ?? head);
  if (readVersion > head) throw new BadRequestError(`${txn.table}: read version ${readVersion} is newer than the table's latest version ${head}`);
  if (readVersion < table.logStartVersion - 1) {
    throw new BadRequestError(`${txn.table}: read version ${readVersion} is before the oldest retained version ${table.logStartVersion}`);
  }
  const readMetadata = await metadataAt(client, table.tableId, readVersion);
  const headMetadata = head === readVersion ? readMetadata : await metadataAt(client, table.tableId, head);
  const readProtocol = await protocolAt(client, table.tableId, readVersion);
  const headProtocol = head === readVersion ? readProtocol : await protocolAt(client, table.tableId, head);
  const since = Math.max(readVersion, checkedUpTo ?? readVersion);
  if (head > since) {
    const context: ConflictContext = {
      txn, readVersion, isolation: isolationOf(txn, readMetadata),
      readPredicates: physicalPredicates(txn.readPredicates, readMetadata, txn.table),
      partitionedAtRead: (readMetadata?.partitionColumns.length ?? 0) > 0, readProtocol,
    };
    const winners = await loadWinners(client, table.tableId, since, head, { adds: needsWinnerAdds(context) });
    for (const winner of winners) checkWinner(context, winner);
  } else {
    // No winner to check against, but a bad predicate is refused all the same.
    physicalPredicates(txn.readPredicates, readMetadata, txn.table);
  }
  const version = head + 1;
  const metadata = txn.metadata ?? headMetadata;
  const protocol = txn.actions.reduce<ProtocolAction | undefined>((found, action) => (action.kind === 'protocol' ? action.protocol : found), headProtocol);
  checkAgainstMetadata(txn, metadata);
  checkWriterFeatures({ protocol, metadata, previousProtocol: headProtocol, actions: txn.actions, source: txn.source });
  await checkOneDeletionVectorPerPath(client, table.tableId, head, txn, protocol);

  const { rows: clock } = await client.query<{ now_ms: number; previous_ms: number | null }>(commitClockSql, [table.tableId, head]);
  const inCommitTimestamps = inCommitTimestampsEnabled(metadata, protocolFeatures(protocol));
  const wantedMs = inCommitTimestamps && typeof txn.commitInfo?.inCommitTimestamp === 'number' ? txn.commitInfo.inCommitTimestamp : Number(clock[0]?.now_ms ?? Date.now());
  // Strictly increasing timestamps per table, as time travel (and the in-commit timestamp rule) needs.
  const timestampMs = Math.max(wantedMs, Number(clock[0]?.previous_ms ?? -Infinity) + 1);
  const rowTracking = rowTrackingActive(protocolFeatures(protocol).has('rowTracking'), metadata);
  const enablesInCommitTimestamps = inCommitTimestamps && txn.metadata !== undefined && head >= 0 && !inCommitTimestampsEnabled(headMetadata, protocolFeatures(headProtocol));
  const landed = landActions(txn, {
    version, readVersion, timestampMs, inCommitTimestamps, enablesInCommitTimestamps, rowTracking,
    readHighWaterMark: rowTracking ? await highWaterMarkAt(client, table.tableId, readVersion) : -1,
    headHighWaterMark: rowTracking ? await highWaterMarkAt(client, table.tableId, head) : -1,
  });

  const summary = emptySummary();
  const batch = new RowBatch(table.tableId);
  landed.actions.forEach((action, ordinal) => batch.addAction(version, ordinal, action, summary));
  batch.addCommit({ version, timestampMs, commitInfo: landed.commitInfo, commitInfoOrdinal: landed.commitInfoOrdinal, isCheckpoint: false }, summary);
  try {
    await batch.flush(client);
  } catch (error) {
    if ((error as { code?: string }).code === uniqueViolation) {
      // Another writer took this version (or this txnId) first: re-read and try again.
      return { kind: 'lost-race', checkedUpTo: head };
    }
    throw error;
  }
  return { kind: 'committed', result: { version, alreadyCommitted: false, created } };
}

async function createTable(client: PoolClient, txn: PreparedTransaction): Promise<TableRow> {
  if (txn.readVersion !== undefined && txn.readVersion >= 0) throw new NotFoundError(`table ${JSON.stringify(txn.table)} does not exist`);
  if (!txn.metadata || !txn.changesProtocol) {
    throw new NotFoundError(`table ${JSON.stringify(txn.table)} does not exist; creating it needs a commit with protocol and metaData`);
  }
  const { rows } = await client.query<{ table_id: number }>(createTableSql, [txn.table]);
  if (rows.length === 0) throw new CommitConflictError(txn.table, 'table-exists', -1, 0, 'another writer created the table first');
  return { tableId: (rows[0] as { table_id: number }).table_id, name: txn.table, kind: 'owned', location: null, published: false, logStartVersion: 0, headVersion: -1 };
}

/**
 * The isolation level the checks run under: the request's, else the table's
 * `delta.isolationLevel` at the read version, else WriteSerializable; a
 * commit that changes no data runs under SnapshotIsolation (Spark's
 * OptimisticTransaction: rearranging files cannot break serializability).
 */
function isolationOf(txn: PreparedTransaction, readMetadata: MetadataAction | undefined): EffectiveIsolation {
  if (txn.changesNoData) return 'SnapshotIsolation';
  if (txn.isolationLevel) return txn.isolationLevel;
  const configured = readMetadata?.configuration?.['delta.isolationLevel'];
  if (configured === undefined) return defaultIsolationLevel;
  if (!isolationLevels.includes(configured as IsolationLevel)) {
    throw new BadRequestError(`${txn.table}: delta.isolationLevel is ${JSON.stringify(configured)}; deltameta commits under ${isolationLevels.join(' or ')} (pass one)`);
  }
  return configured as IsolationLevel;
}

async function metadataAt(client: PoolClient, tableId: number, version: number): Promise<MetadataAction | undefined> {
  if (version < 0) return undefined;
  const { rows } = await client.query<{ action: string }>(metadataAtSql, [tableId, version]);
  return rows[0] ? (JSON.parse(rows[0].action) as MetadataAction) : undefined;
}

async function protocolAt(client: PoolClient, tableId: number, version: number): Promise<ProtocolAction | undefined> {
  if (version < 0) return undefined;
  const { rows } = await client.query<{ action: string }>(protocolAtSql, [tableId, version]);
  return rows[0] ? (JSON.parse(rows[0].action) as ProtocolAction) : undefined;
}

async function highWaterMarkAt(client: PoolClient, tableId: number, version: number): Promise<number> {
  if (version < 0) return -1;
  const { rows } = await client.query<{ configuration: string; removed: boolean }>(rowIdHighWaterMarkAtSql, [tableId, version]);
  return highWaterMarkOf(rows[0]?.configuration, rows[0]?.removed);
}

/** Adds must match the partition columns of the metadata they will live under. */
function checkAgainstMetadata(txn: PreparedTransaction, metadata: MetadataAction | undefined): void {
  txn.actions.forEach((action, index) => {
    if (action.kind === 'add') checkPartitionValues(action.add.partitionValues, metadata, txn.source, index + 1);
  });
}

/**
 * A path is live with at most one deletion vector: adding (path, dv2) while
 * (path, dv1) is live at the version this lands on, without removing it in
 * the same commit, would make two logical files of one physical file.
 */
async function checkOneDeletionVectorPerPath(
  client: PoolClient, tableId: number, head: number, txn: PreparedTransaction, protocol: ProtocolAction | undefined,
): Promise<void> {
  const adds = txn.actions.flatMap((action) => (action.kind === 'add' ? [action.add] : []));
  const anyVector = adds.some((add) => deletionVectorUniqueId(add.deletionVector) !== '');
  if (adds.length === 0 || head < 0 || (!anyVector && !protocolFeatures(protocol).has('deletionVectors'))) return;
  const removedKeys = new Set(txn.actions.flatMap((action) => (action.kind === 'remove' ? [`${action.remove.path}\u0000${deletionVectorUniqueId(action.remove.deletionVector)}`] : [])));
  const { rows } = await client.query<{ path: string; dv_id: string }>(liveKeysOfPathsSql, [tableId, head, [...new Set(adds.map((add) => add.path))]]);
  for (const add of adds) {
    const dvId = deletionVectorUniqueId(add.deletionVector);
    const other = rows.find((row) => row.path === add.path && row.dv_id !== dvId && !removedKeys.has(`${row.path}\u0000${row.dv_id}`));
    if (other) {
      throw new BadRequestError(
        `${txn.source}: add ${JSON.stringify(add.path)} with deletion vector ${JSON.stringify(dvId || 'none')} while the file is live at version ${head} `
        + `with deletion vector ${JSON.stringify(other.dv_id || 'none')}; remove that one in the same commit`,
      );
    }
  }
}
