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
 *     [--instances invalidator=3,refresher=3 ...] [--find-max] [--warmup-seconds S]
 *
 * `--rate N` is `--rates N`. `--tables 1` is the single-table case. The
 * result's top level is the first configuration's highest rate's row (what
 * bench/run.ts reads); `rates` holds its every row. The load generator's own
 * pace is reported: `achievedCommitsPerSecond` counts commits that returned
 * within the window, and `generatorLagMsMax` is how late the generator
 * started a commit.
 *
 * Scale-out (issue 15, docs/benchmarks.md "Scale-out"): `--instances` runs
 * that many instances of each service (`cdc=2,invalidator=3,refresher=3`;
 * the others 1; `1` is one of each, the default). Given several times, each
 * is a configuration measured in the same invocation one after the other,
 * each on a fresh database with the same tables and its own run (slot,
 * topic, consumer group, queue), so their figures sit side by side; they
 * are in `configurations`. `--find-max` climbs the rates (default
 * 10,25,50,100,150,200,300,400,600,800) until commit → visible p99 reaches
 * 50 ms or the achieved rate falls below 90 % of the asked one, and reports
 * per configuration `maxSustained`: the highest rate below that; past it the
 * climb goes on (throughput) until the asked rate is not achieved or the p99
 * reaches 5 s.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '../shared/config/index.ts';
import { createPool } from '../shared/db/index.ts';
import type { Action } from '../shared/delta/index.ts';
import { commit } from '../shared/log-store/index.ts';
import { pipelineKneeChart, type PipelineRateRow } from './chart.ts';
import { parseConfiguration, startFleet, type BenchConfiguration } from './pipeline-fleet.ts';
import { startProbe } from './pipeline-probe.ts';
import { dropScratchDatabase, scratchDatabase } from './support.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string' }, rates: { type: 'string' }, tables: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '30' }, out: { type: 'string' }, chart: { type: 'string' },
    instances: { type: 'string', multiple: true }, 'find-max': { type: 'boolean', default: false }, 'warmup-seconds': { type: 'string' },
  },
});
function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return value;
}
const findMax = values['find-max'];
const rateList = values.rate ?? values.rates ?? (findMax ? '10,25,50,100,150,200,300,400,600,800' : '50,100,200,300,500');
const rates = rateList.split(',').map((text) => positive('rates', text.trim()));
const tableCount = Math.round(positive('tables', values.tables));
const seconds = positive('seconds', values.seconds);
// An unrecorded load at the first rate so that rate does not carry the services' warm-up (JIT, pools, consumer groups settling).
const warmupSeconds = values['warmup-seconds'] === undefined ? (findMax ? 5 : 0) : Number(values['warmup-seconds']);
const configurations = (values.instances ?? ['1']).map(parseConfiguration);
const outFile = values.out ?? path.join(projectRoot, 'bench', 'results', 'pipeline.json');
/** commit → visible p99 the highest sustained rate stays under, and the share of the asked rate it must achieve */
const visibleP99TargetMs = 50;
const achievedShare = 0.9;

