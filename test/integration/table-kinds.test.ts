/**
 * Followed and owned tables (sql/000011_table_kinds.sql): a followed
 * table's _delta_log is the authority, so commits through deltameta are
 * refused naming its location, and only the follower's sync brings
 * versions in; a handover makes it owned at the version its files hold
 * (synced first), recorded as already published there; registering an
 * owned table as followed is refused when PostgreSQL holds versions its
 * files lack. Tables generated on disk (real _delta_log files).
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName, generateTable, type Action } from '../../shared/delta/index.ts';
import { BadRequestError, TableFollowedError } from '../../shared/errors/index.ts';
import { commit, findTable, handoverToOwned, importTable, NotFollowedError } from '../../shared/log-store/index.ts';
import { importMaterialized } from '../../shared/materialized/index.ts';
import { materializedSummary, summarySource } from '../../shared/summary/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

describeWithEnv('followed and owned tables', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;

  before(() => {
    pool = env.pool(4);
  });

  after(async () => {
    await pool.end();
    dirs.removeAll();
  });

  async function generated(label: string, commits = 3): Promise<string> {
    const dir = path.join(dirs.make(label), 'table');
    await generateTable(dir, { files: 30, commits, partitions: 2, checkpointInterval: 0, seed: 11 });
    return dir;
  }

  /** A commit file as another engine would write it: one add and its commitInfo. */
  function writeCommit(dir: string, version: number, actions: Action[]): void {
    const lines = [{ commitInfo: { timestamp: Date.now(), operation: 'WRITE' } }, ...actions.map((action) => ({ add: (action as { add: unknown }).add }))];
    writeFileSync(path.join(dir, '_delta_log', commitFileName(version)), `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  }

  const appendLine = (name: string): Action[] => [{ kind: 'add', add: { path: `${name}.parquet`, partitionValues: { date: '2026-01-01' }, size: 10, modificationTime: 1, dataChange: true } }];

  async function followState(tableId: number): Promise<{ followed_version: string; file_time: Date | null } | undefined> {
    const { rows } = await pool.query<{ followed_version: string; file_time: Date | null }>('SELECT followed_version, file_time FROM deltameta.table_follow WHERE table_id = $1', [tableId]);
    return rows[0];
  }

  it('a followed table refuses commits, naming its location, and changes nothing', async () => {
    const dir = await generated('followed');
    const created = await importTable(pool, dir, 'kinds_followed', { follow: 'register' });
    const table = await findTable(pool, 'kinds_followed');
    expect(table?.kind).to.equal('followed');
    expect(table?.location).to.be.a('string');
    const state = await followState(created.tableId);
    expect(Number(state?.followed_version)).to.equal(created.toVersion);
    expect(state?.file_time, 'the newest commit file time').to.be.instanceOf(Date);

    const refused = await commit(pool, { table: 'kinds_followed', actions: appendLine('x'), isBlindAppend: true }).then(() => undefined, (error: unknown) => error);
    expect(refused).to.be.instanceOf(TableFollowedError);
    expect((refused as Error).message).to.include(table?.location ?? '?').and.include('handover');
    expect((await findTable(pool, 'kinds_followed'))?.headVersion).to.equal(created.toVersion);
  });

  it("the follower's sync brings new versions in and records them; an owned table is not synced by it", async () => {
    const dir = await generated('sync');
    const created = await importTable(pool, dir, 'kinds_sync', { follow: 'register' });
    writeCommit(dir, created.toVersion + 1, appendLine('new'));
    const synced = await importTable(pool, dir, 'kinds_sync', { follow: 'sync' });
    expect(synced.toVersion).to.equal(created.toVersion + 1);
    expect(Number((await followState(created.tableId))?.followed_version)).to.equal(created.toVersion + 1);

    const ownedDir = await generated('owned-sync');
    await importTable(pool, ownedDir, 'kinds_owned_sync');
    const notFollowed = await importTable(pool, ownedDir, 'kinds_owned_sync', { follow: 'sync' }).then(() => undefined, (error: unknown) => error);
    expect(notFollowed).to.be.instanceOf(NotFollowedError);
    const missing = await importTable(pool, ownedDir, 'kinds_never_registered', { follow: 'sync' }).then(() => undefined, (error: unknown) => error);
    expect((missing as Error).message).to.include('never creates');
    expect(await findTable(pool, 'kinds_never_registered')).to.equal(undefined);
  });

  it('a handover syncs the files first, then owns the table from their head, recorded as published', async () => {
    const dir = await generated('handover');
    const created = await importMaterialized(pool, dir, 'kinds_handover', { follow: 'register' });
    const before = await materializedSummary(pool, 'kinds_handover');
    expect(before?.kind).to.equal('followed');
    expect(before?.location).to.equal((await findTable(pool, 'kinds_handover'))?.location);
    // A version the follower has not imported yet: the handover must not skip it.
    writeCommit(dir, created.toVersion + 1, appendLine('late'));
    const result = await handoverToOwned(pool, 'kinds_handover');
    expect(result.version).to.equal(created.toVersion + 1);
    expect(result.synced).to.equal(1);
    const table = await findTable(pool, 'kinds_handover');
    expect(table?.kind).to.equal('owned');
    expect(table?.headVersion).to.equal(created.toVersion + 1);
    const { rows } = await pool.query<{ published_version: string }>('SELECT published_version FROM deltameta.table_publication WHERE table_id = $1', [created.tableId]);
    expect(Number(rows[0]?.published_version)).to.equal(created.toVersion + 1);
    expect(await followState(created.tableId), 'no longer followed').to.equal(undefined);
    // The summary says so, under another cache key than before (a handover makes no version).
    const after = await materializedSummary(pool, 'kinds_handover');
    expect(after?.kind).to.equal('owned');
    expect(summarySource(after?.kind ?? 'owned', after?.location ?? null)).to.not.equal(summarySource(before?.kind ?? 'owned', before?.location ?? null));

    // Owned now: commits land, the follower's sync is refused, a second handover too.
    const landed = await commit(pool, { table: 'kinds_handover', actions: appendLine('owned'), isBlindAppend: true });
    expect(landed.version).to.equal(created.toVersion + 2);
    expect(await importTable(pool, dir, 'kinds_handover', { follow: 'sync' }).then(() => undefined, (error: unknown) => error)).to.be.instanceOf(NotFollowedError);
    expect(await handoverToOwned(pool, 'kinds_handover').then(() => undefined, (error: unknown) => error)).to.be.instanceOf(NotFollowedError);
  });

  it('an owned table becomes followed only when its files hold every version PostgreSQL has', async () => {
    const dir = await generated('register-owned');
    const imported = await importTable(pool, dir, 'kinds_register_owned');
    await commit(pool, { table: 'kinds_register_owned', actions: appendLine('only-in-postgres'), isBlindAppend: true });
    const refused = await importTable(pool, dir, 'kinds_register_owned', { follow: 'register' }).then(() => undefined, (error: unknown) => error);
    expect(refused).to.be.instanceOf(BadRequestError);
    // The sync identity check finds it first: the folder has no commit file for the version only PostgreSQL holds.
    expect((refused as Error).message).to.include(`no commit file for the stored version ${imported.toVersion + 1}`);
    expect((await findTable(pool, 'kinds_register_owned'))?.kind).to.equal('owned');

    const cleanDir = await generated('register-clean');
    await importTable(pool, cleanDir, 'kinds_register_clean');
    await importTable(pool, cleanDir, 'kinds_register_clean', { follow: 'register' });
    expect((await findTable(pool, 'kinds_register_clean'))?.kind).to.equal('followed');
  });
});
