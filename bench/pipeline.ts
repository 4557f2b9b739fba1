/**
 * Pipeline latency under a steady write load (docs/design.md section 6): commits
 * at fixed rates spread over a set of tables, measuring per commit
 *   commit → visible:   commit() returned → head pointer announced at ≥ that version
 *   commit → refreshed: commit() returned → table_state.mv_version ≥ that version
 * with the real services (cdc, invalidator, refresher) as processes. A sweep
 * runs each rate of `--rates` for `--seconds` on the same tables and services,
 * waiting between rates until the pipeline has caught up; the knee is where
 * the p99s leave their targets (50 ms visible, 250 ms refreshed).
 *
 *   node --import tsx bench/pipeline.ts [--rates 50,100,200,300,500] [--tables 100] [--seconds 30] [--out FILE] [--chart FILE]
 *
 * `--rate N` is `--rates N`. `--tables 1` is the single-table case. The
 * result's top level is the highest rate's row (what bench/run.ts reads);
 * `rates` holds every row. The load generator's own pace is reported:
 * `achievedCommitsPerSecond` counts commits that returned within the window,
 * and `generatorLagMsMax` is how late the generator started a commit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { projectRoot } from '../shared/config/index.ts';
import { redisKeys } from '../shared/contracts/index.ts';
import { createPool } from '../shared/db/index.ts';
import type { Action } from '../shared/delta/index.ts';
import { commit } from '../shared/log-store/index.ts';
import { pipelineKneeChart, type PipelineRateRow } from './chart.ts';
import { startServiceProcesses } from '../shared/service/index.ts';
import { dropScratchDatabase, percentile, scratchDatabase } from './support.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string' }, rates: { type: 'string', default: '50,100,200,300,500' }, tables: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '30' }, out: { type: 'string' }, chart: { type: 'string' },
  },
});
function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return value;
}
const rates = (values.rate ?? values.rates).split(',').map((text) => positive('rates', text.trim()));
const tableCount = Math.round(positive('tables', values.tables));
const seconds = positive('seconds', values.seconds);
const outFile = values.out ?? path.join(projectRoot, 'bench', 'results', 'pipeline.json');

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const create: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'bench', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
];

const url = await scratchDatabase('deltameta_bench_pipeline');
// Enough connections that commits never queue in the pool: at 500 commits/s a commit that takes 100 ms on a
// loaded machine means 50 in flight (16 capped a run at ~120/s while commits took ~130 ms).
const pool = createPool(url, { max: 64 });
const tables = Array.from({ length: tableCount }, (_, index) => `bench_${String(index).padStart(3, '0')}`);
for (const table of tables) await commit(pool, { table, actions: create });
const run = `${process.pid}`;
const services = await startServiceProcesses(url, ['cdc', 'invalidator', 'refresher'], `bench-${run}`, {
  onLine: (service, line, level) => {
    if (level >= 40) process.stderr.write(`${service} | ${line}\n`);
  },
});
const prefix = services.config.pipeline.redisPrefix;

// Per table: version → time commit() returned, until both latencies of that version are taken.
const pendingVisible = new Map<string, Map<number, number>>();
const pendingRefreshed = new Map<string, Map<number, number>>();
let visibleMs: number[] = [];
let refreshedMs: number[] = [];

function resolve(pending: Map<string, Map<number, number>>, table: string, upTo: number, now: number, into: () => number[]): void {
  const versions = pending.get(table);
  if (!versions) return;
  for (const [version, at] of versions) {
    if (version <= upTo) {
      into().push(Math.max(0, now - at));
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
  resolve(pendingVisible, table, version, now, () => visibleMs);
});

const tableIds = new Map<number, string>();
for (const row of (await pool.query<{ table_id: number; name: string }>('SELECT table_id, name FROM deltameta.delta_table')).rows) tableIds.set(row.table_id, row.name);
const refreshedTo = new Map<string, number>();
let polling = true;
const pollPool = createPool(url, { max: 1, applicationName: 'bench-poller' });
const poller = (async () => {
  while (polling) {
    const { rows } = await pollPool.query<{ table_id: number; mv_version: number }>('SELECT table_id, mv_version FROM deltameta.table_state');
    const now = performance.now();
    for (const row of rows) {
      const table = tableIds.get(row.table_id) ?? '';
      refreshedTo.set(table, row.mv_version);
      resolve(pendingRefreshed, table, row.mv_version, now, () => refreshedMs);
    }
    await new Promise((done) => setTimeout(done, 5));
  }
})();

async function commitTo(table: string, record: boolean): Promise<number> {
  const file = `f-${Math.random().toString(36).slice(2)}.parquet`;
  const { version } = await commit(pool, { table, actions: [{ kind: 'add', add: { path: file, partitionValues: {}, size: 100, modificationTime: Date.now(), dataChange: true } }] });
  const now = performance.now();
  if (!record) return now;
  for (const pending of [pendingVisible, pendingRefreshed]) {
    const versions = pending.get(table) ?? new Map<number, number>();
    pending.set(table, versions);
    versions.set(version, now);
  }
  // An announcement (or a refresh) may beat commit() returning: then it is there already.
  resolve(pendingVisible, table, announced.get(table) ?? -1, now, () => visibleMs);
  resolve(pendingRefreshed, table, refreshedTo.get(table) ?? -1, now, () => refreshedMs);
  return now;
}

async function caughtUp(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await pool.query<{ behind: number }>(
      `SELECT count(*)::int AS behind FROM deltameta.delta_table t LEFT JOIN deltameta.table_state s USING (table_id)
        WHERE coalesce(s.mv_version, -1) < (SELECT max(version) FROM deltameta.delta_commit c WHERE c.table_id = t.table_id)`,
    );
    if (rows[0]?.behind === 0 && tables.every((table) => (announced.get(table) ?? -1) >= 1)) return true;
    await new Promise((done) => setTimeout(done, 100));
  }
  return false;
}

const summary = (samples: number[]) => ({
  count: samples.length,
  p50: +percentile(samples, 50).toFixed(1),
  p95: +percentile(samples, 95).toFixed(1),
  p99: +percentile(samples, 99).toFixed(1),
  max: +percentile(samples, 100).toFixed(1),
});

/**
 * CPU seconds so far per stage: each service's process_cpu_seconds_total
 * (its /metrics), the benchmark process itself (the load generator), and
 * the PostgreSQL backends of the benchmark's database by application
 * (from /proc: writers, the CDC's walsender, the refresher's connections).
 * Backends that ended between two readings are missed (pools keep theirs).
 */
