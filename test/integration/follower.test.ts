/**
 * services/follower against the real PostgreSQL as the follower login (its
 * grants are tested too), in-process and as its process: a delta-rs writer
 * followed version by version (snapshot equals delta-rs at each), the lease
 * across instances (a crash or SIGKILL taken over after its time, nothing
 * twice or skipped), a handover mid-stream, the poll without inotify, and
 * versions lost to log cleanup reported, not invented (docs/follower.md).
 */
import { expect } from 'chai';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { localLoginUrl } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { commitFileName, generateTable, type AddAction, type MetadataAction, type ProtocolAction } from '../../shared/delta/index.ts';
import { findTable, handoverToOwned, importTable } from '../../shared/log-store/index.ts';
import { createRegistry, type Registry } from '../../shared/metrics/index.ts';
import { ServiceProcess } from '../../shared/service/index.ts';
import { defaultInstanceId, Follower, followerMetrics, type FollowerConfig, type ImportEvent } from '../../services/follower/index.ts';
import { comparableState, expectSameTable } from '../reference/comparable-state.ts';
import { deltaRsAllVersions, ensureDeltaRs } from '../support/deltars.ts';
import { describeWithEnv } from '../support/env.ts';
import { snapshotOf, TempDirs } from '../support/tables.ts';
import { eventually } from '../support/wait.ts';

/** Runs delta-rs operations one line at a time from stdin; prints the table's version after each. */
const writerScript = `
import sys, json, pyarrow as pa
from deltalake import DeltaTable, write_deltalake
d = sys.argv[1]
rows = lambda k: pa.table({'id': pa.array(range(k * 10, k * 10 + 10), pa.int64()), 'p': [f'p{i % 2}' for i in range(10)], 'v': [f'r{k}'] * 10})
for n, line in enumerate(sys.stdin):
    op = line.strip()
    if op == 'append': write_deltalake(d, rows(n), mode='append', partition_by=['p'])
    elif op == 'overwrite': write_deltalake(d, rows(n), mode='overwrite', partition_by=['p'])
    elif op == 'delete': DeltaTable(d).delete('id % 3 = 0')
    elif op == 'optimize': DeltaTable(d).optimize.compact()
    elif op == 'checkpoint': DeltaTable(d).create_checkpoint()
    else: raise SystemExit('unknown op ' + op)
    print(json.dumps({'version': DeltaTable(d).version()}), flush=True)
`;

