/**
 * `deltameta import`: loads a Delta table's `_delta_log` into the log
 * tables with COPY, in one transaction (bad input anywhere changes
 * nothing). By default from the newest checkpoint plus the commits after
 * it; with `history` from the oldest point the log still retains. Run again,
 * it appends only the versions that are new since.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { lockImport } from '../contracts/index.ts';
import { inTransaction, type Pool, type PoolClient } from '../db/index.ts';
import {
  buildSegment, checkFirstVersion, checkOneVersion, inputLimits, listLog, oldestReconstructableVersion, readCheckpoint, readJsonActions,
  TableState, versionTimestamps, type CommitInfo, type InputLimits, type LogListing, type LogSegment, type MetadataAction,
} from '../delta/index.ts';
import { LogFormatError } from '../errors/index.ts';
import { checkSameTable } from './import-identity.ts';
import { emptySummary, RowBatch } from './rows.ts';
import { checkTableName, findTable } from './tables.ts';

export interface ImportOptions {
  /** Import every version the log retains, not just the newest checkpoint and its tail. */
  readonly history?: boolean;
  /** Rows buffered before a COPY flush (memory bound). */
  readonly batchRows?: number;
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Limits on what the log may hold (shared/delta input-limits.ts); the defaults where not given. */
  readonly limits?: Partial<InputLimits>;
}

export interface ImportProgress {
  readonly stepsDone: number;
  readonly stepsTotal: number;
  readonly rows: number;
}

export interface ImportResult {
  readonly tableId: number;
  readonly created: boolean;
  /** first and last version written by this import; fromVersion > toVersion when nothing was new */
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly rows: number;
}


export async function importTable(pool: Pool, tableDir: string, tableName: string, options: ImportOptions = {}): Promise<ImportResult> {
  checkTableName(tableName);
  const limits = inputLimits(options.limits);
  const listing = await listLog(tableDir, limits);
  const timestamps = await versionTimestamps(listing);
  return inTransaction(pool, async (client) => {
    // Two imports of one table name must not interleave (creation or sync).
    await lockImport(client, tableName);
    return importInTransaction(client, listing, timestamps, tableName, options, limits);
  });
}

