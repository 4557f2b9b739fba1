/**
 * A sync import (import again into a table PostgreSQL already holds) may only
 * append: when the folder's history differs from the stored one at a version
 * both have, it stops, names the version and what differs, and writes
 * nothing. Tables written by delta-rs; the rewrites are what a writer
 * replacing the table, or a restored backup, leaves.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Pool } from '../../shared/db/index.ts';
import { commitFileName } from '../../shared/delta/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';
import { importTable } from '../../shared/log-store/index.ts';
import { ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

async function deltaRsAppends(dir: string, commits: number, seed: number): Promise<void> {
  const python = await ensureDeltaRs();
  const script = [
    'import sys, pyarrow as pa',
    'from deltalake import write_deltalake',
    'for i in range(int(sys.argv[2])):',
    "    write_deltalake(sys.argv[1], pa.table({'id': [int(sys.argv[3]) * 1000 + i], 'v': [f'r{i}']}), mode='append')",
  ].join('\n');
  await promisify(execFile)(python, ['-c', script, dir, String(commits), String(seed)]);
}

describeWithEnv('sync import: shared history', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;

  before(() => {
    pool = env.pool(4);
  });

  after(async () => {
    await pool.end();
    dirs.removeAll();
  });

  async function storedRows(): Promise<string> {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM deltameta.delta_commit)::text || '/' || (SELECT count(*) FROM deltameta.delta_add)::text AS n`,
    );
    return rows[0]?.n ?? '';
  }

  async function refusal(work: Promise<unknown>): Promise<BadRequestError> {
    const error = await work.then(() => undefined, (caught: unknown) => caught);
    expect(error, 'expected a refusal').to.be.instanceOf(BadRequestError);
    return error as BadRequestError;
  }

  /** A delta-rs table of 5 versions, imported with history under `name`, then given a sixth version. */
  async function imported(name: string): Promise<string> {
    const dir = dirs.make(name);
    await deltaRsAppends(dir, 5, 1);
    await importTable(pool, dir, name, { history: true });
    await deltaRsAppends(dir, 1, 2);
    return dir;
  }

  it('an unchanged folder syncs (the checks pass on what was imported)', async function () {
    this.timeout(60_000);
    const dir = await imported('sync_ok');
    const result = await importTable(pool, dir, 'sync_ok');
    expect(result).to.include({ fromVersion: 5, toVersion: 5 });
  });

  it('a commit rewritten below the head (same shape, another commit): refused naming the version, nothing written', async function () {
    this.timeout(60_000);
    const dir = await imported('sync_rewritten');
    // Another delta-rs table's version 2: one commitInfo, one add, like the original, but not the same commit.
    const other = dirs.make('other');
    await deltaRsAppends(other, 3, 9);
    copyFileSync(path.join(other, '_delta_log', commitFileName(2)), path.join(dir, '_delta_log', commitFileName(2)));
    const before = await storedRows();
    const error = await refusal(importTable(pool, dir, 'sync_rewritten'));
    expect(error.message).to.include('version 2');
    expect(error.message).to.match(/commitInfo|action/);
    expect(await storedRows()).to.equal(before);
  });

  it('a commit below the head with an action more: refused naming the version and the counts', async function () {
    this.timeout(60_000);
    const dir = await imported('sync_longer');
    const file = path.join(dir, '_delta_log', commitFileName(1));
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const add = lines.find((line) => line.startsWith('{"add"')) as string;
    writeFileSync(file, `${[...lines, add.replace('part-', 'part-extra-')].join('\n')}\n`);
    const before = await storedRows();
    const error = await refusal(importTable(pool, dir, 'sync_longer'));
    expect(error.message).to.include('version 1');
    expect(error.message).to.match(/3 actions|actions/);
    expect(await storedRows()).to.equal(before);
  });

  it('a table written again in the folder (new metadata id): refused naming the ids', async function () {
    this.timeout(60_000);
    const dir = await imported('sync_recreated');
    rmSync(path.join(dir, '_delta_log'), { recursive: true });
    await deltaRsAppends(dir, 8, 3);
    const before = await storedRows();
    const error = await refusal(importTable(pool, dir, 'sync_recreated'));
    expect(error.message).to.include('metadata id');
    expect(await storedRows()).to.equal(before);
  });

  it('fewer commits than stored (history cut back and rewritten): refused naming the stored head', async function () {
    this.timeout(60_000);
    const dir = await imported('sync_shorter');
    rmSync(path.join(dir, '_delta_log'), { recursive: true });
    await deltaRsAppends(dir, 3, 4);
    const before = await storedRows();
    const error = await refusal(importTable(pool, dir, 'sync_shorter'));
    expect(error.message).to.match(/version 4|metadata id/);
    expect(await storedRows()).to.equal(before);
  });
});
