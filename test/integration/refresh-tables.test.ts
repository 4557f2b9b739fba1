/**
 * Refreshes of many tables in shared transactions (refreshTables, the
 * refresher's RefreshBatcher) build exactly the state one refreshTable per
 * table builds, answer every version like the log, and verify; tables the
 * shared path does not take are named; a burst of asks becomes a few
 * transactions; a failing table fails only its own ask. File pages,
 * coalesced per table (PagesScheduler), catch up with a burst in a bounded
 * number of passes.
 */
import { expect } from 'chai';
import { pino } from 'pino';
import type { Pool } from '../../shared/db/index.ts';
import { generateTable, type Action, type AddAction } from '../../shared/delta/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import { commit, importTable } from '../../shared/log-store/index.ts';
import { liveFileLines, refreshFilePages, refreshTable, refreshTables, verifyTable } from '../../shared/materialized/index.ts';
import { PagesScheduler, RefreshBatcher } from '../../services/refresher/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { commitOnHead, snapshotOf, TempDirs } from '../support/tables.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }, { name: 'p', type: 'string', nullable: true, metadata: {} }] });
const create = (partitioned: boolean): Action[] => [
  { kind: 'protocol', protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] } },
  {
    kind: 'metaData',
    metaData: {
      id: 'shared-refresh', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: partitioned ? ['p'] : [],
      configuration: { 'delta.enableDeletionVectors': 'true' },
    },
  },
];
function fileAdd(path: string, options: { dv?: string; records?: number; p?: string } = {}): AddAction {
  return {
    path, partitionValues: options.p === undefined ? {} : { p: options.p }, size: 1000 + path.length, modificationTime: 1_700_000_000_000, dataChange: true,
    stats: JSON.stringify({ numRecords: options.records ?? 10 }),
    ...(options.dv ? { deletionVector: { storageType: 'i', pathOrInlineDv: options.dv, sizeInBytes: 8, cardinality: 1 } } : {}),
  };
}
const add = (path: string, options: { dv?: string; records?: number; p?: string } = {}): Action => ({ kind: 'add', add: fileAdd(path, options) });
const remove = (path: string, options: { dv?: string; p?: string } = {}): Action => ({
  kind: 'remove',
  remove: {
    path, deletionTimestamp: 1_700_000_000_001, dataChange: true, ...(options.p === undefined ? {} : { partitionValues: { p: options.p } }),
    ...(options.dv ? { deletionVector: { storageType: 'i', pathOrInlineDv: options.dv, sizeInBytes: 8, cardinality: 1 } } : {}),
  },
});

/** The same history for every table it is given: DV updates, replaces, re-adds, partitions emptied and refilled. */
async function writeHistory(pool: Pool, table: string, partitioned: boolean, step: number): Promise<void> {
  const p = (value: string) => (partitioned ? { p: value } : {});
  const histories: Array<() => Promise<unknown>> = [
    () => commit(pool, { table, actions: [add('a', p('x')), add('b', p('x')), add('c', p('y')), add('d', p('y'))] }),
    () => commitOnHead(pool, { table, actions: [remove('a', p('x')), add('a', { dv: 'dv1', records: 9, ...p('x') })] }),
    () => commitOnHead(pool, { table, actions: [remove('b', p('x'))] }),
    () => commit(pool, { table, actions: [add('b', { records: 7, ...p('x') })] }),
    () => commit(pool, { table, actions: [add('c', { records: 42, ...p('y') })] }),
    () => commitOnHead(pool, { table, actions: [remove('c', p('y')), remove('d', p('y'))] }),
    () => commit(pool, { table, actions: [add('e', p('z')), add('d', { records: 3, ...p('y') })] }),
  ];
  await histories[step]?.();
}

