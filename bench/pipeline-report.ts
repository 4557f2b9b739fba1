/**
 * Markdown for docs/benchmarks.md ("Scale-out (issue 15)") from result files
 * of `bench/pipeline.ts --instances … --find-max`: one table row per rate
 * and configuration, the highest sustained rate of each, and a knee chart
 * with every configuration as a series.
 *
 *   node --import tsx bench/pipeline-report.ts [--chart FILE] NAME=RESULT.json [NAME=RESULT.json …]
 *
 * NAME names the stack the file was measured on (e.g. `3 brokers`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pipelineKneeChart, type PipelineRateRow } from './chart.ts';

interface Configuration { label: string; short?: string; rates: PipelineRateRow[]; maxSustained?: { askedCommitsPerSecond: number; achievedCommitsPerSecond: number; commitToVisibleP99Ms: number } | null; stoppedBecause?: string }
interface Result { when: string; command: string; rates: PipelineRateRow[]; configurations?: Configuration[] }

const { values, positionals } = parseArgs({ options: { chart: { type: 'string' } }, allowPositionals: true });
const files = positionals.map((argument) => {
  const at = argument.indexOf('=');
  if (at < 1) throw new Error(`expected NAME=FILE, got ${argument}`);
  return { stack: argument.slice(0, at), result: JSON.parse(readFileSync(argument.slice(at + 1), 'utf8')) as Result };
});

const lines: string[] = [];
for (const { stack, result } of files) lines.push(`- ${stack} (${result.when}): \`${result.command}\``);
lines.push('', '| stack | instances | asked /s | achieved /s | visible p50 / p99 ms | refreshed p50 / p99 ms |', '|---|---|---|---|---|---|');
const series: Array<{ name: string; rows: PipelineRateRow[] }> = [];
const sustained: string[] = [];
for (const { stack, result } of files) {
  for (const configuration of result.configurations ?? [{ label: 'one each', rates: result.rates }]) {
    for (const row of configuration.rates) {
      lines.push(`| ${stack} | ${configuration.label} | ${row.askedCommitsPerSecond} | ${row.achievedCommitsPerSecond} | ${row.commitToVisibleMs.p50} / ${row.commitToVisibleMs.p99} | ${row.commitToRefreshedMs.p50} / ${row.commitToRefreshedMs.p99} |`);
    }
    series.push({ name: `${stack} ${configuration.short ?? configuration.label}`, rows: configuration.rates });
    if (configuration.maxSustained !== undefined) {
      const max = configuration.maxSustained;
      // Every rate that held, not only below the first that did not: one window's outliers (the first, after the
      // warm-up) must not hide the rates above it that held.
      const held = configuration.rates.filter((row) => row.commitToVisibleMs.p99 < 50 && row.achievedCommitsPerSecond >= 0.9 * row.askedCommitsPerSecond);
      const highest = held.at(-1);
      sustained.push(`| ${stack} | ${configuration.label} | ${max === null ? 'none' : `${max.askedCommitsPerSecond} (${max.achievedCommitsPerSecond} achieved, p99 ${max.commitToVisibleP99Ms} ms)`} | ${configuration.stoppedBecause ?? ''} | ${held.map((row) => row.askedCommitsPerSecond).join(', ') || 'none'} | ${highest ? `${highest.askedCommitsPerSecond} (p99 ${highest.commitToVisibleMs.p99} ms)` : 'none'} |`);
    }
  }
}
if (sustained.length > 0) lines.push('', '| stack | instances | highest rate below the first that missed p99 < 50 ms | the climb stopped | every rate that held p99 < 50 ms, ≥ 90 % achieved | highest that held |', '|---|---|---|---|---|---|', ...sustained);
console.log(lines.join('\n'));
if (values.chart) writeFileSync(values.chart, pipelineKneeChart(series));