class DeltaRsWriter {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly child: ChildProcessWithoutNullStreams, reader: Interface) {
    this.lines = reader[Symbol.asyncIterator]();
  }
  static async start(dir: string): Promise<DeltaRsWriter> {
    const child = spawn(await ensureDeltaRs(), ['-c', writerScript, dir]);
    const stderr: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    child.once('exit', (code) => code && console.error(`delta-rs writer exited ${code}: ${stderr.join('')}`));
    return new DeltaRsWriter(child, createInterface({ input: child.stdout }));
  }
  async run(op: string): Promise<number> {
    this.child.stdin.write(`${op}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error(`the delta-rs writer ended during ${op}`);
    return (JSON.parse(next.value) as { version: number }).version;
  }
  close(): void { this.child.stdin.end(); }
}

describeWithEnv('services/follower', (env) => {
  const dirs = new TempDirs();
  const running: Follower[] = [];
  const events: ImportEvent[] = [];
  const logLines: { msg: string; missingFrom?: number; missingTo?: number }[] = [];
  let pool: Pool;
  let followerPool: Pool;

  before(() => {
    pool = env.pool(4);
    followerPool = createPool(localLoginUrl(env.config.postgresUrl, 'follower'), { max: 8, applicationName: `test:${env.id}:follower` });
  });

  afterEach(async () => {
    for (const follower of running.splice(0)) await follower.stop();
  });

  after(async () => {
    await followerPool.end();
    await pool.end();
    dirs.removeAll();
  });

  function startFollower(settings: Partial<FollowerConfig> = {}): { follower: Follower; registry: Registry; started: Promise<void> } {
    const config: FollowerConfig = {
      postgresUrl: '', pollMs: 200, inotify: true, leaseTtlMs: 1500, scanIntervalMs: 200, maxTables: 100, maxBackoffMs: 1000,
      instanceId: defaultInstanceId(), ...settings,
    };
    const registry = createRegistry('follower');
    const sink = new Writable({ write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    } });
    const logger = pino({ name: 'deltameta', level: 'info', base: { service: 'follower' } }, sink);
    const follower = new Follower({ pool: followerPool, logger, metrics: followerMetrics(registry), config, onImport: (event) => events.push(event) });
    running.push(follower);
    return { follower, registry, started: follower.start() };
  }

  const head = async (table: string): Promise<number> => (await findTable(pool, table))?.headVersion ?? -2;

  async function followRow(table: string): Promise<Record<string, unknown> | undefined> {
    const { rows } = await pool.query<Record<string, unknown>>(
      'SELECT f.* FROM deltameta.table_follow f JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [table]);
    return rows[0];
  }

  /** A generated followed table (real _delta_log, no checkpoint); returns its folder and head. */
  async function registered(name: string): Promise<{ dir: string; head: number }> {
    const dir = path.join(dirs.make(name), 'table');
    await generateTable(dir, { files: 20, commits: 2, partitions: 2, checkpointInterval: 0, seed: 5 });
    const result = await importTable(pool, dir, name, { follow: 'register' });
    return { dir, head: result.toVersion };
  }

  /** A commit file as a writer finishes one: written aside, renamed into place (atomic). */
  function writeCommit(dir: string, version: number): void {
    const add = { path: `date=2026-01-01/follow-${version}.parquet`, partitionValues: { date: '2026-01-01' }, size: 100 + version, modificationTime: 1, dataChange: true };
    const lines = [{ commitInfo: { timestamp: Date.now(), operation: 'WRITE' } }, { add }];
    const file = path.join(dir, '_delta_log', commitFileName(version));
    writeFileSync(`${file}.tmp`, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    renameSync(`${file}.tmp`, file);
  }

  const versionsBy = (table: string, instanceId?: string): number[] => events
    .filter((event) => event.table === table && (instanceId === undefined || event.instanceId === instanceId))
    .flatMap((event) => Array.from({ length: event.toVersion - event.fromVersion + 1 }, (_, i) => event.fromVersion + i));

  async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
    const found = (await registry.getMetricsAsJSON()).find((each) => each.name === name);
    const value = found?.values.find((each) => Object.entries(labels).every(([key, wanted]) => each.labels[key] === wanted));
    return Number(value?.value ?? NaN);
  }

  it('follows a delta-rs writer version by version; the snapshot equals delta-rs at every version', async function () {
    this.timeout(60_000);
    const dir = dirs.make('deltars');
    const writer = await DeltaRsWriter.start(dir);
    try {
      expect(await writer.run('append')).to.equal(0);
      await importTable(pool, dir, 'fw_deltars', { follow: 'register' });
      const { registry, started } = startFollower({ pollMs: 1000 });
      await started;
      for (const op of ['append', 'append', 'delete', 'append', 'overwrite', 'append', 'optimize', 'checkpoint', 'append', 'delete']) {
        const before = await head('fw_deltars');
        const version = await writer.run(op);
        if (op === 'checkpoint') {
          expect(version, 'a checkpoint adds no version').to.equal(before);
          continue;
        }
        expect(version).to.equal(before + 1);
        await eventually(`${op} (version ${version}) imported`, async () => (await head('fw_deltars')) === version);
        // Each version is imported as its commit file appears, on its own.
        expect(events.filter((event) => event.table === 'fw_deltars').at(-1)).to.include({ fromVersion: version, toVersion: version });
        expect(Number((await followRow('fw_deltars'))?.['followed_version'])).to.equal(version);
      }
      expect(await metric(registry, 'deltameta_follow_lag_seconds')).to.equal(0);
      expect(await metric(registry, 'deltameta_follow_imports_total', { outcome: 'failed' })).to.equal(0);
    } finally {
      writer.close();
    }
    const table = await findTable(pool, 'fw_deltars');
    const reference = await deltaRsAllVersions(dir);
    expect(reference.map((state) => state.version)).to.deep.equal(Array.from({ length: (table?.headVersion ?? 0) + 1 }, (_, i) => i));
    for (const expected of reference) {
      const { version, lines } = await snapshotOf(pool, 'fw_deltars', { version: expected.version });
      const { rows } = await pool.query<{ metadata: string; protocol: string }>(
        `SELECT (SELECT action FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS metadata,
                (SELECT action FROM deltameta.delta_protocol WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1) AS protocol`,
        [table?.tableId, version],
      );
      const adds = lines.map((line) => (JSON.parse(line) as { add: AddAction }).add);
      const ours = comparableState({
        version, adds, metadata: JSON.parse(rows[0]?.metadata ?? 'null') as MetadataAction, protocol: JSON.parse(rows[0]?.protocol ?? 'null') as ProtocolAction,
      });
      expectSameTable(ours, expected, `version ${version}`);
    }
  });

  it('two instances: one holds the lease; a crashed holder is taken over after the lease time, no version twice or skipped', async function () {
    this.timeout(30_000);
    const { dir, head: start } = await registered('fw_lease');
    const a = startFollower();
    await a.started;
    const b = startFollower();
    await b.started;
    expect(a.follower.heldNames).to.include('fw_lease');
    expect(b.follower.heldNames, 'every followed table is held by the first').to.deep.equal([]);
    expect((await followRow('fw_lease'))?.['lease_holder']).to.equal(a.follower.instanceId);

    writeCommit(dir, start + 1);
    writeCommit(dir, start + 2);
    await eventually('versions imported by the holder', async () => (await head('fw_lease')) === start + 2);
    await a.follower.abandon();
    const crashedAt = Date.now();
    for (let version = start + 3; version <= start + 5; version++) writeCommit(dir, version);
    await eventually('the other instance takes the table over', () => b.follower.heldNames.includes('fw_lease'), 10_000);
    expect(Date.now() - crashedAt, 'not before the lease ran out').to.be.at.least(1000);
    await eventually('the versions written meanwhile imported', async () => (await head('fw_lease')) === start + 5);
    expect((await followRow('fw_lease'))?.['lease_holder']).to.equal(b.follower.instanceId);

    const byA = versionsBy('fw_lease', a.follower.instanceId);
    const byB = versionsBy('fw_lease', b.follower.instanceId);
    expect(byA.every((version) => version <= start + 2)).to.equal(true);
    expect([...byA, ...byB].sort((x, y) => x - y)).to.deep.equal([start + 1, start + 2, start + 3, start + 4, start + 5]);
    const { rows } = await pool.query<{ versions: number[] }>(
      "SELECT array_agg(version ORDER BY version) AS versions FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'fw_lease'");
    expect(rows[0]?.versions.map(Number)).to.deep.equal(Array.from({ length: start + 6 }, (_, i) => i));

    // A graceful stop releases the lease: a new instance takes the table at once.
    await b.follower.stop();
    expect((await followRow('fw_lease'))?.['lease_holder']).to.equal(null);
    const c = startFollower();
    await c.started;
    expect(c.follower.heldNames).to.include('fw_lease');
  });

  it('a handover mid-stream: the follower lets the table go and writes nothing after it', async function () {
    this.timeout(30_000);
    const { dir, head: start } = await registered('fw_handover');
    const { follower, started } = startFollower();
    await started;
    writeCommit(dir, start + 1);
    await eventually('first version imported', async () => (await head('fw_handover')) === start + 1);
    // A version the follower may be importing right now: the handover and the follower's import race for it.
    writeCommit(dir, start + 2);
    const handover = await handoverToOwned(pool, 'fw_handover');
    expect(handover.version).to.equal(start + 2);
    await eventually('the follower let the table go', () => !follower.heldNames.includes('fw_handover'), 5000);
    writeCommit(dir, start + 3);
    await follower.tick();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await head('fw_handover'), 'nothing imported after the handover').to.equal(start + 2);
    expect((await findTable(pool, 'fw_handover'))?.kind).to.equal('owned');
    expect(await followRow('fw_handover'), 'no follow row (no lease) left behind').to.equal(undefined);
    expect(follower.heldNames).not.to.include('fw_handover');
  });

  it('inotify off: the poll finds each version; inotify on: found without waiting for the poll', async function () {
    this.timeout(30_000);
    const polled = await registered('fw_poll');
    const off = startFollower({ inotify: false, pollMs: 250 });
    await off.started;
    expect(off.follower.watchedCount).to.equal(0);
    writeCommit(polled.dir, polled.head + 1);
    await eventually('imported by the poll', async () => (await head('fw_poll')) === polled.head + 1, 2000);
    await off.follower.stop();

    const watched = await registered('fw_inotify');
    const on = startFollower({ inotify: true, pollMs: 60_000 });
    await on.started;
    expect(on.follower.heldNames).to.include('fw_inotify');
    expect(on.follower.watchedCount).to.be.at.least(1);
    writeCommit(watched.dir, watched.head + 1);
    await eventually('imported on the inotify event (the poll is a minute away)', async () => (await head('fw_inotify')) === watched.head + 1, 5000);
  });

  it('versions lost to log cleanup before they were followed: reported in table_follow and the metric, not invented', async function () {
    this.timeout(30_000);
    const { dir, head: start } = await registered('fw_missing');
    for (let version = start + 1; version <= start + 4; version++) writeCommit(dir, version);
    // Cleaned up before any follower saw them.
    rmSync(path.join(dir, '_delta_log', commitFileName(start + 1)));
    rmSync(path.join(dir, '_delta_log', commitFileName(start + 2)));
    const { follower, registry, started } = startFollower();
    await started;
    expect(follower.heldNames).to.include('fw_missing');
    await eventually('the gap reported', async () => (await followRow('fw_missing'))?.['missing_to'] !== null);
    const row = await followRow('fw_missing');
    expect(Number(row?.['missing_from'])).to.equal(start + 1);
    expect(Number(row?.['missing_to'])).to.equal(start + 2);
    expect(String(row?.['error'])).to.include(`version ${start + 1}`);
    expect(await head('fw_missing'), 'nothing invented').to.equal(start);
    expect(await metric(registry, 'deltameta_follow_missing_versions')).to.equal(2);
    expect(await metric(registry, 'deltameta_follow_imports_total', { outcome: 'missing' })).to.be.at.least(1);
    expect(await metric(registry, 'deltameta_follow_lag_seconds')).to.be.above(0);
    expect(logLines.some((line) => line.missingFrom === start + 1 && line.missingTo === start + 2 && /lost to log cleanup/.test(line.msg))).to.equal(true);
  });

  it('the service process (main.ts) SIGKILLed mid-stream: taken over after the lease time, no version lost or twice', async function () {
    this.timeout(40_000);
    const { dir, head: start } = await registered('fw_sigkill');
    const service = ServiceProcess.spawn('follower', {
      env: {
        ...process.env, DELTAMETA_PG_URL: env.config.postgresUrl, DELTAMETA_FOLLOWER_ADMIN_PORT: '0', DELTAMETA_FOLLOWER_POLL_MS: '200',
        DELTAMETA_FOLLOWER_LEASE_TTL_MS: '2000', DELTAMETA_FOLLOWER_SCAN_INTERVAL_MS: '300', DELTAMETA_FOLLOWER_INSTANCE_ID: `sigkill-${env.id}`,
      },
    });
    try {
      await service.waitReady(30_000);
      expect((await followRow('fw_sigkill'))?.['lease_holder']).to.equal(`sigkill-${env.id}`);
      for (let version = start + 1; version <= start + 3; version++) writeCommit(dir, version);
      await eventually('imported by the service', async () => (await head('fw_sigkill')) === start + 3);
      for (let version = start + 4; version <= start + 8; version++) {
        writeCommit(dir, version);
        if (version === start + 5) await service.kill();
      }
    } finally {
      if (service.running) await service.kill();
    }
    const killedAt = Date.now();
    const { follower, started } = startFollower();
    await started;
    await eventually('taken over', () => follower.heldNames.includes('fw_sigkill'), 10_000);
    expect(Date.now() - killedAt, 'not before the lease ran out').to.be.at.least(1000);
    await eventually('every version imported', async () => (await head('fw_sigkill')) === start + 8);
    expect(versionsBy('fw_sigkill', follower.instanceId)).to.include.members([start + 6, start + 7, start + 8]);
    const { rows } = await pool.query<{ n: number; distinct_versions: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT version)::int AS distinct_versions FROM deltameta.delta_commit c JOIN deltameta.delta_table t USING (table_id) WHERE t.name = 'fw_sigkill'");
    expect(rows[0]).to.deep.equal({ n: start + 9, distinct_versions: start + 9 });
  });
});