async function importInTransaction(
  client: PoolClient,
  listing: LogListing,
  timestamps: ReadonlyMap<number, number>,
  tableName: string,
  options: ImportOptions,
  limits: InputLimits,
): Promise<ImportResult> {
  const existing = await findTable(client, tableName, { forUpdate: true });
  const batchRows = options.batchRows ?? 50_000;
  let segment: LogSegment;
  let tableId: number;
  const validator = new TableState(false);
  let lastTimestamp = -Infinity;

  if (existing) {
    // Before anything else (even "nothing new"): appending another table's versions would corrupt this one.
    await checkSameTable(client, existing, listing, limits);
    if (existing.headVersion >= listing.latestVersion) {
      return { tableId: existing.tableId, created: false, fromVersion: existing.headVersion + 1, toVersion: existing.headVersion, rows: 0 };
    }
    tableId = existing.tableId;
    segment = buildSegment(listing, listing.latestVersion, { startAfter: existing.headVersion });
    if (segment.steps.some((step) => step.kind === 'compaction')) {
      throw new LogFormatError(listing.logDir, undefined, `versions after ${existing.headVersion} survive only in a compaction file; sync needs the commit files (re-import under a new name)`);
    }
    const state = await loadValidationState(client, tableId, existing.headVersion);
    validator.metadata = state.metadata;
    lastTimestamp = state.timestampMs;
  } else {
    segment = chooseBase(listing, options.history === true);
    const logStart = segment.checkpoint?.version ?? 0;
    const { rows } = await client.query<{ table_id: number }>(
      'INSERT INTO deltameta.delta_table (name, location, log_start_version) VALUES ($1, $2, $3) RETURNING table_id',
      [tableName, realpathSync(listing.tableDir), logStart],
    );
    tableId = (rows[0] as { table_id: number }).table_id;
  }

  const batch = new RowBatch(tableId);
  // One COPY in flight while the next batch is parsed.
  let copying: Promise<void> = Promise.resolve();
  const flushInBackground = async (): Promise<void> => {
    await copying;
    copying = batch.flushInBackground(client);
    // Surfaced by the next await of `copying`; never left unobserved.
    copying.catch(() => undefined);
  };
  const stepsTotal = segment.steps.length + (segment.checkpoint ? 1 : 0);
  let stepsDone = 0;
  const progress = (): void => options.onProgress?.({ stepsDone, stepsTotal, rows: batch.totalRows });
  const timestampOf = (version: number): number => {
    // Versions already in the database keep theirs; new ones must come after them.
    const timestamp = Math.max(timestamps.get(version) ?? Date.now(), lastTimestamp + 1);
    lastTimestamp = timestamp;
    return timestamp;
  };
  let fromVersion: number | undefined;

  if (segment.checkpoint) {
    const version = segment.checkpoint.version;
    fromVersion = version;
    // The state at the base version: from the checkpoint, or from the checkpoint plus compaction files.
    const summary = emptySummary();
    let ordinal = 0;
    const base = segment.steps.filter((step) => step.kind === 'compaction');
    if (base.length > 0) throw new LogFormatError(listing.logDir, undefined, 'the newest checkpoint is followed by compaction files only; import needs commit files');
    validator.beginCheckpoint();
    for await (const located of readCheckpoint(listing, segment.checkpoint, limits)) {
      validator.apply(located);
      batch.addAction(version, ordinal++, located.action, summary);
      if (batch.size >= batchRows) {
        await flushInBackground();
        progress();
      }
    }
    validator.endCheckpoint();
    batch.addCommit({ version, timestampMs: timestampOf(version), commitInfo: undefined, commitInfoOrdinal: undefined, isCheckpoint: true }, summary);
    stepsDone++;
  }

  for (const step of segment.steps) {
    if (step.kind !== 'commit') throw new LogFormatError(step.file, undefined, 'compaction files can be replayed but not imported version by version');
    fromVersion ??= step.version;
    const actions = await readJsonActions(step.file, limits);
    if (step.version === 0) checkFirstVersion(actions, step.file);
    checkOneVersion(actions, step.file);
    const summary = emptySummary();
    let commitInfo: CommitInfo | undefined;
    let commitInfoOrdinal: number | undefined;
    actions.forEach((located, ordinal) => {
      validator.apply(located);
      if (located.action.kind === 'commitInfo') {
        commitInfo = located.action.commitInfo;
        commitInfoOrdinal = ordinal;
      }
      batch.addAction(step.version, ordinal, located.action, summary);
    });
    batch.addCommit({ version: step.version, timestampMs: timestampOf(step.version), commitInfo, commitInfoOrdinal, isCheckpoint: false }, summary);
    stepsDone++;
    if (batch.size >= batchRows) {
      await flushInBackground();
      progress();
    }
  }
  await copying;
  await batch.flush(client);
  progress();
  return { tableId, created: !existing, fromVersion: fromVersion ?? 0, toVersion: segment.version, rows: batch.totalRows };
}

/** Where a new import starts: the newest checkpoint, or with history the oldest point the log can rebuild. */
function chooseBase(listing: LogListing, history: boolean): LogSegment {
  if (!history) return buildSegment(listing, listing.latestVersion);
  const oldest = oldestReconstructableVersion(listing);
  if (oldest === 0 && listing.commits.has(0)) return buildSegment(listing, listing.latestVersion, { startAfter: -1 });
  // The oldest checkpoint from which every later commit is still there.
  for (const checkpoint of [...listing.checkpoints].reverse()) {
    try {
      const tail = buildSegment(listing, listing.latestVersion, { startAfter: checkpoint.version });
      return { version: tail.version, checkpoint, steps: tail.steps };
    } catch (error) {
      if (!(error instanceof LogFormatError)) throw error;
    }
  }
  return buildSegment(listing, listing.latestVersion);
}

async function loadValidationState(client: PoolClient, tableId: number, head: number): Promise<{ metadata: MetadataAction | undefined; timestampMs: number }> {
  const { rows } = await client.query<{ action: string | null; timestamp_ms: number }>(
    `SELECT (SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS action,
            (SELECT timestamp_ms FROM deltameta.delta_commit WHERE table_id = $1 AND version = $2) AS timestamp_ms`,
    [tableId, head],
  );
  const row = rows[0];
  return { metadata: row?.action ? (JSON.parse(row.action) as MetadataAction) : undefined, timestampMs: row?.timestamp_ms ?? -Infinity };
}

export function describeImport(result: ImportResult, tableName: string, tableDir: string): string {
  if (result.fromVersion > result.toVersion) return `${tableName}: already at version ${result.toVersion}, nothing new in ${path.resolve(tableDir)}`;
  const verb = result.created ? 'imported' : 'synced';
  return `${tableName}: ${verb} versions ${result.fromVersion}..${result.toVersion} (${result.rows} rows) from ${path.resolve(tableDir)}`;
}

