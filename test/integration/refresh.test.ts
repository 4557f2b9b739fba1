/**
 * The materialized state against the log tables, for generated tables
 * (deletion vectors, checkpoints, partitions) and hand-made commits: after
 * refreshes in steps of every size, file_index answers every version in its
 * range byte for byte like snapshotLines; counts and partition summaries
 * equal a recomputation; refreshing is idempotent, serialized and
 * incremental; rebuild, retention, verification and the catalog view work.
 */
import { expect } from 'chai';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, type Action, type AddAction } from '../../shared/delta/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import { commit, exportTable, importTable } from '../../shared/log-store/index.ts';
import {
  applyRetention, liveFileLines, mvStaleness, NotMaterializedError, rebuildTable, refreshMaterializedViews, refreshTable, verifyTable,
} from '../../shared/materialized/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { commitOnHead, snapshotOf, TempDirs } from '../support/tables.ts';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

async function expectError<T extends Error>(work: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const error = await work.then(() => undefined, (caught: unknown) => caught);
  expect(error, 'expected an error').to.be.instanceOf(type);
  return error as T;
}

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

function createActions(): Action[] {
  return [
    { kind: 'protocol', protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] } },
    {
      kind: 'metaData',
      metaData: { id: 'refresh-test', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: { 'delta.enableDeletionVectors': 'true' } },
    },
  ];
}

function fileAdd(path: string, options: { dv?: string; records?: number } = {}): AddAction {
  return {
    path, partitionValues: {}, size: 1000 + path.length, modificationTime: 1_700_000_000_000, dataChange: true,
    stats: JSON.stringify({ numRecords: options.records ?? 10 }),
    ...(options.dv ? { deletionVector: { storageType: 'i', pathOrInlineDv: options.dv, sizeInBytes: 8, cardinality: 1 } } : {}),
  };
}

const add = (path: string, options: { dv?: string; records?: number } = {}): Action => ({ kind: 'add', add: fileAdd(path, options) });
const remove = (path: string, dv?: string): Action => ({
  kind: 'remove',
  remove: { path, deletionTimestamp: 1_700_000_000_001, dataChange: true, ...(dv ? { deletionVector: { storageType: 'i', pathOrInlineDv: dv, sizeInBytes: 8, cardinality: 1 } } : {}) },
});

