/**
 * Step 10 of `deltameta demo`: living beside another Delta engine, delta-rs
 * (Python `deltalake`, real Parquet data). A followed table tracks a
 * delta-rs writer (services/follower imports each commit file as it
 * appears; the reader then serves that version, equal to what delta-rs
 * reads); an owned table takes commits through the HTTP commit API
 * (services/committer) and is published as a real `_delta_log`
 * (services/publisher) that delta-rs reads back, version for version.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../../shared/config/index.ts';
import { HeadPointers } from '../../shared/contracts/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { InternalError } from '../../shared/errors/index.ts';
import { dropTable, findTable, snapshotLines } from '../../shared/log-store/index.ts';
import { importMaterialized } from '../../shared/materialized/index.ts';
import { waitUntil } from '../../shared/service/index.ts';
import { ensureDeltaRs } from '../../shared/stack/index.ts';
import { publishTable } from './publish-command.ts';

const execFileAsync = promisify(execFile);

/** delta-rs writes (`append N` / `delete`) and reads (`read [version]`: version and sorted add paths as JSON). */
const deltaRsScript = `
import json, sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
where, what = sys.argv[1], sys.argv[2]
if what == 'append':
    n = int(sys.argv[3])
    write_deltalake(where, pa.table({'id': list(range(n)), 'day': ['2026-12-02'] * n}), mode='append', partition_by=['day'])
elif what == 'delete':
    DeltaTable(where).delete('id < 2')
else:
    table = DeltaTable(where) if len(sys.argv) < 4 else DeltaTable(where, version=int(sys.argv[3]))
    print(json.dumps({'version': table.version(), 'paths': sorted(table.get_add_actions(flatten=True).column('path').to_pylist())}))
`;

