/**
 * The _delta_log layouts bench/reader.ts measures. `today` is the one the
 * benchmark always used: few commits, and the head is a checkpoint, so a
 * reader of the latest version (deltameta's replay, delta-rs) reads one
 * Parquet file and no JSON — the kindest case for file-based readers.
 * `realistic` is what a long-lived table looks like: ~1,000 commits, a
 * checkpoint every 100, and a JSON tail after the last one that every
 * file-based read must replay on top of it.
 */
import { generateTable, type GenerateResult } from '../shared/delta/index.ts';

export type LayoutName = 'today' | 'realistic';
export const layoutNames: readonly LayoutName[] = ['today', 'realistic'];

export interface Layout {
  readonly name: LayoutName;
  readonly description: string;
  readonly commits: number;
  readonly checkpointInterval: number;
  /** a version with a JSON tail past its checkpoint, for the time-travel endpoint */
  readonly timeTravelVersion: number;
}

const layouts: Record<LayoutName, Layout> = {
  today: { name: 'today', description: '20 commits, checkpoint every 10 (head is a checkpoint, no JSON tail)', commits: 20, checkpointInterval: 10, timeTravelVersion: 15 },
  // 1,050: the last checkpoint at 1,000 with 50 JSON commits after it — half a
  // checkpoint interval, the tail a reader meets on average.
  realistic: { name: 'realistic', description: '1,050 commits, checkpoint every 100 (last at 1,000), JSON tail 1,001..1,050', commits: 1_050, checkpointInterval: 100, timeTravelVersion: 955 },
};

export function parseLayouts(option: string): Layout[] {
  if (option === 'both') return layoutNames.map((name) => layouts[name]);
  const layout = (layouts as Partial<Record<string, Layout>>)[option];
  if (!layout) throw new Error(`--layout must be today, realistic or both, got ${option}`);
  return [layout];
}

export function generateLayout(dir: string, layout: Layout, files: number): Promise<GenerateResult> {
  return generateTable(dir, { files, commits: layout.commits, partitions: 50, checkpointInterval: layout.checkpointInterval, seed: 7 });
}