describeWithEnv('materialized state: refresh', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let generated: string;
  const commits = 63;

  /** Every version in [from, to]: file_index's lines equal the log tables' snapshot, byte for byte. */
  async function expectAnswersEqualLog(table: string, from: number, to: number): Promise<void> {
    for (let version = from; version <= to; version++) {
      const materialized = await collect(liveFileLines(pool, table, version));
      const fromLog = await snapshotOf(pool, table, { version });
      expect(materialized.join('\n'), `${table} at version ${version}`).to.equal(fromLog.lines.join('\n'));
    }
  }

  async function expectVerified(table: string): Promise<void> {
    const result = await verifyTable(pool, table);
    expect(result.problems, `${table} verification`).to.deep.equal([]);
    expect(result.ok).to.equal(true);
  }

  async function tableIdOf(table: string): Promise<number> {
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table]);
    return rows[0]?.table_id ?? -1;
  }

  /** The whole materialized state of a table, without the table id and the refresh time. */
  async function stateOf(table: string): Promise<{ files: unknown[]; state: unknown; partitions: unknown[] }> {
    const id = await tableIdOf(table);
    const files = await pool.query(
      `SELECT path, dv_id, added_version, removed_version, partition_values, size, num_records, stats, add_line
         FROM deltameta.file_index WHERE table_id = $1 ORDER BY path, dv_id, added_version`,
      [id],
    );
    const state = await pool.query(
      `SELECT mv_version, file_index_min_version, metadata, protocol, num_files, size_bytes, num_records, last_commit_at, last_timestamp_ms
         FROM deltameta.table_state WHERE table_id = $1`,
      [id],
    );
    const partitions = await pool.query(
      'SELECT partition_key, partition_values, num_files, size_bytes, num_records FROM deltameta.partition_summary WHERE table_id = $1 ORDER BY partition_key',
      [id],
    );
    return { files: files.rows, state: state.rows[0], partitions: partitions.rows };
  }

  async function headOf(table: string): Promise<number> {
    const { rows } = await pool.query<{ head: number }>(
      'SELECT max(version) AS head FROM deltameta.delta_commit WHERE table_id = $1',
      [await tableIdOf(table)],
    );
    return rows[0]?.head ?? -1;
  }

  before(async function () {
    this.timeout(120_000);
    pool = env.pool(6);
    generated = dirs.make('refresh');
    // Multi-part checkpoints every 10 versions; the newest (60) is followed by a tail of 3 commits.
    await generateTable(generated, { files: 300, commits, partitions: 4, checkpointInterval: 10, seed: 11, checkpointPartRows: 120 });
    await importTable(pool, generated, 'hist', { history: true });
  });

  after(async function () {
    await pool.end();
    dirs.removeAll();
  });

  it('refreshes in steps of any size and answers every version like the log', async function () {
    this.timeout(120_000);
    const first = await refreshTable(pool, 'hist', { upToVersion: 17, batchMaxVersions: 4 });
    expect(first).to.include({ fromVersion: 0, toVersion: 17, versionsApplied: 18, batches: 5 });
    await expectAnswersEqualLog('hist', 0, 17);
    await expectError(collect(liveFileLines(pool, 'hist', 18)), NotMaterializedError);

    const second = await refreshTable(pool, 'hist', { upToVersion: 40, batchMaxVersions: 7 });
    expect(second).to.include({ fromVersion: 18, toVersion: 40, versionsApplied: 23, batches: 4 });
    const rest = await refreshTable(pool, 'hist', { batchMaxVersions: 1 });
    expect(rest).to.include({ fromVersion: 41, toVersion: commits, versionsApplied: commits - 40, batches: commits - 40 });
    expect(rest.newestTimestampMs).to.be.a('number');
    await expectAnswersEqualLog('hist', 0, commits);
    await expectVerified('hist');
  });

  it('keeps counts and partition summaries equal to a recomputation', async function () {
    const id = await tableIdOf('hist');
    const { rows: [live] } = await pool.query<{ files: number; bytes: number; records: number }>(
      `SELECT count(*)::bigint AS files, sum(size)::bigint AS bytes, sum((stats->>'numRecords')::bigint)::bigint AS records
         FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL`,
      [id],
    );
    const { rows: [state] } = await pool.query<{ num_files: number; size_bytes: number; num_records: number }>(
      'SELECT num_files, size_bytes, num_records FROM deltameta.table_state WHERE table_id = $1',
      [id],
    );
    expect(live?.files).to.equal((await snapshotOf(pool, 'hist')).lines.length);
    expect(state).to.deep.equal({ num_files: live?.files, size_bytes: live?.bytes, num_records: live?.records });
    const { rows: recomputed } = await pool.query(
      `SELECT partition_values::text AS partition_key, count(*)::bigint AS num_files, sum(size)::bigint AS size_bytes,
              coalesce(sum(num_records), 0)::bigint AS num_records
         FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL GROUP BY partition_values ORDER BY 1`,
      [id],
    );
    const { rows: summary } = await pool.query(
      'SELECT partition_key, num_files, size_bytes, num_records FROM deltameta.partition_summary WHERE table_id = $1 ORDER BY 1',
      [id],
    );
    expect(summary).to.deep.equal(recomputed);
    // The generator's null partition is there too.
    expect(summary.map((row) => (row as { partition_key: string }).partition_key)).to.include('{"date": null}');
  });

  it('is idempotent: a second refresh finds nothing to do and changes nothing', async function () {
    const before = await stateOf('hist');
    const again = await refreshTable(pool, 'hist');
    expect(again).to.include({ fromVersion: commits + 1, toVersion: commits, versionsApplied: 0, batches: 0, newestTimestampMs: null });
    const below = await refreshTable(pool, 'hist', { upToVersion: 5 });
    expect(below.versionsApplied).to.equal(0);
    expect(await stateOf('hist')).to.deep.equal(before);
  });

  it('serializes concurrent refreshes of one table: every version applied once, same state as one refresh', async function () {
    this.timeout(60_000);
    await importTable(pool, generated, 'twin', { history: true });
    const id = await tableIdOf('twin');
    const results = await Promise.all([
      refreshTable(pool, 'twin', { batchMaxVersions: 3 }),
      refreshTable(pool, id, { batchMaxVersions: 5 }),
      refreshTable(pool, 'twin', { batchMaxVersions: 64 }),
    ]);
    expect(results.reduce((sum, result) => sum + result.versionsApplied, 0)).to.equal(commits + 1);
    expect(results.every((result) => result.toVersion === commits)).to.equal(true);
    const [twin, hist] = [await stateOf('twin'), await stateOf('hist')];
    expect(twin.files).to.deep.equal(hist.files);
    expect(twin.partitions).to.deep.equal(hist.partitions);
    expect(twin.state).to.deep.equal(hist.state);
    await expectVerified('twin');
  });

  it('applies one new commit by reading only that version', async function () {
    const before = await stateOf('hist');
    const live = (await snapshotOf(pool, 'hist')).lines.map((line) => (JSON.parse(line) as { add: AddAction }).add);
    const [first, second] = live;
    if (!first || !second) throw new Error('the generated table has fewer than two live files');
    const actions: Action[] = [
      { kind: 'remove', remove: { path: first.path, dataChange: true, ...(first.deletionVector ? { deletionVector: first.deletionVector } : {}) } },
      { kind: 'remove', remove: { path: second.path, dataChange: true, ...(second.deletionVector ? { deletionVector: second.deletionVector } : {}) } },
      ...['x1', 'x2', 'x3'].map((name): Action => ({
        kind: 'add', add: { ...fileAdd(`date=2026-01-02/${name}.parquet`), partitionValues: { date: '2026-01-02' } },
      })),
    ];
    const { version } = await commitOnHead(pool, { table: 'hist', actions });
    const result = await refreshTable(pool, 'hist');
    expect(result).to.include({ fromVersion: version, toVersion: version, versionsApplied: 1, batches: 1, actionsRead: 5, rowsInserted: 3, rowsClosed: 2 });
    const after = await stateOf('hist');
    // Every row that existed is unchanged but for the two live ones closed at this version; three rows are new.
    type Row = { path: string; dv_id: string; added_version: number; removed_version: number | null };
    const closed = new Set([first, second].map((file) => file.path));
    const expected = (before.files as Row[]).map((row) => (row.removed_version === null && closed.has(row.path) ? { ...row, removed_version: version } : row));
    expect((after.files as Row[]).filter((row) => row.added_version !== version)).to.deep.equal(expected);
    expect((after.files as Row[]).filter((row) => row.added_version === version).map((row) => row.path)).to.have.length(3);
    expect(after.files.length).to.equal(before.files.length + 3);
    await expectAnswersEqualLog('hist', version - 2, version);
    await expectVerified('hist');
  });

  it('rebuilds a table to exactly the state the refreshes built', async function () {
    this.timeout(60_000);
    const before = await stateOf('hist');
    const rebuilt = await rebuildTable(pool, 'hist');
    expect(rebuilt.mvVersion).to.equal(commits + 1);
    expect(rebuilt.rowsDeleted).to.equal(before.files.length);
    expect(rebuilt.rowsInserted).to.equal(before.files.length);
    expect(await stateOf('hist')).to.deep.equal(before);
    await expectVerified('hist');
  });

  it('refreshes a checkpoint-based import from its base; a checkpoint with tombstones is harmless', async function () {
    this.timeout(60_000);
    const imported = await importTable(pool, generated, 'tail');
    expect(imported.fromVersion).to.equal(60);
    const result = await refreshTable(pool, 'tail', { batchMaxVersions: 2 });
    expect(result).to.include({ fromVersion: 60, toVersion: commits, versionsApplied: commits - 59, batches: 2 });
    await expectAnswersEqualLog('tail', 60, commits);
    await expectVerified('tail');
    expect(await collect(liveFileLines(pool, 'tail'))).to.deep.equal(await collect(liveFileLines(pool, 'twin', commits)));
    await expectError(collect(liveFileLines(pool, 'tail', 59)), NotMaterializedError);

    // export writes checkpoints with the removes as tombstones: their import holds removes of files not live.
    const exported = dirs.make('export');
    await exportTable(pool, 'twin', exported, { checkpointInterval: 25 });
    const fromExport = await importTable(pool, exported, 'tombstones');
    expect(fromExport.fromVersion).to.equal(50);
    const { rows: [tombstones] } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM deltameta.delta_remove WHERE table_id = $1 AND version = 50',
      [fromExport.tableId],
    );
    expect(tombstones?.n).to.be.greaterThan(0);
    const refreshed = await refreshTable(pool, 'tombstones');
    expect(refreshed).to.include({ fromVersion: 50, toVersion: commits, rowsClosed: 0 });
    await expectAnswersEqualLog('tombstones', 50, commits);
    await expectVerified('tombstones');
  });

  it('handles a deletion-vector update, a replace of a live file and re-adds, also within one step', async function () {
    this.timeout(60_000);
    const table = 'dv';
    await commit(pool, { table, actions: createActions() });
    await commit(pool, { table, actions: [add('a'), add('b'), add('c'), add('d')] });
    await refreshTable(pool, table);
    // DV update: remove a, add a with a DV (a new logical file).
    await commitOnHead(pool, { table, actions: [remove('a'), add('a', { dv: 'dv1', records: 9 })] });
    await commitOnHead(pool, { table, actions: [remove('b')] });
    await commit(pool, { table, actions: [add('b', { records: 7 })] }); // b added, removed, added again
    // An add on a live key replaces it (new stats), without a remove.
    await commit(pool, { table, actions: [add('c', { records: 42 })] });
    let result = await refreshTable(pool, table);
    expect(result).to.include({ versionsApplied: 4, batches: 1 });
    await expectAnswersEqualLog(table, 0, result.toVersion);
    await expectVerified(table);

    // Within one step: d removed, re-added, removed, re-added; a's DV replaced twice.
    await commitOnHead(pool, { table, actions: [remove('d')] });
    await commit(pool, { table, actions: [add('d', { records: 1 })] });
    await commitOnHead(pool, { table, actions: [remove('a', 'dv1'), add('a', { dv: 'dv2', records: 8 })] });
    await commitOnHead(pool, { table, actions: [remove('d')] });
    await commitOnHead(pool, { table, actions: [add('d', { records: 2 }), remove('a', 'dv2'), add('a', { dv: 'dv3', records: 7 })] });
    result = await refreshTable(pool, table, { batchMaxVersions: 100 });
    expect(result).to.include({ versionsApplied: 5, batches: 1 });
    await expectAnswersEqualLog(table, 0, result.toVersion);
    await expectVerified(table);
    const id = await tableIdOf(table);
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM deltameta.file_index WHERE table_id = $1 AND path = 'd'",
      [id],
    );
    expect(rows[0]?.n).to.equal(3); // the original interval and two re-adds
    const lines = await collect(liveFileLines(pool, table));
    expect(lines.map((line) => (JSON.parse(line) as { add: AddAction }).add.path)).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('applies retention: old removed rows go, the minimum version moves, later answers stay equal to the log', async function () {
    this.timeout(60_000);
    const id = await tableIdOf('hist');
    const { rows } = await pool.query<{ timestamp_ms: number }>(
      'SELECT timestamp_ms FROM deltameta.delta_commit WHERE table_id = $1 AND version = 30',
      [id],
    );
    const at30 = rows[0]?.timestamp_ms as number;
    const retentionMs = 7 * 86_400_000;
    const removedBefore = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM deltameta.file_index WHERE table_id = $1 AND removed_version <= 29',
      [id],
    );
    expect(removedBefore.rows[0]?.n).to.be.greaterThan(0);
    // Versions committed before version 30 are past the retention: rows removed at or before 29 go.
    const changed = await applyRetention(pool, { retentionMs, nowMs: at30 + retentionMs });
    const hist = changed.find((entry) => entry.name === 'hist');
    expect(hist).to.deep.equal({ tableId: id, name: 'hist', fileIndexMinVersion: 29, rowsDeleted: removedBefore.rows[0]?.n });
    const removedAfter = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM deltameta.file_index WHERE table_id = $1 AND removed_version <= 29',
      [id],
    );
    expect(removedAfter.rows[0]?.n).to.equal(0);
    await expectAnswersEqualLog('hist', 29, commits + 1);
    const gone = await expectError(collect(liveFileLines(pool, 'hist', 28)), NotMaterializedError);
    expect(gone).to.include({ minVersion: 29, version: 28 });
    await expectVerified('hist');
    // Again with the same clock: nothing more to do.
    expect((await applyRetention(pool, { retentionMs, nowMs: at30 + retentionMs })).find((entry) => entry.name === 'hist')).to.equal(undefined);
    // Refreshing goes on from the watermark as before.
    const late: AddAction = { ...fileAdd('date=2026-01-02/after-retention.parquet'), partitionValues: { date: '2026-01-02' } };
    await commit(pool, { table: 'hist', actions: [{ kind: 'add', add: late }] });
    expect((await refreshTable(pool, 'hist')).versionsApplied).to.equal(1);
    await expectVerified('hist');
  });

  it('verify detects a tampered state and names the file; rebuild repairs it', async function () {
    this.timeout(60_000);
    const id = await tableIdOf('twin');
    const { rows } = await pool.query<{ path: string }>(
      `DELETE FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL
          AND path = (SELECT path FROM deltameta.file_index WHERE table_id = $1 AND removed_version IS NULL ORDER BY path DESC LIMIT 1) RETURNING path`,
      [id],
    );
    const path = rows[0]?.path as string;
    await pool.query("UPDATE deltameta.partition_summary SET num_files = num_files + 1 WHERE table_id = $1 AND partition_key = '{\"date\": null}'", [id]);
    await pool.query('UPDATE deltameta.table_state SET num_records = num_records - 1 WHERE table_id = $1', [id]);
    const result = await verifyTable(pool, 'twin');
    expect(result.ok).to.equal(false);
    expect(result.watermark).to.equal(commits);
    expect(result.problems.join('\n')).to.contain(`file_index is missing ${JSON.stringify(path)}`);
    expect(result.problems.join('\n')).to.contain('table_state.num_records');
    expect(result.problems.join('\n')).to.contain('partition_summary {"date": null}');
    await rebuildTable(pool, 'twin');
    await expectVerified('twin');
  });

  it('refreshes the catalog view concurrently and reports staleness', async function () {
    for (const table of ['hist', 'twin', 'tail', 'tombstones', 'dv']) await refreshTable(pool, table);
    expect(await mvStaleness(pool)).to.equal(0);
    const refreshed = await refreshMaterializedViews(pool);
    expect(refreshed.map((entry) => entry.view)).to.deep.equal(['deltameta.catalog_overview']);
    const { rows } = await pool.query<{ name: string; head_version: number; mv_version: number; num_files: number; staleness: number; last_commit_at: Date }>(
      "SELECT name, head_version, mv_version, num_files, staleness, last_commit_at FROM deltameta.catalog_overview WHERE name = 'hist'",
    );
    const { rows: [state] } = await pool.query<{ num_files: number }>(
      'SELECT num_files FROM deltameta.table_state WHERE table_id = $1', [await tableIdOf('hist')],
    );
    expect(rows[0]).to.include({ name: 'hist', head_version: await headOf('hist'), mv_version: await headOf('hist'), num_files: state?.num_files, staleness: 0 });
    expect(rows[0]?.last_commit_at).to.be.instanceOf(Date);

    await commit(pool, { table: 'dv', actions: [add('e')] });
    await commit(pool, { table: 'dv', actions: [add('f')] });
    expect(await mvStaleness(pool)).to.equal(2);
    await refreshMaterializedViews(pool);
    const { rows: stale } = await pool.query<{ staleness: number }>("SELECT staleness FROM deltameta.catalog_overview WHERE name = 'dv'");
    expect(stale[0]?.staleness).to.equal(2);
    await refreshTable(pool, 'dv');
    expect(await mvStaleness(pool)).to.equal(0);
  });

  it('refuses unknown tables and unmaterialized ones clearly; a reader that stops early leaks nothing', async function () {
    await expectError(refreshTable(pool, 'no_such_table'), NotFoundError);
    await expectError(refreshTable(pool, 999_999), NotFoundError);
    await commit(pool, { table: 'fresh', actions: createActions() });
    await expectError(collect(liveFileLines(pool, 'fresh')), NotMaterializedError);
    expect((await verifyTable(pool, 'fresh')).ok).to.equal(false);
    await refreshTable(pool, 'fresh');
    expect(await collect(liveFileLines(pool, 'fresh'))).to.deep.equal([]);
    await expectVerified('fresh');
    for await (const line of liveFileLines(pool, 'hist')) {
      expect(line).to.match(/^\{"add":/);
      break;
    }
  });
});