const schemaString = JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: false, metadata: {} }] });
const create: Action[] = [
  { kind: 'protocol', protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
  { kind: 'metaData', metaData: { id: 'bench', format: { provider: 'parquet', options: {} }, schemaString, partitionColumns: [], configuration: {} } },
];
const tables = Array.from({ length: tableCount }, (_, index) => `bench_${String(index).padStart(3, '0')}`);

const sustains = (row: PipelineRateRow): boolean =>
  row.commitToVisibleMs.p99 < visibleP99TargetMs && row.achievedCommitsPerSecond >= achievedShare * row.askedCommitsPerSecond;

interface ConfigurationResult {
  label: string;
  short: string;
  instances: Record<string, number>;
  /** the invalidators' consumer group when measuring began: commits-topic partitions per member */
  partitions: Record<string, number[]>;
  rates: PipelineRateRow[];
  /** with --find-max: the highest asked rate that held commit → visible p99 < 50 ms at ≥ 90 % achieved (null: not even the first) */
  maxSustained?: { askedCommitsPerSecond: number; achievedCommitsPerSecond: number; commitToVisibleP99Ms: number } | null;
  /** with --find-max: why the climb stopped */
  stoppedBecause?: string;
}

async function runConfiguration(configuration: BenchConfiguration, index: number): Promise<ConfigurationResult> {
  console.error(`\n== ${configuration.label}`);
  const url = await scratchDatabase('deltameta_bench_pipeline');
  // Enough connections that commits never queue in the pool: at 500 commits/s a commit that takes 100 ms on a
  // loaded machine means 50 in flight (16 capped a run at ~120/s while commits took ~130 ms).
  const pool = createPool(url, { max: 64 });
  for (const table of tables) await commit(pool, { table, actions: create });
  const fleet = await startFleet(url, configuration, `bench-${process.pid}-${index}`, (instance, line, level) => {
    if (level >= 40) process.stderr.write(`${instance} | ${line}\n`);
  });
  console.error(`the invalidators' partitions: ${JSON.stringify(fleet.assignment)}`);
  const probe = await startProbe(url, pool, tables, fleet);
  const result: ConfigurationResult = { label: configuration.label, short: configuration.short, instances: Object.fromEntries(configuration.counts), partitions: fleet.assignment, rates: [] };
  try {
    await probe.warmUp();
    if (warmupSeconds > 0) await probe.measure(rates[0] as number, warmupSeconds);
    for (const rate of rates) {
      const row = await probe.measure(rate, seconds);
      result.rates.push(row);
      if (!findMax) continue;
      if (sustains(row) && result.stoppedBecause === undefined) {
        result.maxSustained = { askedCommitsPerSecond: rate, achievedCommitsPerSecond: row.achievedCommitsPerSecond, commitToVisibleP99Ms: row.commitToVisibleMs.p99 };
        continue;
      }
      result.stoppedBecause ??= row.commitToVisibleMs.p99 >= visibleP99TargetMs
        ? `at ${rate}/s commit → visible p99 was ${row.commitToVisibleMs.p99} ms`
        : `at ${rate}/s only ${row.achievedCommitsPerSecond}/s was achieved`;
      // Past the latency target the climb goes on, for the throughput, until the rate is no longer achieved (or p99 passes 5 s).
      if (row.achievedCommitsPerSecond < achievedShare * rate || row.commitToVisibleMs.p99 >= 5000) break;
    }
    if (findMax) {
      result.maxSustained ??= null;
      result.stoppedBecause ??= `every rate up to ${rates[rates.length - 1]}/s held`;
      console.error(`${configuration.label}: max sustained ${result.maxSustained?.askedCommitsPerSecond ?? 'none'} commits/s (${result.stoppedBecause})`);
    }
  } finally {
    await probe.close();
    await fleet.stop();
    await pool.end();
    await dropScratchDatabase('deltameta_bench_pipeline');
  }
  return result;
}

const results: ConfigurationResult[] = [];
for (const [index, configuration] of configurations.entries()) results.push(await runConfiguration(configuration, index));

const first = results[0] as ConfigurationResult;
const headline = first.rates.reduce((best, row) => (row.askedCommitsPerSecond > best.askedCommitsPerSecond ? row : best));
const flags = [
  `--rates ${rates.join(',')}`, `--tables ${tableCount}`, `--seconds ${seconds}`,
  ...(values.instances ?? []).map((spec) => `--instances ${spec}`), ...(findMax ? ['--find-max'] : []),
  ...(values['warmup-seconds'] !== undefined ? [`--warmup-seconds ${warmupSeconds}`] : []),
];
const result = {
  when: new Date().toISOString(),
  command: `node --import tsx bench/pipeline.ts ${flags.join(' ')}`,
  // The first configuration's highest rate's figures, in the shape bench/run.ts reads.
  commits: headline.commits, errors: headline.errors, achievedCommitsPerSecond: headline.achievedCommitsPerSecond,
  commitToVisibleMs: headline.commitToVisibleMs, commitToRefreshedMs: headline.commitToRefreshedMs,
  tables: tableCount,
  rates: first.rates,
  ...(configurations.length > 1 || values.instances !== undefined || findMax ? { configurations: results } : {}),
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
if (values.chart) {
  const tablesName = `${tableCount} table${tableCount === 1 ? '' : 's'}`;
  const series = results.length > 1 ? results.map((one) => ({ name: one.short, rows: one.rates })) : [{ name: tablesName, rows: first.rates }];
  writeFileSync(values.chart, pipelineKneeChart(series));
}