async function deltaRs(python: string, ...args: string[]): Promise<string> {
  return (await execFileAsync(python, ['-c', deltaRsScript, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

async function snapshotPaths(pool: Pool, table: string, version: number): Promise<string[]> {
  const snapshot = await snapshotLines(pool, table, { version });
  const paths: string[] = [];
  for await (const line of snapshot.lines) paths.push((JSON.parse(line) as { add: { path: string } }).add.path);
  return paths.sort();
}

export interface BesideServices {
  readonly redisPrefix: string;
  readonly readerPort: number;
  readonly committerPort: number;
  readonly redis: ConstructorParameters<typeof HeadPointers>[0];
}

export async function besideStory(config: Config, pool: Pool, services: BesideServices): Promise<void> {
  console.log('\n10. Beside delta-rs: a table it writes, followed; a table deltameta owns, published for it to read:');
  const python = await ensureDeltaRs();
  const heads = new HeadPointers(services.redis, services.redisPrefix);
  const reader = `http://127.0.0.1:${services.readerPort}/v1/tables`;

  // Fixed names and folders, each run starting from nothing: an earlier run's tables go first (a folder is one table's log).
  const followed = 'demo_followed';
  const owned = 'demo_owned';
  for (const table of [followed, owned]) if (await findTable(pool, table)) await dropTable(pool, table, { force: true });
  const followedDir = path.join(config.stackDir, 'demo', 'followed');
  rmSync(followedDir, { recursive: true, force: true });
  await deltaRs(python, followedDir, 'append', '5');
  await importMaterialized(pool, followedDir, followed, { follow: 'register' });
  // The follower finds a newly registered table at its next scan (DELTAMETA_FOLLOWER_SCAN_INTERVAL_MS) and takes its lease.
  const found = performance.now();
  await waitUntil(`a follower holding ${followed}`, async () => {
    const { rows } = await pool.query<{ holder: string | null }>(
      'SELECT f.lease_holder AS holder FROM deltameta.table_follow f JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [followed],
    );
    return rows[0]?.holder != null;
  }, { timeoutMs: 60_000, intervalMs: 20 });
  console.log(`   deltameta follow ${followedDir} --table ${followed}: followed at version 0; a follower took it ${(performance.now() - found).toFixed(0)} ms later`);
  let version = 0;
  for (const [label, args] of [['append', ['append', '3']], ['append', ['append', '4']], ['delete', ['delete']]] as const) {
    await deltaRs(python, followedDir, ...args);
    // Each write is one commit file: the next version. Timed from delta-rs's return (its commit file in place).
    version++;
    const written = performance.now();
    await waitUntil(`${followed} at version ${version}`, async () => ((await heads.get(followed))?.version ?? -1) >= version, { timeoutMs: 60_000, intervalMs: 2 });
    const visible = performance.now() - written;
    const theirs = JSON.parse(await deltaRs(python, followedDir, 'read', String(version))) as { version: number; paths: string[] };
    const response = await fetch(`${reader}/${followed}/files?version=${version}`);
    const served = (await response.text()).split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { add: { path: string } }).add.path).sort();
    const same = theirs.version === version && JSON.stringify(served) === JSON.stringify(theirs.paths);
    console.log(`   delta-rs ${label} → version ${version}: visible in deltameta ${visible.toFixed(0)} ms after the writer returned; the reader's ${served.length} files are ${same ? 'the same as' : 'DIFFERENT FROM'} delta-rs's`);
    if (!same) throw new InternalError(`${followed}: the reader and delta-rs disagree at version ${version}`);
  }

  const ownedDir = path.join(config.stackDir, 'demo', 'owned');
  rmSync(ownedDir, { recursive: true, force: true });
  const committer = `http://127.0.0.1:${services.committerPort}/v1/tables/${owned}/commits`;
  const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: true, metadata: {} }, { name: 'day', type: 'string', nullable: true, metadata: {} }] });
  const create = [
    { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
    { metaData: { id: `demo-${Date.now()}`, format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: ['day'], configuration: { 'delta.checkpointInterval': '3' }, createdTime: Date.now() } },
  ];
  const post = async (lines: unknown[], headers: Record<string, string> = {}): Promise<number> => {
    const response = await fetch(committer, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', ...headers }, body: lines.map((line) => JSON.stringify(line)).join('\n') });
    const body = await response.json() as { version?: number; detail?: string };
    if (response.status !== 201 || body.version === undefined) throw new InternalError(`commit API: ${response.status} ${body.detail ?? ''}`);
    return body.version;
  };
  await post(create);
  const published = await publishTable(pool, owned, ownedDir);
  console.log(`   POST ${committer.replace(`/${owned}/`, '/{name}/')} created ${owned} at version 0; deltameta publish --table ${owned} ${ownedDir}: published from version ${published.publishedVersion + 1}`);
  let head = 0;
  for (let i = 0; i < 4; i++) {
    const add = { add: { path: `day=2026-12-02/part-${i}.parquet`, partitionValues: { day: '2026-12-02' }, size: 1000 + i, modificationTime: Date.now(), dataChange: true } };
    head = await post([add], { 'delta-blind-append': 'true', 'idempotency-key': `demo-${Date.now()}-${i}` });
  }
  const started = performance.now();
  await waitUntil(`${owned} published to version ${head}`, async () => {
    const { rows } = await pool.query<{ version: string }>(
      'SELECT p.published_version AS version FROM deltameta.table_publication p JOIN deltameta.delta_table t USING (table_id) WHERE t.name = $1', [owned],
    );
    return Number(rows[0]?.version ?? -1) >= head;
  }, { timeoutMs: 60_000, intervalMs: 10 });
  console.log(`   4 appends through the commit API → version ${head}; the publisher wrote _delta_log up to it ${(performance.now() - started).toFixed(0)} ms later (checkpoint every 3 versions)`);
  for (let version = 0; version <= head; version++) {
    const read = JSON.parse(await deltaRs(python, ownedDir, 'read', String(version))) as { version: number; paths: string[] };
    const ours = await snapshotPaths(pool, owned, version);
    if (read.version !== version || JSON.stringify(read.paths) !== JSON.stringify(ours)) throw new InternalError(`${owned}: delta-rs reads version ${version} of the published log differently`);
  }
  console.log(`   delta-rs reads the published log at every version 0..${head} exactly as deltameta's snapshot`);
}
