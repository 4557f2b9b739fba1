/**
 * `deltameta follow`, `handover` and `status` as a user runs them: a followed
 * table refuses commits (exit 2, naming its location), status shows its kind
 * and the follow's progress, a handover makes it owned and published, and
 * the refusals of each command name what was wrong.
 */
import { expect } from 'chai';
import { realpathSync } from 'node:fs';
import { runDeltameta, type CliRun } from '../support/cli.ts';
import { describeWithEnv } from '../support/env.ts';
import { TempDirs } from '../support/tables.ts';

interface StatusJson {
  tables: Array<{ table: string; kind: string; location: string | null; head: number; follow: { version: number; holder: string | null; missing: unknown; error: string | null } | null; publish: { version: number; lagVersions: number } | null }>;
}

describeWithEnv('deltameta CLI on table kinds', (env) => {
  const dirs = new TempDirs();
  // Names of its own: `status` reads the cluster's slots and the deployment's queue, which others may hold.
  const childEnv = {
    ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_SLOT_NAME: `t_${env.id}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 60),
    DELTAMETA_REFRESH_QUEUE: env.queueName('refresh'), DELTAMETA_CONSUMER_GROUP: env.topic('group'), DELTAMETA_REDIS_PREFIX: env.keyPrefix,
  };
  const run = (args: string[], input?: string): Promise<CliRun> => runDeltameta(args, childEnv, input);
  const statusOf = async (table: string): Promise<StatusJson['tables'][number] | undefined> => {
    const status = await run(['status', '--json']);
    expect(status.code, status.stderr).to.equal(0);
    return (JSON.parse(status.stdout) as StatusJson).tables.find((entry) => entry.table === table);
  };

  after(() => dirs.removeAll());

  it('follows a table, refuses commits to it, hands it over, and status tells each kind', async function () {
    this.timeout(120_000);
    const dir = dirs.make('cli-follow');
    expect((await run(['gen', dir, '--files', '60', '--commits', '4', '--partitions', '2', '--seed', '3'])).code).to.equal(0);
    const followed = await run(['follow', dir, '--table', 'cli_followed']);
    expect(followed.code, followed.stderr).to.equal(0);
    expect(followed.stdout).to.contain('cli_followed: followed from').and.contain('at version 4 (created)');
    const location = realpathSync(dir);
    const before = await statusOf('cli_followed');
    expect(before).to.deep.include({ kind: 'followed', location, head: 4, publish: null });
    expect(before?.follow).to.deep.include({ version: 4, holder: null, missing: null, error: null });

    const add = JSON.stringify({ add: { path: 'date=2026-01-01/x.parquet', partitionValues: { date: '2026-01-01' }, size: 1, modificationTime: 1, dataChange: true } });
    const refused = await run(['commit', '--table', 'cli_followed', '--read-version', '4'], add);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain(`followed from ${location}`);

    const text = await run(['status']);
    expect(text.stdout).to.match(/followed tables: 1;/).and.match(/cli_followed .* followed v4/);

    const handover = await run(['handover', '--table', 'cli_followed', '--to', 'owned']);
    expect(handover.code, handover.stderr).to.equal(0);
    expect(handover.stdout).to.contain('owned from version 4');
    expect(await statusOf('cli_followed')).to.deep.include({ kind: 'owned', follow: null, publish: { version: 4, lagVersions: 0, stopped: null } });
    const landed = await run(['commit', '--table', 'cli_followed', '--read-version', '4'], add);
    expect(landed.code, landed.stderr).to.equal(0);
    expect((await statusOf('cli_followed'))?.publish).to.deep.include({ version: 4, lagVersions: 1 });
  });

  it('status is a probe: exit 1 naming the alert that would fire (a stopped publication), 0 once it would not', async function () {
    this.timeout(60_000);
    const { createPool } = await import('../../shared/db/index.ts');
    const pool = createPool(env.config.postgresUrl, { max: 1 });
    try {
      const clear = await run(['status']);
      expect(clear.code, clear.stdout + clear.stderr).to.equal(0);
      expect(clear.stdout).to.match(/alerts checked against infra\/prometheus\/rules\/alerts\.yml .*would fire: 0/);
      await pool.query("UPDATE deltameta.table_publication SET stopped_reason = 'a different file at version 5', stopped_at = now()");
      const firing = await run(['status']);
      expect(firing.code).to.equal(1);
      expect(firing.stdout).to.contain('DeltametaPublishStopped').and.contain('a different file at version 5');
      const json = JSON.parse((await run(['status', '--json'])).stdout) as { alerts: Array<{ alert: string; fires: boolean }> };
      expect(json.alerts.filter((alert) => alert.fires).map((alert) => alert.alert)).to.deep.equal(['DeltametaPublishStopped']);
      await pool.query('UPDATE deltameta.table_publication SET stopped_reason = NULL, stopped_at = NULL');
    } finally {
      await pool.end();
    }
  });

  it('names what is wrong: a second handover, an unknown kind, an unknown table', async function () {
    const again = await run(['handover', '--table', 'cli_followed', '--to', 'owned']);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.contain('the table is owned');
    const kind = await run(['handover', '--table', 'cli_followed', '--to', 'followed']);
    expect(kind.code).to.not.equal(0);
    expect(kind.stderr).to.contain("'followed' is invalid");
    const missing = await run(['handover', '--table', 'no_such_table', '--to', 'owned']);
    expect(missing.code).to.equal(4);
    expect(missing.stderr).to.contain('table "no_such_table" does not exist');
  });
});
