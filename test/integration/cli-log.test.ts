/** The `deltameta` command as a user runs it: gen, import, replay, snapshot, commit (exit 3 on conflict), export. */
import { expect } from 'chai';
import { runDeltameta, type CliRun } from '../support/cli.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';


describeWithEnv('deltameta CLI on the log', (env) => {
  const dirs = new TempDirs();
  // A slot name of its own: `status` reads the cluster's slots, and a `deltameta up` on the same cluster leaves the default one.
  const childEnv = {
    ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_SLOT_NAME: `t_${env.id}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 60),
    DELTAMETA_REFRESH_QUEUE: env.queueName('refresh'), DELTAMETA_CONSUMER_GROUP: env.topic('group'), DELTAMETA_REDIS_PREFIX: env.keyPrefix,
  };

  const run = (args: string[], input?: string): Promise<CliRun> => runDeltameta(args, childEnv, input);

  after(() => dirs.removeAll());

  it('replay and snapshot print byte-identical NDJSON, latest and by version', async function () {
    this.timeout(120_000);
    const table = dirs.make('cli');
    expect((await run(['gen', table, '--files', '150', '--commits', '12', '--partitions', '3', '--seed', '11'])).code).to.equal(0);
    const imported = await run(['import', table, '--table', 'cli_table', '--history']);
    expect(imported.code, imported.stderr).to.equal(0);
    expect(imported.stdout).to.match(/cli_table: imported versions 0\.\.12/);
    for (const extra of [[], ['--version', '5']]) {
      const fromFiles = await run(['replay', table, ...extra]);
      const fromSql = await run(['snapshot', '--table', 'cli_table', ...extra]);
      expect(fromFiles.code, fromFiles.stderr).to.equal(0);
      expect(fromSql.code, fromSql.stderr).to.equal(0);
      expect(fromSql.stdout.length).to.be.greaterThan(0);
      expect(fromSql.stdout).to.equal(fromFiles.stdout);
    }
  });

  it('commits from stdin, prints the version, and exits 3 on a conflict', async function () {
    const create = [
      JSON.stringify({ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }),
      JSON.stringify({ metaData: { id: 'x', format: { provider: 'parquet', options: {} }, schemaString: '{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]}', partitionColumns: [], configuration: {} } }),
    ].join('\n');
    const created = await run(['commit', '--table', 'cli_commits'], create);
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout.trim()).to.equal('0');
    const addLine = (name: string): string => JSON.stringify({ add: { path: name, partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } });
    expect((await run(['commit', '--table', 'cli_commits', '--read-version', '0'], addLine('a.parquet'))).stdout.trim()).to.equal('1');
    const removeA = JSON.stringify({ remove: { path: 'a.parquet', dataChange: true } });
    expect((await run(['commit', '--table', 'cli_commits', '--read-version', '1'], removeA)).stdout.trim()).to.equal('2');
    const conflict = await run(['commit', '--table', 'cli_commits', '--read-version', '1'], removeA);
    expect(conflict.code).to.equal(3);
    expect(conflict.stderr).to.match(/commit conflict \(concurrent-delete-delete\)/);
    const bad = await run(['commit', '--table', 'cli_commits'], '{"add": {"path": 1}}');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('<stdin>:1: add.path: must be a string');
  });

  it('verify says ok for a refreshed table and exits 1 on a tampered one; status reports the pipeline', async function () {
    this.timeout(120_000);
    const { createPool } = await import('../../shared/db/index.ts');
    const { refreshTable } = await import('../../shared/materialized/index.ts');
    const pool = createPool(env.config.postgresUrl, { max: 2 });
    try {
      await refreshTable(pool, 'cli_table');
      const ok = await run(['verify', '--table', 'cli_table']);
      expect(ok.code, ok.stderr).to.equal(0);
      expect(ok.stdout).to.match(/^cli_table: ok at version 12/m);
      await pool.query(`DELETE FROM deltameta.file_index WHERE ctid IN (SELECT ctid FROM deltameta.file_index WHERE removed_version IS NULL LIMIT 1)`);
      const bad = await run(['verify', '--table', 'cli_table']);
      expect(bad.code).to.equal(1);
      expect(bad.stdout).to.contain('cli_table: MISMATCH');
      const status = await run(['status', '--json']);
      expect(status.code, status.stderr).to.equal(0);
      const parsed = JSON.parse(status.stdout) as { slot: { exists: boolean }; tables: Array<{ table: string; head: number; materialized: number | null }> };
      expect(parsed.slot.exists).to.equal(false);
      expect(parsed.tables.find((table) => table.table === 'cli_table')).to.include({ head: 12, materialized: 12 });
    } finally {
      await pool.end();
    }
  });

  it('names what is wrong in bad arguments and exits non-zero', async function () {
    const missing = await run(['snapshot', '--table', 'no_such_table']);
    expect(missing.code).to.equal(4);
    expect(missing.stderr).to.contain('table "no_such_table" does not exist');
    const both = await run(['replay', '/nonexistent', '--version', '1', '--timestamp', '2026-01-01']);
    expect(both.code).to.equal(2);
    expect(both.stderr).to.contain('not both');
    const notTable = await run(['replay', dirs.make('empty')]);
    expect(notTable.code).to.equal(2);
    expect(notTable.stderr).to.contain('no _delta_log folder');
  });
});