async function cpuSeconds(): Promise<Record<string, number>> {
  const totals: Record<string, number> = { generator: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 };
  for (const [service, port] of services.adminPorts) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text(), () => '');
    const match = /^deltameta_process_process_cpu_seconds_total\S* ([0-9.e+-]+)$/m.exec(text);
    if (match) totals[service] = Number(match[1]);
  }
  const { rows } = await pool.query<{ pid: number; application_name: string; backend_type: string }>(
    `SELECT pid, application_name, backend_type FROM pg_stat_activity WHERE datname = current_database()`,
  );
  const ticks = 100;
  for (const row of rows) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${row.pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / ticks;
    const application = row.application_name === 'deltameta' ? 'generator' : row.application_name.replace(/^deltameta-/, '');
    const stage = row.backend_type === 'walsender' ? 'pg:walsender' : `pg:${application}`;
    totals[stage] = (totals[stage] ?? 0) + seconds;
  }
  return totals;
}

function cpuMsPerCommit(before: Record<string, number>, after: Record<string, number>, commits: number): Record<string, number> {
  const perCommit: Record<string, number> = {};
  for (const [stage, seconds] of Object.entries(after)) {
    const used = seconds - (before[stage] ?? 0);
    if (used > 0) perCommit[stage] = +((used * 1000) / Math.max(1, commits)).toFixed(2);
  }
  return perCommit;
}

async function measure(rate: number): Promise<PipelineRateRow> {
  visibleMs = [];
  refreshedMs = [];
  console.error(`load: ${rate} commits/s over ${tableCount} table(s) for ${seconds} s…`);
  const intervalMs = 1000 / rate;
  const windowMs = seconds * 1000;
  const cpuBefore = await cpuSeconds();
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  let sent = 0;
  let errors = 0;
  let returnedInWindow = 0;
  let generatorLagMsMax = 0;
  for (;;) {
    const due = started + sent * intervalMs;
    if (due - started >= windowMs) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    generatorLagMsMax = Math.max(generatorLagMsMax, performance.now() - due);
    const table = tables[sent % tableCount] as string;
    inFlight.push(commitTo(table, true).then((at) => { if (at - started <= windowMs) returnedInWindow++; }, () => { errors++; }));
    sent++;
  }
  await Promise.all(inFlight);
  const drainDeadline = Date.now() + 60_000;
  while (Date.now() < drainDeadline && (visibleMs.length < sent - errors || refreshedMs.length < sent - errors)) {
    await new Promise((done) => setTimeout(done, 50));
  }
  for (const pending of [pendingVisible, pendingRefreshed]) pending.clear();
  const cpu = cpuMsPerCommit(cpuBefore, await cpuSeconds(), sent);
  const row: PipelineRateRow = {
    askedCommitsPerSecond: rate, tables: tableCount, seconds, commits: sent, errors,
    achievedCommitsPerSecond: +(returnedInWindow / seconds).toFixed(1), generatorLagMsMax: +generatorLagMsMax.toFixed(1),
    commitToVisibleMs: summary(visibleMs), commitToRefreshedMs: summary(refreshedMs), cpuMsPerCommit: cpu,
  };
  console.error(JSON.stringify(row));
  // The next rate starts from a caught-up pipeline.
  if (!(await caughtUp(120_000))) console.error('the pipeline did not catch up within 120 s');
  return row;
}

// Warm-up: every table once, until the pipeline has caught up.
console.error(`warming up ${tableCount} tables…`);
await Promise.all(tables.map((table) => commitTo(table, false)));
await caughtUp(120_000);

const rows: PipelineRateRow[] = [];
for (const rate of rates) rows.push(await measure(rate));
polling = false;
await poller;

const headline = rows.reduce((best, row) => (row.askedCommitsPerSecond > best.askedCommitsPerSecond ? row : best));
const result = {
  when: new Date().toISOString(),
  command: `node --import tsx bench/pipeline.ts --rates ${rates.join(',')} --tables ${tableCount} --seconds ${seconds}`,
  // The highest rate's figures, in the shape bench/run.ts reads.
  commits: headline.commits, errors: headline.errors, achievedCommitsPerSecond: headline.achievedCommitsPerSecond,
  commitToVisibleMs: headline.commitToVisibleMs, commitToRefreshedMs: headline.commitToRefreshedMs,
  tables: tableCount,
  rates: rows,
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
if (values.chart) writeFileSync(values.chart, pipelineKneeChart([{ name: `${tableCount} table${tableCount === 1 ? '' : 's'}`, rows }]));

subscriber.disconnect();
await services.stop();
await pool.end();
await pollPool.end();
await dropScratchDatabase('deltameta_bench_pipeline');
