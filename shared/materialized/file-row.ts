/**
 * A file_index row from an add action: the canonical snapshot line (the
 * bytes `replay` and `snapshot` print), and the columns that counts,
 * partition summaries and pruning need.
 */
import { addLine, addLineFromJson, checkedStatsRecords, type AddAction } from '../delta/index.ts';
import type { FileInterval } from './intervals.ts';

export interface FileIndexRow extends FileColumns {
  readonly path: string;
  readonly dvId: string;
  readonly addedVersion: number;
  readonly removedVersion: number | null;
}

/**
 * jsonb refuses what JSON.parse allows in strings: \u0000 and unpaired
 * surrogate escapes. Stats that hold such escapes (or any surrogate escape:
 * cheaper to test, and real stats write such characters raw) are kept out of
 * the stats column; the add line still carries them for readers.
 */
const jsonbUnsafe = /\\u(?:0000|[dD][89a-fA-F])/;

function parsedStats(stats: unknown): { text: string | null; numRecords: number | null } {
  if (typeof stats !== 'string' || jsonbUnsafe.test(stats)) return { text: null, numRecords: null };
  // Just accepted by the input checks (a JSON object): their numRecords, without parsing the text again.
  const checked = checkedStatsRecords(stats);
  if (checked !== undefined) return { text: stats, numRecords: checked };
  let parsed: unknown;
  try {
    parsed = JSON.parse(stats);
  } catch {
    return { text: null, numRecords: null };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { text: null, numRecords: null };
  const numRecords = (parsed as { numRecords?: unknown }).numRecords;
  return { text: stats, numRecords: typeof numRecords === 'number' && Number.isSafeInteger(numRecords) && numRecords >= 0 ? numRecords : null };
}

/** Partition values with keys in code point order, as the key of per-partition deltas. */
export function partitionKeyOf(values: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(values);
  if (keys.length <= 1) return JSON.stringify(values);
  keys.sort();
  const sorted: Record<string, unknown> = {};
  for (const key of keys) sorted[key] = values[key];
  return JSON.stringify(sorted);
}

export interface FileColumns extends AddColumns {
  readonly addLine: string;
}

/** The columns of an add's file_index row but its add line. */
export interface AddColumns {
  /** JSON text of the add's partitionValues */
  readonly partitionValues: string;
  /** the same, with keys sorted: equal partition values, equal key */
  readonly partitionKey: string;
  readonly size: number;
  readonly numRecords: number | null;
  /** the add's stats string when PostgreSQL's jsonb accepts it, else null */
  readonly stats: string | null;
}

export function fileColumns(add: AddAction): FileColumns {
  return { ...addColumns(add), addLine: addLine(add) };
}

/** fileColumns without the add line; `partitionValuesJson` is JSON.stringify(add.partitionValues) when the caller has it. */
export function addColumns(add: AddAction, partitionValuesJson?: string): AddColumns {
  const partitionValues = add.partitionValues ?? {};
  const text = partitionValuesJson ?? JSON.stringify(partitionValues);
  const stats = parsedStats(add.stats);
  return {
    partitionValues: text,
    // One key or none: the text is already the key (partitionKeyOf).
    partitionKey: hasOneKeyAtMost(partitionValues) ? text : partitionKeyOf(partitionValues),
    size: add.size,
    numRecords: stats.numRecords,
    stats: stats.text,
  };
}

function hasOneKeyAtMost(values: Readonly<Record<string, unknown>>): boolean {
  let keys = 0;
  for (const key in values) {
    if (Object.hasOwn(values, key) && ++keys > 1) return false;
  }
  return true;
}

/**
 * `add`: the interval's add already parsed, when the caller holds it
 * (interval.add is then its JSON.stringify text, and the add line is made
 * from that text: addLineFromJson).
 */
export function fileIndexRow(path: string, dvId: string, interval: FileInterval, add?: AddAction): FileIndexRow {
  const columns = add ? { ...addColumns(add), addLine: addLineFromJson(add, interval.add) ?? addLine(add) } : fileColumns(JSON.parse(interval.add) as AddAction);
  return { path, dvId, addedVersion: interval.addedVersion, removedVersion: interval.removedVersion, ...columns };
}
