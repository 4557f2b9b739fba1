/**
 * Pipeline latency under a steady write load (docs/design.md section 6): commits
 * at a fixed rate spread over many tables, measuring per commit
 *   commit → visible:   commit() returned → head pointer announced at ≥ that version
 *   commit → refreshed: commit() returned → table_state.mv_version ≥ that version
 * with the real services (cdc, invalidator, refresher) as processes.
 *
 *   node --import tsx bench/pipeline.ts [--rate 50] [--tables 100] [--seconds 30]
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { projectRoot } from '../shared/config/index.ts';
import { redisKeys } from '../shared/contracts/index.ts';
import { createPool } from '../shared/db/index.ts';
import type { Action } from '../shared/delta/index.ts';
import { commit } from '../shared/log-store/index.ts';
import { dropScratchDatabase, percentile, scratchDatabase, startServices } from './support.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '50' }, tables: { type: 'string', default: '100' }, seconds: { type: 'string', default: '30' } } });
const rate = Number(values.rate);
const tableCount = Number(values.tables);
const seconds = Number(values.seconds);

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const create: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'bench', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
];

const url = await scratchDatabase('deltameta_bench_pipeline');
const pool = createPool(url, { max: 8 });
const tables = Array.from({ length: tableCount }, (_, index) => `bench_${String(index).padStart(3, '0')}`);
for (const table of tables) await commit(pool, { table, actions: create });
const run = `${process.pid}`;
const services = await startServices(url, ['cdc', 'invalidator', 'refresher'], run);
const prefix = services.config.pipeline.redisPrefix;

// version committed → time commit() returned, per table
const committed = new Map<string, Map<number, number>>();
const visibleMs: number[] = [];
const refreshedMs: number[] = [];
const pendingVisible = new Map<string, Map<number, number>>();
const pendingRefreshed = new Map<string, Map<number, number>>();

function resolve(pending: Map<string, Map<number, number>>, table: string, upTo: number, now: number, into: number[]): void {
  const versions = pending.get(table);
  if (!versions) return;
  for (const [version, at] of versions) {
    if (version <= upTo) {
      into.push(Math.max(0, now - at));
      versions.delete(version);
    }
  }
}

const subscriber = new Redis(services.config.redisUrl);
const announced = new Map<string, number>();
await subscriber.subscribe(redisKeys(prefix).headsChannel);
subscriber.on('message', (_channel: string, message: string) => {
  const now = performance.now();
  const { table, version } = JSON.parse(message) as { table: string; version: number };
  announced.set(table, Math.max(announced.get(table) ?? -1, version));
  resolve(pendingVisible, table, version, now, visibleMs);
});

const tableIds = new Map<number, string>();
for (const row of (await pool.query<{ table_id: number; name: string }>('SELECT table_id, name FROM deltameta.delta_table')).rows) tableIds.set(row.table_id, row.name);
let polling = true;
const poller = (async () => {
  while (polling) {
    const { rows } = await pool.query<{ table_id: number; mv_version: number }>('SELECT table_id, mv_version FROM deltameta.table_state');
    const now = performance.now();
    for (const row of rows) resolve(pendingRefreshed, tableIds.get(row.table_id) ?? '', row.mv_version, now, refreshedMs);
    await new Promise((done) => setTimeout(done, 5));
  }
})();

async function commitTo(table: string, record: boolean): Promise<void> {
  const file = `f-${Math.random().toString(36).slice(2)}.parquet`;
  const { version } = await commit(pool, { table, actions: [{ kind: 'add', add: { path: file, partitionValues: {}, size: 100, modificationTime: Date.now(), dataChange: true } }] });
  const now = performance.now();
  const byTable = committed.get(table) ?? new Map<number, number>();
  committed.set(table, byTable);
  byTable.set(version, now);
  if (!record) return;
  for (const pending of [pendingVisible, pendingRefreshed]) {
    const versions = pending.get(table) ?? new Map<number, number>();
    pending.set(table, versions);
    versions.set(version, now);
  }
  // An announcement may beat commit() returning: then it is visible already.
  resolve(pendingVisible, table, announced.get(table) ?? -1, now, visibleMs);
}

// Warm-up: every table once, until the pipeline has caught up.
console.error(`warming up ${tableCount} tables…`);
await Promise.all(tables.map((table) => commitTo(table, false)));
const warmDeadline = Date.now() + 120_000;
while (Date.now() < warmDeadline) {
  const { rows } = await pool.query<{ behind: number }>(
    `SELECT count(*)::int AS behind FROM deltameta.delta_table t LEFT JOIN deltameta.table_state s USING (table_id)
      WHERE coalesce(s.mv_version, -1) < (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)`,
  );
  if (rows[0]?.behind === 0 && tables.every((table) => (announced.get(table) ?? -1) >= 1)) break;
  await new Promise((done) => setTimeout(done, 100));
}

console.error(`load: ${rate} commits/s over ${tableCount} tables for ${seconds} s…`);
const intervalMs = 1000 / rate;
const started = performance.now();
const inFlight: Array<Promise<void>> = [];
let sent = 0;
let errors = 0;
while (performance.now() - started < seconds * 1000) {
  const due = started + sent * intervalMs;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((done) => setTimeout(done, wait));
  const table = tables[sent % tableCount] as string;
  inFlight.push(commitTo(table, true).catch(() => { errors++; }));
  sent++;
}
await Promise.all(inFlight);
const drainDeadline = Date.now() + 60_000;
while (Date.now() < drainDeadline && (visibleMs.length < sent - errors || refreshedMs.length < sent - errors)) {
  await new Promise((done) => setTimeout(done, 50));
}
polling = false;
await poller;
const achievedRate = sent / ((performance.now() - started) / 1000);

const summary = (samples: number[]) => ({
  count: samples.length,
  p50: +percentile(samples, 50).toFixed(1),
  p95: +percentile(samples, 95).toFixed(1),
  p99: +percentile(samples, 99).toFixed(1),
  max: +percentile(samples, 100).toFixed(1),
});
const result = {
  when: new Date().toISOString(),
  command: `node --import tsx bench/pipeline.ts --rate ${rate} --tables ${tableCount} --seconds ${seconds}`,
  commits: sent, errors, achievedCommitsPerSecond: +achievedRate.toFixed(1),
  commitToVisibleMs: summary(visibleMs),
  commitToRefreshedMs: summary(refreshedMs),
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(path.join(projectRoot, 'bench', 'results', 'pipeline.json'), `${JSON.stringify(result, null, 2)}\n`);

subscriber.disconnect();
await services.stop();
await pool.end();
await dropScratchDatabase('deltameta_bench_pipeline');
