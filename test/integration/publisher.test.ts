/**
 * services/publisher (docs/publisher.md; invariant 8): owned tables'
 * commits written as a real _delta_log, put-if-absent. delta-rs (Python
 * deltalake) reads the published log exactly as deltameta's snapshot at
 * every version; a crash mid-stream (simulated in-process, and a SIGKILL of
 * the spawned service) leaves no gap, no duplicate, no rewritten byte; a
 * different file at a version stops that table only; `deltameta publish`
 * refuses a followed table and a folder holding another log.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { localLoginUrl } from '../../shared/config/index.ts';
import { encodeCommitEvent } from '../../shared/contracts/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { commitFileName, generateTable, type Action } from '../../shared/delta/index.ts';
import { exportTable, findTable, handoverToOwned, importTable } from '../../shared/log-store/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { ServiceProcess } from '../../shared/service/index.ts';
import { LogPublisher, publisherMetrics, type PublisherMetrics } from '../../services/publisher/index.ts';
import { runDeltameta } from '../support/cli.ts';
import { ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { PipelineHarness } from '../support/pipeline.ts';
import { commitOnHead, pathsOf, snapshotOf, TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

const schema = (extra: boolean): string => JSON.stringify({
  type: 'struct',
  fields: [
    { name: 'id', type: 'long', nullable: true, metadata: {} },
    { name: 'p', type: 'string', nullable: true, metadata: {} },
    ...(extra ? [{ name: 'note', type: 'string', nullable: true, metadata: {} }] : []),
  ],
});
const metadata = (configuration: Record<string, string>, extra = false): Action => ({
  kind: 'metaData',
  metaData: { id: '6d3c1f7e-0000-4000-8000-00000000000d', format: { provider: 'parquet', options: {} }, schemaString: schema(extra), partitionColumns: ['p'], configuration, createdTime: 1_700_000_000_000 },
});
const info = (operation: string): Action => ({ kind: 'commitInfo', commitInfo: { timestamp: Date.now(), operation, operationParameters: {} } });
const add = (name: string, p = 'a', dataChange = true): Action => ({
  kind: 'add', add: { path: `p=${p}/${name}.parquet`, partitionValues: { p }, size: 100 + name.length, modificationTime: 1_700_000_000_000, dataChange, stats: '{"numRecords":3}' },
});
const remove = (name: string, p = 'a'): Action => ({ kind: 'remove', remove: { path: `p=${p}/${name}.parquet`, deletionTimestamp: 1_700_000_000_001, dataChange: true, extendedFileMetadata: false } });
const logFiles = (dir: string): string[] => readdirSync(path.join(dir, '_delta_log')).sort();
const bytesOf = (dir: string): Map<string, Buffer> => new Map(logFiles(dir).map((name) => [name, readFileSync(path.join(dir, '_delta_log', name))]));

/** delta-rs at every version: version(), the add paths (get_add_actions flatten=True), history() of the latest. */
const deltaRsScript = `
import json, sys
import pyarrow as pa
from deltalake import DeltaTable
where, head = sys.argv[1], int(sys.argv[2])
versions = []
for v in range(head + 1):
    t = DeltaTable(where, version=v)
    versions.append({"version": t.version(), "paths": sorted(pa.table(t.get_add_actions(flatten=True)).column("path").to_pylist())})
history = [{"version": h["version"], "operation": h.get("operation"), "timestamp": h.get("timestamp")} for h in DeltaTable(where).history()]
print(json.dumps({"versions": versions, "history": history}))
`;

