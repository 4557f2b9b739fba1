/**
 * Small SVG bar charts for docs/benchmarks.md: grouped horizontal bars on a
 * linear or log axis, readable on GitHub without any plotting dependency.
 */
export interface BarGroup {
  readonly label: string;
  readonly bars: ReadonlyArray<{ readonly name: string; readonly value: number }>;
}

const palette = ['#2f6fde', '#e0822b', '#3a9e5c', '#b8434b', '#7d5bbf'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function barChart(options: { title: string; unit: string; groups: readonly BarGroup[]; log?: boolean; target?: { value: number; label: string } }): string {
  const barHeight = 18;
  const gap = 6;
  const groupGap = 16;
  const left = 170;
  const width = 760;
  const plotWidth = width - left - 90;
  const names = [...new Set(options.groups.flatMap((group) => group.bars.map((bar) => bar.name)))];
  const values = options.groups.flatMap((group) => group.bars.map((bar) => bar.value)).concat(options.target ? [options.target.value] : []);
  const max = Math.max(...values);
  const min = Math.min(...values.filter((value) => value > 0));
  const scale = (value: number): number => {
    if (!options.log) return (value / max) * plotWidth;
    const lo = Math.log10(Math.max(min / 2, 1e-3));
    return ((Math.log10(Math.max(value, 1e-3)) - lo) / (Math.log10(max) - lo)) * plotWidth;
  };
  let y = 40;
  const parts: string[] = [];
  for (const group of options.groups) {
    parts.push(`<text x="${left - 10}" y="${y + 12}" text-anchor="end" font-size="12" font-weight="bold">${escape(group.label)}</text>`);
    for (const bar of group.bars) {
      const color = palette[names.indexOf(bar.name) % palette.length] ?? '#888';
      const w = Math.max(1, scale(bar.value));
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${color}"/>`);
      parts.push(`<text x="${left + w + 4}" y="${y + 13}" font-size="11">${escape(`${formatValue(bar.value)} ${options.unit}`)}</text>`);
      y += barHeight + gap;
    }
    y += groupGap;
  }
  if (options.target) {
    const x = left + scale(options.target.value);
    parts.push(`<line x1="${x}" y1="30" x2="${x}" y2="${y - groupGap}" stroke="#b8434b" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x + 3}" y="${y - groupGap + 12}" font-size="11" fill="#b8434b">${escape(options.target.label)}</text>`);
    y += 14;
  }
  let legendX = left;
  const legend = names.map((name, index) => {
    const x = legendX;
    legendX += 40 + name.length * 7;
    return `<rect x="${x}" y="${y}" width="12" height="12" fill="${palette[index % palette.length] ?? '#888'}"/><text x="${x + 16}" y="${y + 10}" font-size="11">${escape(name)}</text>`;
  });
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escape(options.title)}${options.log ? ' (log scale)' : ''}</text>`,
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

function formatValue(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(0);
  return value.toFixed(1);
}

/** One rate of bench/pipeline.ts's sweep (also what bench/results/pipeline.json holds under `rates`). */
export interface LatencySummary { readonly count: number; readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number }
export interface PipelineRateRow {
  readonly askedCommitsPerSecond: number;
  readonly tables: number;
  readonly seconds: number;
  readonly commits: number;
  readonly errors: number;
  /** commits that returned within the window, per second: the load the pipeline really got */
  readonly achievedCommitsPerSecond: number;
  /** how late the generator started its latest commit (its own pace, not the pipeline's) */
  readonly generatorLagMsMax: number;
  readonly commitToVisibleMs: LatencySummary;
  readonly commitToRefreshedMs: LatencySummary;
  /** CPU milliseconds per commit by stage (service processes, PostgreSQL backends by application, the generator) */
  readonly cpuMsPerCommit?: Readonly<Record<string, number>>;
}

/**
 * The pipeline's knee: p99 of commit → visible and commit → refreshed against
 * the achieved commit rate, one pair of lines per table set, on a log axis,
 * with the targets (50 ms, 250 ms) as dashed lines.
 */
export function pipelineKneeChart(series: ReadonlyArray<{ readonly name: string; readonly rows: readonly PipelineRateRow[] }>, targets = { visibleMs: 50, refreshedMs: 250 }): string {
  const width = 760;
  const height = 420;
  const left = 70;
  const right = 190;
  const top = 40;
  const bottom = 50;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const points = series.flatMap((one) => one.rows);
  const maxRate = Math.max(...points.map((row) => Math.max(row.achievedCommitsPerSecond, row.askedCommitsPerSecond)), 1);
  const latencies = points.flatMap((row) => [row.commitToVisibleMs.p99, row.commitToRefreshedMs.p99]).filter((value) => Number.isFinite(value) && value > 0);
  const lo = Math.floor(Math.log10(Math.max(1, Math.min(...latencies, targets.visibleMs))));
  const hi = Math.ceil(Math.log10(Math.max(...latencies, targets.refreshedMs) * 1.05));
  const x = (rate: number): number => left + (rate / maxRate) * plotWidth;
  const y = (ms: number): number => top + plotHeight - ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / Math.max(1, hi - lo)) * plotHeight;
  const parts: string[] = [
    `<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${top + plotHeight}" stroke="#444"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotHeight}" stroke="#444"/>`,
  ];
  for (let exponent = lo; exponent <= hi; exponent++) {
    const ms = 10 ** exponent;
    parts.push(`<line x1="${left}" y1="${y(ms).toFixed(1)}" x2="${left + plotWidth}" y2="${y(ms).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(ms) + 4).toFixed(1)}" text-anchor="end" font-size="11">${formatValue(ms)} ms</text>`);
  }
  const rateTicks = [...new Set(points.map((row) => row.askedCommitsPerSecond))].sort((a, b) => a - b);
  for (const rate of rateTicks) parts.push(`<text x="${x(rate).toFixed(1)}" y="${top + plotHeight + 16}" text-anchor="middle" font-size="11">${formatValue(rate)}</text>`);
  parts.push(`<text x="${left + plotWidth / 2}" y="${height - 12}" text-anchor="middle" font-size="12">commits/s achieved</text>`);
  for (const [value, label] of [[targets.visibleMs, `visible target ${targets.visibleMs} ms`], [targets.refreshedMs, `refreshed target ${targets.refreshedMs} ms`]] as const) {
    parts.push(`<line x1="${left}" y1="${y(value).toFixed(1)}" x2="${left + plotWidth}" y2="${y(value).toFixed(1)}" stroke="#555" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${left + plotWidth + 4}" y="${(y(value) + 4).toFixed(1)}" font-size="11" fill="#555">${escape(label)}</text>`);
  }
  let legendY = top + 60;
  series.forEach((one, index) => {
    const rows = [...one.rows].sort((a, b) => a.achievedCommitsPerSecond - b.achievedCommitsPerSecond);
    const lines = [
      { name: `${one.name}: visible p99`, color: palette[(2 * index) % palette.length] ?? '#888', value: (row: PipelineRateRow) => row.commitToVisibleMs.p99 },
      { name: `${one.name}: refreshed p99`, color: palette[(2 * index + 1) % palette.length] ?? '#888', value: (row: PipelineRateRow) => row.commitToRefreshedMs.p99 },
    ];
    for (const line of lines) {
      const coordinates = rows.filter((row) => Number.isFinite(line.value(row))).map((row) => `${x(row.achievedCommitsPerSecond).toFixed(1)},${y(line.value(row)).toFixed(1)}`);
      parts.push(`<polyline points="${coordinates.join(' ')}" fill="none" stroke="${line.color}" stroke-width="2"/>`);
      for (const point of coordinates) {
        const [cx, cy] = point.split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${line.color}"/>`);
      }
      parts.push(`<rect x="${left + plotWidth + 4}" y="${legendY - 9}" width="12" height="12" fill="${line.color}"/><text x="${left + plotWidth + 20}" y="${legendY + 1}" font-size="11">${escape(line.name)}</text>`);
      legendY += 18;
    }
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">Pipeline p99 against commit rate (log scale)</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
