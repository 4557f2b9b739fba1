/**
 * The write path: one version = one PostgreSQL transaction that appends the
 * commit row and its actions. The (table_id, version) primary key is the
 * optimistic-concurrency check. A commit that loses the race is checked
 * against the winners with Delta's conflict rules (PROTOCOL.md and the
 * Delta Spark ConflictChecker): blind appends are rebased onto the new
 * head and retried; a concurrent metadata or protocol change, a concurrent
 * remove of a file this commit removes or read, or a concurrent txn for the
 * same appId is a CommitConflictError. `commitInfo.txnId` makes a retried
 * commit idempotent: the same txnId returns the version it already got.
 */
import type { Pool, PoolClient } from '../db/index.ts';
import {
  checkActionValues, checkOneVersion, checkPartitionValues, fileKey, type Action, type CommitInfo, type LocatedAction, type MetadataAction,
} from '../delta/index.ts';
import { BadRequestError, CommitConflictError, LogFormatError, NotFoundError } from '../errors/index.ts';
import {
  commitClockSql, commitOfTxnIdSql, createTableSql, latestTxnVersionsSql, metadataAtSql, winningCommitsSql, winningRemovesSql, winningTxnsSql,
} from './commit-sql.ts';
import { emptySummary, RowBatch } from './rows.ts';
import { checkTableName, findTable } from './tables.ts';

export interface CommitRequest {
  readonly table: string;
  readonly actions: readonly Action[];
  /**
   * The version the writer read before deciding what to commit. Omitted: a
   * blind commit that read nothing (next version at whatever head is).
   */
  readonly readVersion?: number;
  /** Paths the writer read (besides those it removes): a concurrent remove of one is a conflict. */
  readonly readPaths?: readonly string[];
  /** Attempts before giving up on a hot table (each lost race against a compatible winner is one). Default 100. */
  readonly maxAttempts?: number;
  /** Where the actions came from, for error messages. */
  readonly source?: string;
}

export interface CommitResult {
  readonly version: number;
  readonly attempts: number;
  /** true when a commit with this commitInfo.txnId already existed and nothing was written */
  readonly alreadyCommitted: boolean;
  readonly created: boolean;
}

const uniqueViolation = '23505';

interface PreparedCommit {
  readonly actions: readonly Action[];
  readonly commitInfo: CommitInfo | undefined;
  readonly commitInfoOrdinal: number | undefined;
  readonly metadata: MetadataAction | undefined;
  readonly changesMetadata: boolean;
  readonly changesProtocol: boolean;
  readonly removedKeys: ReadonlySet<string>;
  readonly readPaths: ReadonlySet<string>;
  readonly appIds: ReadonlyMap<string, number>;
  readonly isBlindAppend: boolean;
}

function prepare(request: CommitRequest): PreparedCommit {
  const source = request.source ?? 'commit';
  if (request.actions.length === 0) throw new BadRequestError('a commit needs at least one action');
  // Callers may hand over actions they built rather than parsed: the same value checks as a parsed line.
  request.actions.forEach((action, index) => checkActionValues(action, source, index + 1));
  checkOneVersion(request.actions.map((action, index): LocatedAction => ({ action, file: source, line: index + 1 })), source);
  let commitInfo: CommitInfo | undefined;
  let commitInfoOrdinal: number | undefined;
  let metadata: MetadataAction | undefined;
  let changesProtocol = false;
  const removedKeys = new Set<string>();
  const readPaths = new Set(request.readPaths ?? []);
  const appIds = new Map<string, number>();
  const addedKeys = new Set<string>();
  request.actions.forEach((action, index) => {
    switch (action.kind) {
      case 'commitInfo':
        if (commitInfo) throw new LogFormatError(source, index + 1, 'a second commitInfo in one commit');
        commitInfo = action.commitInfo;
        commitInfoOrdinal = index;
        break;
      case 'metaData':
        metadata = action.metaData;
        break;
      case 'protocol':
        changesProtocol = true;
        break;
      case 'remove':
        removedKeys.add(fileKey(action.remove));
        readPaths.add(action.remove.path);
        break;
      case 'add':
        addedKeys.add(fileKey(action.add));
        break;
      case 'txn':
        if (appIds.has(action.txn.appId)) throw new LogFormatError(source, index + 1, `a second txn for appId ${action.txn.appId}`);
        appIds.set(action.txn.appId, action.txn.version);
        break;
      case 'checkpointMetadata':
      case 'sidecar':
        throw new LogFormatError(source, index + 1, `${action.kind} belongs in checkpoints, not in commits`);
      default:
        break;
    }
  });
  for (const key of addedKeys) {
    if (removedKeys.has(key)) throw new BadRequestError(`${source}: the commit both adds and removes ${JSON.stringify(key.split('\u0000')[0])}`);
  }
  const isBlindAppend = removedKeys.size === 0 && readPaths.size === 0 && !metadata && !changesProtocol;
  return {
    actions: request.actions, commitInfo, commitInfoOrdinal, metadata, changesMetadata: metadata !== undefined, changesProtocol,
    removedKeys, readPaths, appIds, isBlindAppend,
  };
}

