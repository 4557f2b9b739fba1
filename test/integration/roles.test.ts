/**
 * The group roles of sql/000004, sql/000006 and sql/000011 (docs/security.md, "Roles"):
 * a login role in each group, connected for real, can do what its stage
 * needs and nothing that belongs to another stage.
 */
import { expect } from 'chai';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { commit } from '../../shared/log-store/index.ts';
import { refreshTable } from '../../shared/materialized/index.ts';
import { Reader } from '../../services/reader/index.ts';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { ConfigError } from '../../shared/errors/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createRegistry, readerMetrics } from '../../shared/metrics/index.ts';
import { describeWithEnv } from '../support/env.ts';

type Group = 'deltameta_read' | 'deltameta_write' | 'deltameta_refresh' | 'deltameta_cdc' | 'deltameta_follow' | 'deltameta_publish';

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });

describeWithEnv('roles', (env) => {
  let owner: Pool;
  const pools: Pool[] = [];
  const roles: string[] = [];

  /** A login role in `group` (removed after the suite), as a connection URL to this suite's database. */
  async function loginUrlIn(group: Group): Promise<string> {
    const role = `${group.replace('deltameta_', '')}${roles.length}_${env.id}`.slice(0, 60);
    await owner.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'local' IN ROLE ${group}`);
    roles.push(role);
    const url = new URL(env.config.postgresUrl);
    url.username = role;
    url.password = 'local';
    return url.toString();
  }

  /** A login role in `group`, and a pool connected as it (both removed after the suite). */
  async function loginIn(group: Group): Promise<Pool> {
    const pool = createPool(await loginUrlIn(group), { max: 1, applicationName: `test:${env.id}` });
    pools.push(pool);
    return pool;
  }

  /** Starts an in-process reader connected with `url`; resolves to the error its start threw, or undefined once it served /v1/tables. */
  async function readerStart(url: string, extra: Record<string, string> = {}): Promise<Error | undefined> {
    const redis = env.redis();
    const reader = new Reader({
      config: loadReaderConfig({ DELTAMETA_READER_PORT: '0', DELTAMETA_READER_PG_URL: url, ...extra }),
      defaultPostgresUrl: url, redis, redisPrefix: env.keyPrefix, logger: createLogger('roles-reader', 'silent'), metrics: readerMetrics(createRegistry('roles-reader')),
    });
    try {
      await reader.start();
    } catch (error) {
      return error as Error;
    } finally {
      redis.disconnect();
    }
    try {
      const response = await fetch(`http://127.0.0.1:${reader.port}/v1/tables`);
      expect(response.status).to.equal(200);
      expect(JSON.stringify(await response.json())).to.contain('roles_t');
    } finally {
      await reader.stop();
    }
    return undefined;
  }

  async function denied(pool: Pool, sql: string): Promise<void> {
    const error = await pool.query(sql).then(() => undefined, (caught: unknown) => caught as { code?: string });
    expect(error?.code, sql).to.equal('42501');
  }

  before(async function () {
    owner = env.pool();
    await commit(owner, {
      table: 'roles_t',
      readVersion: -1,
      actions: [
        { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
        { kind: 'metaData', metaData: { id: 'roles', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
        { kind: 'add', add: { path: 'a.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true } },
      ],
    });
    await refreshTable(owner, 'roles_t');
  });

  after(async function () {
    for (const pool of pools) await pool.end();
    for (const role of roles) await owner.query(`DROP ROLE IF EXISTS "${role}"`);
    await owner.end();
  });

  it('a refresh-group role writes materialized state, reads the log, and cannot insert into delta_commit', async function () {
    const refresher = await loginIn('deltameta_refresh');
    await denied(refresher, `INSERT INTO deltameta.delta_commit (table_id, version, timestamp_ms) SELECT table_id, 9, 1 FROM deltameta.delta_table`);
    await denied(refresher, `DELETE FROM deltameta.delta_add`);
    await denied(refresher, `INSERT INTO deltameta.delta_table (name) VALUES ('by_refresher')`);
    // What the refresher does: a full rebuild-and-refresh as that role.
    await owner.query('DELETE FROM deltameta.table_state');
    await owner.query('DELETE FROM deltameta.file_index');
    const result = await refreshTable(refresher, 'roles_t');
    expect(result.toVersion).to.equal(0);
  });

  it('the reader refuses to start with a role that can write, naming the role and what it can write', async function () {
    this.timeout(20_000);
    const asOwner = await readerStart(env.config.postgresUrl);
    expect(asOwner).to.be.instanceOf(ConfigError);
    expect(asOwner?.message).to.match(/^DELTAMETA_READER_PG_URL: connects as role "deltameta", which can write \(superuser/);
    const asWriter = await readerStart(await loginUrlIn('deltameta_write'));
    expect(asWriter?.message).to.match(/connects as role "write\d+_[^"]+", which can write \(INSERT on deltameta\.delta_add/);
    expect(asWriter?.message).to.contain('DELTAMETA_READER_ALLOW_WRITABLE_ROLE=true');
    // A login of deltameta_read (the local stack's own, as every test reader uses) serves; the owner does when explicitly allowed.
    expect(await readerStart(env.readerUrl)).to.equal(undefined);
    expect(await readerStart(env.config.postgresUrl, { DELTAMETA_READER_ALLOW_WRITABLE_ROLE: 'true' })).to.equal(undefined);
  });

  it('a reader-group role cannot write anything', async function () {
    const reader = await loginIn('deltameta_read');
    const { rows } = await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM deltameta.file_index');
    expect(rows[0]?.n).to.equal(1);
    for (const table of ['delta_table', 'delta_commit', 'delta_add', 'file_index', 'table_state', 'partition_summary', 'file_page', 'file_page_state', 'file_arrow_segment', 'file_arrow_segment_state']) {
      await denied(reader, `DELETE FROM deltameta.${table}`);
      const column = table === 'delta_table' ? 'name' : 'table_id';
      await denied(reader, `UPDATE deltameta.${table} SET ${column} = ${column}`);
    }
    await denied(reader, `INSERT INTO deltameta.delta_table (name) VALUES ('by_reader')`);
  });

  it('a writer-group role commits, and cannot write file_index or other materialized state', async function () {
    const writer = await loginIn('deltameta_write');
    const committed = await commit(writer, {
      table: 'roles_t',
      readVersion: 0,
      actions: [{ kind: 'add', add: { path: 'b.parquet', partitionValues: {}, size: 1, modificationTime: 2, dataChange: true } }],
    });
    expect(committed.version).to.equal(1);
    await denied(writer, `INSERT INTO deltameta.file_index (table_id, path, added_version) SELECT table_id, 'x', 1 FROM deltameta.delta_table`);
    await denied(writer, `DELETE FROM deltameta.file_index`);
    await denied(writer, `UPDATE deltameta.table_state SET mv_version = 99`);
    await denied(writer, `DELETE FROM deltameta.file_arrow_segment`);
    await denied(writer, `UPDATE deltameta.file_arrow_segment_state SET version = 99`);
    await denied(writer, `DELETE FROM deltameta.delta_commit`);
  });

  it('a writer-group role commits deletion vectors, the one-vector-per-path check reading the materialized state', async function () {
    const dvId = (id: string): { storageType: string; pathOrInlineDv: string; sizeInBytes: number; cardinality: number } => ({ storageType: 'i', pathOrInlineDv: id, sizeInBytes: 10, cardinality: 1 });
    const file = (dv?: string): { path: string; partitionValues: Record<string, string>; size: number; modificationTime: number; dataChange: boolean; stats: string } & Record<string, unknown> => ({
      path: 'd.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true, stats: '{"numRecords":3}', ...(dv ? { deletionVector: dvId(dv) } : {}),
    });
    await commit(owner, {
      table: 'roles_dv', readVersion: -1,
      actions: [
        { kind: 'protocol', protocol: { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] } },
        { kind: 'metaData', metaData: { id: 'roles-dv', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: { 'delta.enableDeletionVectors': 'true' } } },
        { kind: 'add', add: file() },
      ],
    });
    await refreshTable(owner, 'roles_dv');
    const writer = await loginIn('deltameta_write');
    const replaced = await commit(writer, { table: 'roles_dv', readVersion: 0, actions: [{ kind: 'remove', remove: { path: 'd.parquet', dataChange: true } }, { kind: 'add', add: file('dv-1') }] });
    expect(replaced.version).to.equal(1);
    const second = await commit(writer, { table: 'roles_dv', readVersion: 1, actions: [{ kind: 'add', add: file('dv-2') }] }).then(() => undefined, (error: unknown) => error as Error);
    expect(second?.message).to.match(/while the file is live at version 1 with deletion vector/);
  });

  it('a cdc-group role reads delta_commit and delta_table, and writes nothing', async function () {
    const cdc = await loginIn('deltameta_cdc');
    const { rows } = await cdc.query<{ n: number }>('SELECT count(*)::int AS n FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id)');
    expect(rows[0]?.n).to.be.greaterThan(0);
    await denied(cdc, `SELECT * FROM deltameta.file_index`);
    await denied(cdc, `DELETE FROM deltameta.delta_commit`);
  });

  it('a follow-group role imports and keeps its follow state, and cannot write the publication state', async function () {
    const follower = await loginIn('deltameta_follow');
    const { rows } = await owner.query<{ table_id: number }>("SELECT table_id FROM deltameta.delta_table WHERE name = 'roles_t'");
    const tableId = rows[0]?.table_id;
    await follower.query('INSERT INTO deltameta.table_follow (table_id, followed_version) VALUES ($1, 0) ON CONFLICT (table_id) DO UPDATE SET followed_version = 0', [tableId]);
    await follower.query('UPDATE deltameta.table_state SET mv_version = mv_version WHERE table_id = $1', [tableId]);
    await follower.query('SELECT count(*) FROM deltameta.delta_add');
    await denied(follower, `INSERT INTO deltameta.table_publication (table_id) VALUES (${Number(tableId)})`);
    await denied(follower, `DELETE FROM deltameta.delta_commit`);
    await owner.query('DELETE FROM deltameta.table_follow');
  });

  it('a publish-group role reads the log and keeps its publication state, and writes nothing else', async function () {
    const publisher = await loginIn('deltameta_publish');
    const { rows } = await publisher.query<{ n: number }>('SELECT count(*)::int AS n FROM deltameta.delta_add a JOIN deltameta.delta_commit c USING (table_id, version)');
    expect(rows[0]?.n).to.be.greaterThan(0);
    const { rows: ids } = await owner.query<{ table_id: number }>("SELECT table_id FROM deltameta.delta_table WHERE name = 'roles_t'");
    await publisher.query('INSERT INTO deltameta.table_publication (table_id) VALUES ($1)', [ids[0]?.table_id]);
    await publisher.query('UPDATE deltameta.table_publication SET published_version = 0');
    await denied(publisher, `INSERT INTO deltameta.delta_commit (table_id, version, timestamp_ms) SELECT table_id, 9, 1 FROM deltameta.delta_table`);
    await denied(publisher, `UPDATE deltameta.table_state SET mv_version = 99`);
    await denied(publisher, `UPDATE deltameta.table_follow SET followed_version = 1`);
    await denied(publisher, `DELETE FROM deltameta.table_publication`);
    await owner.query('DELETE FROM deltameta.table_publication');
  });
});
