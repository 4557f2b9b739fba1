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
