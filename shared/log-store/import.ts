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
  buildSegment, CheckpointUnreadableError, checkFirstVersion, checkOneVersion, inputLimits, listLog, readCheckpoint,
  readJsonActions, reportFallback, TableState, versionTimestamps, warnOnStderr, withoutCheckpoint,
  type InputLimits, type LocatedAction, type LogListing, type LogSegment, type MetadataAction, type OnLogWarning, type ProtocolAction,
} from '../delta/index.ts';
import { InternalError, LogFormatError, NotFoundError } from '../errors/index.ts';
import { checkSameTable } from './import-identity.ts';
import { checkKindBeforeSync, recordKindAfterImport, type FollowMode } from './table-kind.ts';
import type { ImportMaterializer, ImportMaterializerFactory } from './import-materializer.ts';
import { chooseBase, commitInfoOf, readTail } from './import-segment.ts';
import { TailRows } from './import-tail.ts';
import { emptySummary, RowBatch } from './rows.ts';
import { checkTableName, findTable, type TableRow } from './tables.ts';

// Named by shared/delta (checkpoint-read.ts, version-timestamps.ts) but not exported from its index.ts.
type FileTimeline = Awaited<ReturnType<typeof versionTimestamps>>;

export interface ImportOptions {
  /** Import every version the log retains, not just the newest checkpoint and its tail. */
  readonly history?: boolean;
  /** Rows buffered before a COPY flush (memory bound). */
  readonly batchRows?: number;
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Limits on what the log may hold (shared/delta input-limits.ts); the defaults where not given. */
  readonly limits?: Partial<InputLimits>;
  /** Told about each checkpoint skipped for an older base (default: a line on stderr). */
  readonly onWarning?: OnLogWarning;
  /**
   * Materializes a new table inside the import's transaction as its log is
   * read (shared/materialized importMaterialized passes it). Not for --history
   * nor a sync: the refresher brings those up to date.
   */
  readonly materializer?: ImportMaterializerFactory;
  /** What the import does to the kind (table-kind.ts): `register` makes it followed, `sync` requires it; else left alone. */
  readonly follow?: FollowMode;
  /**
   * Stored versions up to this one were checked against the folder by the caller's earlier sync: the identity check
   * (import-identity.ts) reads only later commit files (the follower syncs each new version; the head is always checked).
   */
  readonly historyCheckedUpTo?: number;
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

/** What one import attempt works from: the folder's log and the options. */
interface ImportInput {
  readonly listing: LogListing;
  readonly options: ImportOptions;
  readonly limits: InputLimits;
}

export async function importTable(pool: Pool, tableDir: string, tableName: string, options: ImportOptions = {}): Promise<ImportResult> {
  checkTableName(tableName);
  const limits = inputLimits(options.limits);
  const listing = await listLog(tableDir, limits);
  return inTransaction(pool, (client) => importListed(client, tableName, { listing, options, limits }));
}

/** importTable inside the caller's transaction (a handover: the last sync and the change of kind commit together). */
export async function importInTransaction(client: PoolClient, tableDir: string, tableName: string, options: ImportOptions = {}): Promise<ImportResult> {
  checkTableName(tableName);
  const limits = inputLimits(options.limits);
  return importListed(client, tableName, { listing: await listLog(tableDir, limits), options, limits });
}

async function importListed(client: PoolClient, tableName: string, input: ImportInput): Promise<ImportResult> {
  // Two imports of one table name must not interleave (creation or sync).
  await lockImport(client, tableName);
  const existing = await findTable(client, tableName, { forUpdate: true });
  if (existing) checkKindBeforeSync(existing, input.options.follow);
  else if (input.options.follow === 'sync') throw new NotFoundError(`table ${JSON.stringify(tableName)} does not exist (dropped while followed?): a follower's sync never creates one`);
  const result = existing ? await syncInTransaction(client, existing, input) : await createInTransaction(client, tableName, input);
  await recordKindAfterImport(client, result.tableId, existing, Math.max(result.toVersion, existing?.headVersion ?? -1), input.listing, input.options.follow);
  return result;
}

/**
 * A new table from its base (chooseBase). A base checkpoint found unreadable
 * mid-import is rolled back to the savepoint and the import starts again
 * from the next older base, as a replay falls back; the fallback is reported.
 */
async function createInTransaction(client: PoolClient, tableName: string, input: ImportInput): Promise<ImportResult> {
  let listing = input.listing;
  for (;;) {
    const segment = chooseBase(listing, input.options.history === true);
    await client.query('SAVEPOINT import_base');
    try {
      const logStart = segment.checkpoint?.version ?? 0;
      const { rows } = await client.query<{ table_id: number }>(
        'INSERT INTO deltameta.delta_table (name, location, log_start_version, kind) VALUES ($1, $2, $3, $4) RETURNING table_id',
        [tableName, realpathSync(listing.tableDir), logStart, input.options.follow === undefined ? 'owned' : 'followed'],
      );
      const tableId = (rows[0] as { table_id: number }).table_id;
      const materializer = input.options.history === true ? undefined : input.options.materializer?.(tableId);
      const start = { version: -1, metadata: undefined, protocol: undefined, timestampMs: -Infinity };
      const result = await writeVersions(client, tableId, segment, new TableState(false), start, { ...input, listing }, materializer);
      await materializer?.finish(client, { tableId, baseVersion: segment.checkpoint?.version, logStartVersion: logStart, version: result.toVersion });
      reportFallback(listing, listing.latestVersion, segment.checkpoint?.version ?? -1, input.options.onWarning ?? warnOnStderr);
      return { ...result, created: true };
    } catch (error) {
      if (!(error instanceof CheckpointUnreadableError) || error.checkpoint.version !== segment.checkpoint?.version) throw error;
      await client.query('ROLLBACK TO SAVEPOINT import_base');
      listing = withoutCheckpoint(listing, error);
    }
  }
}

/** New versions of a table already imported, after checking the folder is its own (import-identity.ts). */
async function syncInTransaction(client: PoolClient, existing: TableRow, input: ImportInput): Promise<ImportResult> {
  const { listing, limits } = input;
  // Before anything else (even "nothing new"): appending another table's versions would corrupt this one.
  await checkSameTable(client, existing, listing, limits, input.options.historyCheckedUpTo);
  if (existing.headVersion >= listing.latestVersion) {
    return { tableId: existing.tableId, created: false, fromVersion: existing.headVersion + 1, toVersion: existing.headVersion, rows: 0 };
  }
  const segment = buildSegment(listing, listing.latestVersion, { startAfter: existing.headVersion });
  if (segment.steps.some((step) => step.kind === 'compaction')) {
    throw new LogFormatError(listing.logDir, undefined, `versions after ${existing.headVersion} survive only in a compaction file; sync needs the commit files (re-import under a new name)`);
  }
  const state = await loadValidationState(client, existing.tableId, existing.headVersion);
  const validator = new TableState(false);
  // The stored state the new versions continue: a protocol change among them is checked against the stored protocol.
  validator.metadata = state.metadata;
  validator.protocol = state.protocol;
  return writeVersions(client, existing.tableId, segment, validator, { version: existing.headVersion, ...state }, input);
}

/** The version before a segment: the stored head (sync) or nothing yet (-1). */
interface SegmentStart {
  readonly version: number;
  readonly metadata: MetadataAction | undefined;
  readonly protocol: ProtocolAction | undefined;
  /** its time: below every new file-timed version's */
  readonly timestampMs: number;
}

/**
 * COPYs a segment's versions (its checkpoint as one version of state rows,
 * then each commit), timed as time travel reads them (versionTimestamps:
 * known once the base is, so the latest metaData is found without reading
 * the checkpoint twice).
 */
async function writeVersions(
  client: PoolClient,
  tableId: number,
  segment: LogSegment,
  validator: TableState,
  start: SegmentStart,
  { listing, options, limits }: ImportInput,
  materializer?: ImportMaterializer,
): Promise<ImportResult> {
  const batchRows = options.batchRows ?? 50_000;
  const batch = new RowBatch(tableId);
  // One COPY in flight while the next batch is parsed.
  let copying: Promise<void> = Promise.resolve();
  const flushInBackground = async (): Promise<void> => {
    await copying;
    const logRows = batch.flushInBackground(client);
    const stateRows = materializer?.take();
    copying = stateRows ? logRows.then(() => stateRows(client)) : logRows;
    // Surfaced by the next await of `copying`; never left unobserved.
    copying.catch(() => undefined);
  };
  const pending = (): number => batch.size + (materializer?.pending ?? 0);
  // The checkpoint's reader starts first: its worker loads while the tail is read.
  const baseReader = segment.checkpoint ? materializer?.readBase?.({ listing, checkpoint: segment.checkpoint, limits, tableId }) : undefined;
  let tail: Map<number, LocatedAction[]>;
  try {
    // With a materializer and a checkpoint, the tail is read first (materializer.tail): bounded by the tail's size.
    tail = materializer && segment.checkpoint ? await readTail(segment, limits, materializer) : new Map<number, LocatedAction[]>();
  } catch (error) {
    await baseReader?.close();
    throw error;
  }
  const tailRows = new TailRows(tail, batch);
  const stepsTotal = segment.steps.length + (segment.checkpoint ? 1 : 0);
  let stepsDone = 0;
  const progress = (): void => options.onProgress?.({ stepsDone, stepsTotal, rows: batch.totalRows });
  let timeline: FileTimeline | undefined = segment.checkpoint ? undefined : await versionTimestamps(listing, { limits, known: start });
  let lastFileTime = start.timestampMs;
  const timestampOf = (version: number): number => {
    if (!timeline) throw new InternalError(`import: version ${version} timed before its base was read`);
    const known = timeline.timestamps.get(version);
    // In-commit timestamps are the versions' times exactly: never adjusted, whatever the file times before them were.
    if (known !== undefined && timeline.inCommitTimestampsFrom !== undefined && version >= timeline.inCommitTimestampsFrom) return known;
    // File times: versions already in the database keep theirs; new ones must come after them.
    const timestamp = Math.max(known ?? Date.now(), lastFileTime + 1);
    lastFileTime = timestamp;
    return timestamp;
  };
  let fromVersion: number | undefined;

  try {
    if (segment.checkpoint) {
      const version = segment.checkpoint.version;
      fromVersion = version;
      // The state at the base version: from the checkpoint, or from the checkpoint plus compaction files.
      const summary = emptySummary();
      let ordinal = 0;
      const base = segment.steps.filter((step) => step.kind === 'compaction');
      if (base.length > 0) throw new LogFormatError(listing.logDir, undefined, 'the newest checkpoint is followed by compaction files only; import needs commit files');
      validator.beginCheckpoint();
      if (materializer && baseReader) {
        // Off the main thread: the chunks come as COPY text, written one at a time while the next is decoded.
        const chunks = baseReader.chunks();
        let next = await chunks.next();
        while (!next.done) {
          const chunk = next.value;
          for (const located of chunk.actions) validator.apply(located);
          batch.totalRows += chunk.rows;
          await copying;
          copying = chunk.write(client);
          copying.catch(() => undefined);
          // PostgreSQL ingests the chunk: meanwhile a tail version's rows, and a slice of the materializer's end.
          if (tailRows.buildNext() && batch.size >= batchRows) await flushInBackground();
          materializer.prepare?.();
          progress();
          next = await chunks.next();
        }
        for (const located of next.value.partitionSamples) validator.apply(located);
        Object.assign(summary, next.value.summary);
      } else {
        for await (const located of readCheckpoint(listing, segment.checkpoint, limits)) {
          validator.apply(located);
          batch.addAction(version, ordinal++, located.action, summary);
          if (located.action.kind === 'add') materializer?.baseAdd(version, located.action.add);
          if (pending() >= batchRows) {
            await flushInBackground();
            progress();
          }
        }
      }
      validator.endCheckpoint();
      timeline = await versionTimestamps(listing, { limits, known: { version, metadata: validator.metadata, protocol: validator.protocol } });
      // The version's own commitInfo (its in-commit timestamp, its operation) is kept when its commit file is: export
      // writes it back beside the checkpoint, where a reader timing versions by in-commit timestamps looks for it.
      const commitInfo = await commitInfoOf(listing, version, limits);
      batch.addCommit({ version, timestampMs: timestampOf(version), commitInfo, commitInfoOrdinal: commitInfo ? 0 : undefined, isCheckpoint: true }, summary);
      stepsDone++;
    }

    for (const step of segment.steps) {
      if (step.kind !== 'commit') throw new LogFormatError(step.file, undefined, 'compaction files can be replayed but not imported version by version');
      fromVersion ??= step.version;
      const actions = tail.get(step.version) ?? await readJsonActions(step.file, limits);
      if (step.version === 0) checkFirstVersion(actions, step.file);
      checkOneVersion(actions, step.file);
      for (const located of actions) validator.apply(located);
      const { summary, commitInfo, commitInfoOrdinal } = tailRows.rowsOf(step.version, actions);
      batch.addCommit({ version: step.version, timestampMs: timestampOf(step.version), commitInfo, commitInfoOrdinal, isCheckpoint: false }, summary);
      stepsDone++;
      if (pending() >= batchRows) {
        await flushInBackground();
        progress();
      }
    }
  } catch (error) {
    await baseReader?.close();
    // A COPY still running would interleave with the caller's rollback on this connection.
    await copying.catch(() => undefined);
    throw error;
  }
  await copying;
  await batch.flush(client);
  await materializer?.take()?.(client);
  progress();
  return { tableId, created: false, fromVersion: fromVersion ?? 0, toVersion: segment.version, rows: batch.totalRows };
}

// serves: delta_metadata and delta_protocol primary keys (latest at or before a version), delta_commit primary key
const validationStateSql = `
  SELECT (SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS metadata,
         (SELECT action FROM deltameta.delta_protocol WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS protocol,
         (SELECT timestamp_ms FROM deltameta.delta_commit WHERE table_id = $1 AND version = $2) AS timestamp_ms`;

async function loadValidationState(client: PoolClient, tableId: number, head: number): Promise<Omit<SegmentStart, 'version'>> {
  const { rows } = await client.query<{ metadata: string | null; protocol: string | null; timestamp_ms: number }>(validationStateSql, [tableId, head]);
  const row = rows[0];
  return {
    metadata: row?.metadata ? (JSON.parse(row.metadata) as MetadataAction) : undefined,
    protocol: row?.protocol ? (JSON.parse(row.protocol) as ProtocolAction) : undefined,
    timestampMs: row?.timestamp_ms ?? -Infinity,
  };
}

export function describeImport(result: ImportResult, tableName: string, tableDir: string): string {
  if (result.fromVersion > result.toVersion) return `${tableName}: already at version ${result.toVersion}, nothing new in ${path.resolve(tableDir)}`;
  const verb = result.created ? 'imported' : 'synced';
  return `${tableName}: ${verb} versions ${result.fromVersion}..${result.toVersion} (${result.rows} rows) from ${path.resolve(tableDir)}`;
}