describeWithEnv('materialized state: refreshes sharing transactions', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  const logger = pino({ level: 'silent' });

  async function tableIdOf(table: string): Promise<number> {
    const { rows } = await pool.query<{ table_id: number }>('SELECT table_id FROM deltameta.delta_table WHERE name = $1', [table]);
    return rows[0]?.table_id ?? -1;
  }

  async function stateOf(table: string): Promise<{ files: unknown[]; state: unknown; partitions: unknown[] }> {
    const id = await tableIdOf(table);
    const files = await pool.query(
      `SELECT path, dv_id, added_version, removed_version, partition_values, size, num_records, stats, add_line
         FROM deltameta.file_index WHERE table_id = $1 ORDER BY path, dv_id, added_version`, [id],
    );
    const state = await pool.query(
      `SELECT mv_version, file_index_min_version, metadata, protocol, num_files, size_bytes, num_records,
              (c.timestamp_ms = s.last_timestamp_ms AND c.committed_at = s.last_commit_at) AS stamped_by_its_version
         FROM deltameta.table_state s JOIN deltameta.delta_commit c ON c.table_id = s.table_id AND c.version = s.mv_version
        WHERE s.table_id = $1`, [id],
    );
    const partitions = await pool.query(
      'SELECT partition_key, num_files, size_bytes, num_records FROM deltameta.partition_summary WHERE table_id = $1 ORDER BY partition_key', [id],
    );
    return { files: files.rows, state: state.rows[0], partitions: partitions.rows };
  }

  async function expectAnswersEqualLog(table: string, from: number, to: number): Promise<void> {
    for (let version = from; version <= to; version++) {
      const materialized: string[] = [];
      for await (const line of liveFileLines(pool, table, version)) materialized.push(line);
      const fromLog = await snapshotOf(pool, table, { version });
      expect(materialized.join('\n'), `${table} at version ${version}`).to.equal(fromLog.lines.join('\n'));
    }
    const verified = await verifyTable(pool, table);
    expect(verified.problems, `${table} verification`).to.deep.equal([]);
  }

  before(function () {
    pool = env.pool(8);
  });

  after(async function () {
    await pool.end();
    dirs.removeAll();
  });

  it('builds the state one refreshTable per table builds, for tables at different versions, in steps of any size', async function () {
    this.timeout(120_000);
    const names = ['s_plain', 's_part', 's_late'];
    for (const prefix of ['shared', 'alone']) {
      for (const name of names) {
        await commit(pool, { table: `${prefix}_${name}`, actions: create(name !== 's_plain') });
        await refreshTable(pool, `${prefix}_${name}`);
      }
    }
    const ids = await Promise.all(names.map((name) => tableIdOf(`shared_${name}`)));
    for (let step = 0; step < 7; step++) {
      for (const name of names) {
        // s_late lags a step behind the others, so one transaction holds tables at different versions.
        if (name === 's_late' && step === 0) continue;
        for (const prefix of ['shared', 'alone']) await writeHistory(pool, `${prefix}_${name}`, name !== 's_plain', name === 's_late' ? step - 1 : step);
      }
      // Refreshed after odd steps only: some shared steps apply two versions of a table at once.
      if (step % 2 === 1 || step === 6) {
        const steps = await refreshTables(pool, [...ids, ...ids]);
        expect([...steps.values()].every((one) => one.kind === 'refreshed')).to.equal(true);
        for (const name of names) await refreshTable(pool, `alone_${name}`, { batchMaxVersions: 1 });
      }
    }
    for (const name of names) {
      const shared = await stateOf(`shared_${name}`);
      expect(shared.state, name).to.include({ stamped_by_its_version: true });
      expect(shared, name).to.deep.equal(await stateOf(`alone_${name}`));
      const head = ((await stateOf(`shared_${name}`)).state as { mv_version: number }).mv_version;
      await expectAnswersEqualLog(`shared_${name}`, 0, head);
    }
  });

  it('leaves a first build and a table far behind to refreshTable, and reports a table that is gone', async function () {
    this.timeout(120_000);
    const generated = dirs.make('shared');
    await generateTable(generated, { files: 200, commits: 40, partitions: 3, checkpointInterval: 10, seed: 5 });
    await importTable(pool, generated, 'far', { history: true });
    await commit(pool, { table: 'unbuilt', actions: create(false) });
    const [far, unbuilt] = [await tableIdOf('far'), await tableIdOf('unbuilt')];
    await refreshTable(pool, far, { upToVersion: 5 });
    let steps = await refreshTables(pool, [far, unbuilt, 999_999], { maxVersionsBehind: 10 });
    expect(steps.get(far)).to.deep.equal({ kind: 'single' });
    expect(steps.get(unbuilt)).to.deep.equal({ kind: 'single' });
    expect(steps.get(999_999)).to.deep.equal({ kind: 'missing' });
    // Within reach: the generated history (checkpoints, removes, partitions) through the shared path, then equal to the log.
    await refreshTable(pool, far, { upToVersion: 30 });
    steps = await refreshTables(pool, [far], { maxVersionsBehind: 10 });
    expect(steps.get(far)).to.include({ kind: 'refreshed', fromVersion: 31, toVersion: 40, versionsApplied: 10 });
    await expectAnswersEqualLog('far', 25, 40);
    steps = await refreshTables(pool, [far]);
    expect(steps.get(far)).to.include({ kind: 'refreshed', versionsApplied: 0, toVersion: 40 });

    // A step of more actions than one plain read takes (10,000) goes through a cursor, and every row gets there.
    await commit(pool, { table: 'wide', actions: [...create(false), add('w-0')] });
    await refreshTable(pool, 'wide');
    await commit(pool, { table: 'wide', actions: Array.from({ length: 10_050 }, (_, index) => add(`w-${index + 1}`)) });
    await commitOnHead(pool, { table: 'wide', actions: [remove('w-0'), remove('w-77')] });
    const wide = await tableIdOf('wide');
    steps = await refreshTables(pool, [wide, far]);
    expect(steps.get(wide)).to.include({ kind: 'refreshed', fromVersion: 1, toVersion: 2, versionsApplied: 2 });
    await expectAnswersEqualLog('wide', 0, 2);
    expect(((await stateOf('wide')).state as { num_files: number }).num_files).to.equal(10_049);
  });

  it('serves a burst of asks for many tables with a few transactions; a failing table fails only its own ask', async function () {
    this.timeout(120_000);
    const tables = Array.from({ length: 30 }, (_, index) => `burst_${index}`);
    for (const table of tables) {
      await commit(pool, { table, actions: [...create(false), add(`${table}-0`)] });
      await refreshTable(pool, table);
      for (let version = 1; version <= 3; version++) await commit(pool, { table, actions: [add(`${table}-${version}`)] });
    }
    // The poison (quarantine.test.ts's): a live row claiming version 50 for a path that version 4 re-adds; closing it breaks the CHECK.
    await pool.query(`INSERT INTO deltameta.file_index (table_id, added_version, size, path, partition_values, add_line)
                      SELECT table_id, 50, 1, 'poison', '{}', '{}' FROM deltameta.delta_table WHERE name = 'burst_7'`);
    await commit(pool, { table: 'burst_7', actions: [add('poison')] });
    const ids = await Promise.all(tables.map((table) => tableIdOf(table)));
    const batcher = new RefreshBatcher(pool, { transactions: 2, batchMaxVersions: 500 }, logger);
    const results = await Promise.allSettled([...ids.map((id) => batcher.refresh(id)), batcher.refresh(999_999)]);
    results.forEach((result, index) => {
      if (index === 7) expect(result.status === 'rejected' && String(result.reason)).to.match(/check constraint/);
      else if (index === ids.length) expect(result.status === 'rejected' && result.reason).to.be.instanceOf(NotFoundError);
      else expect(result.status === 'fulfilled' && result.value, tables[index]).to.deep.include({ toVersion: 3, versionsApplied: 3 });
    });
    // Two transactions at once: the first asks start them, the rest share the next ones; the failed one is retried table by table.
    expect(batcher.counts.transactions).to.be.at.most(6);
    expect(batcher.counts.singles).to.be.at.most(ids.length + 1);
    for (const table of ['burst_0', 'burst_29']) await expectAnswersEqualLog(table, 0, 3);
  });

  it('coalesces file-pages passes per table: a burst is one or two passes, and the pages reach the watermark', async function () {
    this.timeout(60_000);
    const table = 'paged';
    await commit(pool, { table, actions: [...create(false), add('p-0')] });
    await refreshTable(pool, table);
    const id = await tableIdOf(table);
    let passes = 0;
    const scheduler = new PagesScheduler(async (tableId) => {
      passes++;
      await refreshFilePages(pool, tableId);
    }, { delayMs: 50, concurrency: 1 }, logger);
    for (let version = 1; version <= 40; version++) {
      await commit(pool, { table, actions: [add(`p-${version}`)] });
      await refreshTable(pool, table);
      scheduler.request(id, table);
    }
    await scheduler.idle();
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM deltameta.file_page_state WHERE table_id = $1', [id]);
    expect(rows[0]?.version).to.equal(40);
    // Each pass covers what came before it started: far fewer passes than refreshes.
    expect(passes).to.be.at.least(1).and.below(20);
    // A failing pass is retried after a backoff, not dropped.
    let failures = 0;
    const flaky = new PagesScheduler(async (tableId) => {
      if (failures++ === 0) throw new Error('transient');
      await refreshFilePages(pool, tableId);
    }, { delayMs: 10, concurrency: 1 }, logger);
    await commit(pool, { table, actions: [add('p-41')] });
    await refreshTable(pool, table);
    flaky.request(id, table);
    await flaky.idle();
    expect(failures).to.equal(2);
    const after = await pool.query<{ version: number }>('SELECT version FROM deltameta.file_page_state WHERE table_id = $1', [id]);
    expect(after.rows[0]?.version).to.equal(41);
    await scheduler.stop();
    await flaky.stop();
  });
});