describeWithEnv('publisher', (env) => {
  const dirs = new TempDirs();
  let pool: Pool;
  let publisherPool: Pool;
  const cliEnv = (): NodeJS.ProcessEnv => ({ DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_LOG_LEVEL: 'silent' });

  before(() => {
    pool = env.pool(4);
    publisherPool = createPool(localLoginUrl(env.config.postgresUrl, 'logPublisher'), { max: 4, applicationName: `test:${env.id}` });
  });
  after(async () => {
    await Promise.all([pool.end(), publisherPool.end()]);
    dirs.removeAll();
  });

  function inProcess(): { publisher: LogPublisher; metrics: PublisherMetrics } {
    const metrics = publisherMetrics(new Registry());
    const settings = { postgresUrl: '', consumerGroup: '', sweepIntervalMs: 60_000, concurrency: 2, defaultCheckpointInterval: 10 };
    return { publisher: new LogPublisher(settings, { pool: publisherPool, logger: createLogger('publisher', 'silent'), metrics }), metrics };
  }

  type Publication = { published_version: number; checkpoint_version: number | null; stopped_reason: string | null };
  async function publication(table: string): Promise<Publication | undefined> {
    const { rows } = await pool.query<Publication>(
      'SELECT published_version, checkpoint_version, stopped_reason FROM deltameta.table_publication p JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table],
    );
    return rows[0];
  }

  /** Creates `table` (version 0) and commits `appends` more versions of two adds each; returns the head. */
  async function appended(table: string, appends: number, configuration: Record<string, string> = {}): Promise<number> {
    await commitOnHead(pool, { table, actions: [info('CREATE TABLE'), { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, metadata(configuration)] });
    for (let i = 1; i <= appends; i++) await commitOnHead(pool, { table, actions: [info('WRITE'), add(`${table}-${i}-x`), add(`${table}-${i}-y`, 'b')], isBlindAppend: true });
    return appends;
  }

  async function publishCli(table: string, dir: string): Promise<void> {
    const run = await runDeltameta(['publish', '--table', table, dir], cliEnv());
    expect(run.code, run.stderr).to.equal(0);
  }

  it('writes every version as delta-rs reads it identically to deltameta, with checkpoints at the interval', async function () {
    const table = 'pub_parity';
    await appended(table, 3, { 'delta.checkpointInterval': '4' });
    await commitOnHead(pool, { table, actions: [info('DELETE'), remove(`${table}-1-x`), add(`${table}-4-z`)] });
    await commitOnHead(pool, { table, actions: [info('WRITE'), add(`${table}-4-w`, 'c')], isBlindAppend: true });
    await commitOnHead(pool, { table, actions: [info('SET TBLPROPERTIES'), metadata({ 'delta.checkpointInterval': '4', 'delta.appendOnly': 'false' }, true)] });
    for (const name of ['7', '8', '9']) await commitOnHead(pool, { table, actions: [info('WRITE'), add(`${table}-${name}`)], isBlindAppend: true });
    await commitOnHead(pool, { table, actions: [info('OPTIMIZE'), remove(`${table}-7`), remove(`${table}-8`), add(`${table}-78`, 'a', false)] });
    const head = (await findTable(pool, table))?.headVersion ?? -1;
    expect(head).to.equal(10);

    const dir = path.join(dirs.make('parity'), 'table');
    await publishCli(table, dir);
    expect(await publication(table)).to.include({ published_version: -1 });
    const { publisher, metrics } = inProcess();
    await publisher.sweep();
    expect(await publication(table)).to.deep.include({ published_version: head, checkpoint_version: 8, stopped_reason: null });
    expect((await metrics.versionsTotal.get()).values[0]?.value).to.equal(head + 1);
    expect((await metrics.lagVersions.get()).values[0]?.value).to.equal(0);

    // Exactly what `deltameta export` writes, and nothing else (no temporary file left).
    const exported = dirs.make('parity-export');
    await exportTable(pool, table, exported, { checkpointInterval: 4 });
    const expectedNames = [...Array.from({ length: head + 1 }, (_, v) => commitFileName(v)), '00000000000000000004.checkpoint.parquet', '00000000000000000008.checkpoint.parquet', '_last_checkpoint'];
    expect(logFiles(dir)).to.deep.equal(expectedNames.sort());
    for (let v = 0; v <= head; v++) {
      expect(readFileSync(path.join(dir, '_delta_log', commitFileName(v)), 'utf8'), `version ${v}`).to.equal(readFileSync(path.join(exported, '_delta_log', commitFileName(v)), 'utf8'));
    }
    const last = JSON.parse(readFileSync(path.join(dir, '_delta_log', '_last_checkpoint'), 'utf8')) as Record<string, number>;
    expect(last).to.deep.equal({ version: 8, size: last['size'], sizeInBytes: statSync(path.join(dir, '_delta_log', '00000000000000000008.checkpoint.parquet')).size, numOfAddFiles: (await snapshotOf(pool, table, { version: 8 })).lines.length });

    const python = await ensureDeltaRs();
    const { stdout } = await promisify(execFile)(python, ['-c', deltaRsScript, dir, String(head)], { maxBuffer: 64 << 20 });
    const read = JSON.parse(stdout) as { versions: Array<{ version: number; paths: string[] }>; history: Array<{ version: number; operation: string; timestamp: number }> };
    for (let v = 0; v <= head; v++) {
      expect(read.versions[v], `delta-rs at version ${v}`).to.deep.equal({ version: v, paths: pathsOf((await snapshotOf(pool, table, { version: v })).lines) });
    }
    const { rows: commits } = await pool.query<{ version: number; operation: string; timestamp: string }>(
      "SELECT version, commit_info->>'operation' AS operation, commit_info->>'timestamp' AS timestamp FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1 ORDER BY version DESC", [table],
    );
    expect(read.history).to.deep.equal(commits.map((row) => ({ version: row.version, operation: row.operation, timestamp: Number(row.timestamp) })));
  });

  it('in-commit timestamps are published as stored', async function () {
    const table = 'pub_ict';
    await commitOnHead(pool, {
      table,
      actions: [info('CREATE TABLE'), { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['inCommitTimestamp'] } }, metadata({ 'delta.enableInCommitTimestamps': 'true' })],
    });
    await commitOnHead(pool, { table, actions: [info('WRITE'), add('ict-1')], isBlindAppend: true });
    const dir = path.join(dirs.make('ict'), 'table');
    await publishCli(table, dir);
    await inProcess().publisher.sweep();
    const { rows } = await pool.query<{ version: number; timestamp_ms: number }>(
      'SELECT version, timestamp_ms FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1 ORDER BY version', [table],
    );
    expect(rows).to.have.length(2);
    for (const row of rows) {
      const first = JSON.parse(readFileSync(path.join(dir, '_delta_log', commitFileName(row.version)), 'utf8').split('\n')[0] as string) as { commitInfo: { inCommitTimestamp: number } };
      expect(first.commitInfo.inCommitTimestamp, `version ${row.version}`).to.equal(Number(row.timestamp_ms));
    }
  });

  it('resumes after a crash between writing a version and recording it: same bytes, no gap, no duplicate', async function () {
    const table = 'pub_resume';
    const head = await appended(table, 12, { 'delta.checkpointInterval': '5' });
    const dir = path.join(dirs.make('resume'), 'table');
    await publishCli(table, dir);
    await inProcess().publisher.sweep();
    const before = bytesOf(dir);
    // The crash: versions 4.. written but not recorded, a temporary file half written, a checkpoint pointer behind.
    await pool.query('UPDATE deltameta.table_publication SET published_version = 3 WHERE table_id = (SELECT table_id FROM deltameta.delta_table WHERE name = $1)', [table]);
    writeFileSync(path.join(dir, '_delta_log', `.${commitFileName(4)}.0badc0ffee00.tmp`), '{"commitInfo":');
    const { publisher, metrics } = inProcess();
    await publisher.sweep();
    expect(await publication(table)).to.include({ published_version: head, stopped_reason: null });
    expect((await metrics.versionsTotal.get()).values[0]?.value, 'versions 4.. found identical count as published').to.equal(head - 3);
    const after = bytesOf(dir);
    after.delete(`.${commitFileName(4)}.0badc0ffee00.tmp`);
    expect([...after.keys()]).to.deep.equal([...before.keys()]);
    for (const [name, bytes] of before) expect(after.get(name)?.equals(bytes), name).to.equal(true);
  });

  it('a different file at a version stops that table only, leaving the file as it was', async function () {
    const stopped = 'pub_stopped';
    const other = 'pub_other';
    await appended(stopped, 5);
    await appended(other, 5);
    const stoppedDir = path.join(dirs.make('stopped'), 'table');
    const otherDir = path.join(dirs.make('other'), 'table');
    await publishCli(stopped, stoppedDir);
    await publishCli(other, otherDir);
    const foreign = `${JSON.stringify({ commitInfo: { operation: 'WRITE', engineInfo: 'another engine' } })}\n${JSON.stringify({ add: { path: 'x.parquet', partitionValues: { p: 'a' }, size: 1, modificationTime: 1, dataChange: true } })}\n`;
    mkdirSync(path.join(stoppedDir, '_delta_log'));
    writeFileSync(path.join(stoppedDir, '_delta_log', commitFileName(3)), foreign);
    const { publisher, metrics } = inProcess();
    await publisher.sweep();
    const state = await publication(stopped);
    expect(state?.published_version).to.equal(2);
    expect(state?.stopped_reason).to.include(commitFileName(3)).and.include('version 3');
    expect(readFileSync(path.join(stoppedDir, '_delta_log', commitFileName(3)), 'utf8')).to.equal(foreign);
    expect(existsSync(path.join(stoppedDir, '_delta_log', commitFileName(4)))).to.equal(false);
    expect(await publication(other)).to.include({ published_version: 5, stopped_reason: null });
    expect((await metrics.stoppedTables.get()).values[0]?.value).to.equal(1);

    // Later commits are not published either; the next sweep counts it stopped and behind.
    await commitOnHead(pool, { table: stopped, actions: [info('WRITE'), add('late')], isBlindAppend: true });
    await publisher.sweep();
    expect((await publication(stopped))?.published_version).to.equal(2);
    expect((await metrics.lagVersions.get()).values[0]?.value).to.equal(4);
    expect((await metrics.stoppedTables.get()).values[0]?.value).to.equal(1);
  });

  it('after a handover, publishes from the version the files held on, into the same folder', async function () {
    const dir = path.join(dirs.make('handover'), 'table');
    await generateTable(dir, { files: 10, commits: 3, partitions: 1, checkpointInterval: 0, seed: 7 });
    await importTable(pool, dir, 'pub_handover', { follow: 'register' });
    const before = bytesOf(dir);
    const { version } = await handoverToOwned(pool, 'pub_handover');
    const owned: Action = { kind: 'add', add: { path: 'owned-1.parquet', partitionValues: { date: '2026-01-01' }, size: 10, modificationTime: 1, dataChange: true } };
    await commitOnHead(pool, { table: 'pub_handover', actions: [info('WRITE'), owned], isBlindAppend: true });
    await inProcess().publisher.sweep();
    expect(await publication('pub_handover')).to.include({ published_version: version + 1, stopped_reason: null });
    const after = bytesOf(dir);
    for (const [name, bytes] of before) expect(after.get(name)?.equals(bytes), `${name} unchanged`).to.equal(true);
    expect(JSON.parse(after.get(commitFileName(version + 1))?.toString().split('\n')[1] ?? '{}')).to.have.nested.property('add.path', 'owned-1.parquet');
  });

  it('publish refuses a followed table and a folder holding another log; accepts a folder holding the same log', async function () {
    const followedDir = path.join(dirs.make('followed'), 'table');
    await generateTable(followedDir, { files: 10, commits: 2, partitions: 1, checkpointInterval: 0, seed: 5 });
    await importTable(pool, followedDir, 'pub_followed', { follow: 'register' });
    const followed = await runDeltameta(['publish', '--table', 'pub_followed', dirs.make('elsewhere')], cliEnv());
    expect(followed.code).to.equal(2);
    expect(followed.stderr).to.include('followed').and.include('handover');

    await appended('pub_cli', 2);
    const foreignDir = path.join(dirs.make('foreign'), 'table');
    await generateTable(foreignDir, { files: 10, commits: 2, partitions: 1, checkpointInterval: 0, seed: 6 });
    const before = bytesOf(foreignDir);
    const refused = await runDeltameta(['publish', '--table', 'pub_cli', foreignDir], cliEnv());
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include('version 0').and.include('different log');
    expect(bytesOf(foreignDir)).to.deep.equal(before);
    expect(await publication('pub_cli')).to.equal(undefined);

    // A folder already holding versions 0..1 of this very log: published from 2 on.
    const sameDir = dirs.make('same');
    await exportTable(pool, 'pub_cli', sameDir, { checkpointInterval: 0 });
    await commitOnHead(pool, { table: 'pub_cli', actions: [info('WRITE'), add('after-export')], isBlindAppend: true });
    await publishCli('pub_cli', sameDir);
    expect(await publication('pub_cli')).to.include({ published_version: 2 });
    expect((await findTable(pool, 'pub_cli'))?.location).to.equal(sameDir);

    // The folder an owned table was imported from holds its log (another writer's JSON: the same actions).
    const imported = await importTable(pool, foreignDir, 'pub_imported');
    await publishCli('pub_imported', foreignDir);
    expect(await publication('pub_imported')).to.include({ published_version: imported.toVersion });
    const shared = await runDeltameta(['publish', '--table', 'pub_cli', foreignDir], cliEnv());
    expect(shared.code).to.equal(2);
    expect(shared.stderr).to.include('already the location of table pub_imported');
  });

  it('SIGKILL of the spawned publisher mid-stream, then a restart: no gap, no duplicate, no rewritten byte; commit events wake it', async function () {
    const table = 'pub_killed';
    // A checkpoint at every version: a stream slow enough to be killed in the middle.
    const head = await appended(table, 60, { 'delta.checkpointInterval': '1' });
    const dir = path.join(dirs.make('killed'), 'table');
    await publishCli(table, dir);
    // It sweeps when it starts; after that (the next sweep is 10 minutes away) only commit events wake it.
    const harness = new PipelineHarness(env, { DELTAMETA_PUBLISHER_SWEEP_INTERVAL_MS: '600000', DELTAMETA_PUBLISHER_GROUP: env.topic('publisher') });
    const commitFiles = (): string[] => (existsSync(path.join(dir, '_delta_log')) ? logFiles(dir).filter((name) => /^\d{20}\.json$/.test(name)) : []);
    const killed = ServiceProcess.spawn('publisher', { env: harness.environment });
    try {
      await eventually('five versions published', () => commitFiles().length >= 5, 30_000);
    } finally {
      await killed.kill();
    }
    const atKill = new Map([...bytesOf(dir)].filter(([name]) => !name.startsWith('.') && name !== '_last_checkpoint'));
    const written = commitFiles();
    expect(written, 'no gap').to.deep.equal(Array.from({ length: written.length }, (_, v) => commitFileName(v)));
    expect(written.length, 'killed mid-stream').to.be.lessThan(head + 1);
    expect((await publication(table))?.published_version).to.be.at.most(written.length - 1);

    const producer = env.kafka().producer();
    try {
      await harness.start('publisher');
      await eventually('caught up after the restart', async () => (await publication(table))?.published_version === head, 30_000);
      const after = bytesOf(dir);
      for (const [name, bytes] of atKill) expect(after.get(name)?.equals(bytes), `${name} unchanged`).to.equal(true);
      const exported = dirs.make('killed-export');
      await exportTable(pool, table, exported, { checkpointInterval: 0 });
      for (let v = 0; v <= head; v++) expect(after.get(commitFileName(v))?.equals(readFileSync(path.join(exported, '_delta_log', commitFileName(v)))), `version ${v}`).to.equal(true);

      // Two more commits, announced as the CDC would: the events alone get them published.
      const tableId = (await findTable(pool, table))?.tableId ?? -1;
      await producer.connect();
      for (const version of [head + 1, head + 2]) {
        await commitOnHead(pool, { table, actions: [info('WRITE'), add(`late-${version}`)], isBlindAppend: true });
        const event = { schema: 'deltameta.commit.v1' as const, table, tableId, version, committedAt: new Date().toISOString(), operation: 'WRITE', adds: 1, removes: 0, metadataChanged: false, protocolChanged: false, lsn: '0/0' };
        await producer.send({ topic: harness.config.pipeline.commitsTopic, messages: [{ key: table, value: encodeCommitEvent(event) }] });
      }
      await eventually('published on the commit events', async () => (await publication(table))?.published_version === head + 2, 20_000);
      const metricsText = await (await fetch(harness.adminUrl('publisher', '/metrics'))).text();
      const { rows: [stopped] } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM deltameta.table_publication WHERE stopped_reason IS NOT NULL');
      expect(metricsText).to.match(/deltameta_publish_versions_total\{[^}]*\} [1-9]/).and.match(new RegExp(`deltameta_publish_stopped_tables\\{[^}]*\\} ${stopped?.n ?? -1}\n`));
    } finally {
      await producer.disconnect();
      await harness.stopAll();
    }
  });
});