export async function commit(pool: Pool, request: CommitRequest): Promise<CommitResult> {
  checkTableName(request.table);
  const prepared = prepare(request);
  const maxAttempts = request.maxAttempts ?? 100;
  let checkedUpTo = request.readVersion;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const outcome = await attemptCommit(client, request, prepared, checkedUpTo);
      if (outcome.kind === 'lost-race') {
        await client.query('ROLLBACK');
        // The winners up to the head we saw passed the conflict rules; only newer ones need checking next time.
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

async function attemptCommit(
  client: PoolClient,
  request: CommitRequest,
  prepared: PreparedCommit,
  checkedUpTo: number | undefined,
): Promise<AttemptOutcome> {
  let table = await findTable(client, request.table);
  let created = false;
  if (!table) {
    if (request.readVersion !== undefined && request.readVersion >= 0) throw new NotFoundError(`table ${JSON.stringify(request.table)} does not exist`);
    if (!prepared.metadata || !prepared.changesProtocol) {
      throw new NotFoundError(`table ${JSON.stringify(request.table)} does not exist; creating it needs a commit with protocol and metaData`);
    }
    const { rows } = await client.query<{ table_id: number }>(createTableSql, [request.table]);
    if (rows.length === 0) throw new CommitConflictError(request.table, 'table-exists', -1, 0, 'another writer created the table first');
    table = { tableId: (rows[0] as { table_id: number }).table_id, name: request.table, location: null, logStartVersion: 0, headVersion: -1 };
    created = true;
  }
  const txnId = prepared.commitInfo?.txnId;
  if (typeof txnId === 'string') {
    const { rows } = await client.query<{ version: number }>(commitOfTxnIdSql, [table.tableId, txnId]);
    if (rows[0]) return { kind: 'committed', result: { version: rows[0].version, alreadyCommitted: true, created: false } };
  }
  const head = table.headVersion;
  const readVersion = request.readVersion ?? head;
  if (readVersion > head) throw new BadRequestError(`${request.table}: read version ${readVersion} is newer than the table's latest version ${head}`);
  if (readVersion < table.logStartVersion - 1) {
    throw new BadRequestError(`${request.table}: read version ${readVersion} is before the oldest retained version ${table.logStartVersion}`);
  }
  const since = Math.max(readVersion, checkedUpTo ?? readVersion);
  if (head > since) await checkConflicts(client, request.table, table.tableId, prepared, readVersion, since, head);
  await checkTxnVersions(client, request.table, table.tableId, prepared, head);
  const version = head + 1;
  await checkAgainstMetadata(client, table.tableId, head, prepared, request.source ?? 'commit');

  const summary = emptySummary();
  const batch = new RowBatch(table.tableId);
  prepared.actions.forEach((action, ordinal) => batch.addAction(version, ordinal, action, summary));
  // Strictly increasing timestamps per table, as time travel needs.
  const { rows: clock } = await client.query<{ now_ms: number; previous_ms: number | null }>(commitClockSql, [table.tableId, head]);
  const nowMs = clock[0]?.now_ms ?? Date.now();
  const timestampMs = Math.max(nowMs, (clock[0]?.previous_ms ?? -Infinity) + 1);
  batch.addCommit(
    { version, timestampMs, commitInfo: prepared.commitInfo, commitInfoOrdinal: prepared.commitInfoOrdinal, isCheckpoint: false },
    summary,
  );
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

/** Delta's conflict rules against each winning commit in (since, head]. */
async function checkConflicts(
  client: PoolClient,
  tableName: string,
  tableId: number,
  prepared: PreparedCommit,
  readVersion: number,
  since: number,
  head: number,
): Promise<void> {
  const { rows: winners } = await client.query<{ version: number; metadata_changed: boolean; protocol_changed: boolean }>(
    winningCommitsSql, [tableId, since, head],
  );
  for (const winner of winners) {
    if (winner.protocol_changed) {
      throw new CommitConflictError(tableName, 'protocol-changed', readVersion, winner.version, 'the protocol changed concurrently');
    }
    if (winner.metadata_changed) {
      throw new CommitConflictError(tableName, 'metadata-changed', readVersion, winner.version, 'the metadata changed concurrently');
    }
    if (prepared.changesMetadata || prepared.changesProtocol) {
      throw new CommitConflictError(tableName, prepared.changesProtocol ? 'protocol-changed' : 'metadata-changed', readVersion, winner.version,
        'a metadata or protocol change must be committed on top of the latest version');
    }
  }
  if (prepared.removedKeys.size > 0 || prepared.readPaths.size > 0) {
    const { rows: removes } = await client.query<{ version: number; path: string; dv_id: string }>(winningRemovesSql, [tableId, since, head]);
    for (const remove of removes) {
      const key = `${remove.path}\u0000${remove.dv_id}`;
      if (prepared.removedKeys.has(key)) {
        throw new CommitConflictError(tableName, 'concurrent-delete-delete', readVersion, remove.version, `${JSON.stringify(remove.path)} was removed concurrently`);
      }
      if (prepared.readPaths.has(remove.path)) {
        throw new CommitConflictError(tableName, 'concurrent-delete-read', readVersion, remove.version, `${JSON.stringify(remove.path)}, which this commit read, was removed concurrently`);
      }
    }
  }
  if (prepared.appIds.size > 0) {
    const { rows: txns } = await client.query<{ version: number; app_id: string }>(
      winningTxnsSql, [tableId, since, head, [...prepared.appIds.keys()]],
    );
    const first = txns[0];
    if (first) {
      throw new CommitConflictError(tableName, 'concurrent-transaction', readVersion, first.version, `appId ${JSON.stringify(first.app_id)} committed concurrently`);
    }
  }
}

/** A txn version must move forward per appId: an old one means this batch was already committed (idempotent writers). */
async function checkTxnVersions(client: PoolClient, tableName: string, tableId: number, prepared: PreparedCommit, head: number): Promise<void> {
  if (prepared.appIds.size === 0) return;
  const { rows } = await client.query<{ app_id: string; txn_version: number; version: number }>(
    latestTxnVersionsSql, [tableId, [...prepared.appIds.keys()], head],
  );
  for (const row of rows) {
    const ours = prepared.appIds.get(row.app_id) ?? 0;
    if (ours <= row.txn_version) {
      throw new CommitConflictError(tableName, 'concurrent-transaction', head, row.version,
        `appId ${JSON.stringify(row.app_id)} is already at txn version ${row.txn_version} (this commit has ${ours})`);
    }
  }
}

/** Adds must match the partition columns of the metadata they will live under. */
async function checkAgainstMetadata(client: PoolClient, tableId: number, head: number, prepared: PreparedCommit, source: string): Promise<void> {
  let metadata = prepared.metadata;
  if (!metadata) {
    const { rows } = await client.query<{ action: string }>(metadataAtSql, [tableId, head]);
    metadata = rows[0] ? (JSON.parse(rows[0].action) as MetadataAction) : undefined;
  }
  prepared.actions.forEach((action, index) => {
    if (action.kind === 'add') checkPartitionValues(action.add.partitionValues, metadata, source, index + 1);
  });
}
