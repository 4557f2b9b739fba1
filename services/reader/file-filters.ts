/**
 * Filters of GET /v1/tables/{name}/files: partition equality and min/max
 * stats pruning. One semantics, two implementations that must agree (the
 * tests hold them to it): a SQL condition over file_index (L3) and a
 * predicate over add actions (L4, the log tables).
 *
 * - `partition.<col>=<value>`: the file's partition value equals it; an
 *   empty value means null ("" and a missing value are null too, as in Delta).
 * - `stats.<col>.gte=<b>`: prune a file whose maxValues.<col> < b;
 *   `stats.<col>.lte=<b>`: prune a file whose minValues.<col> > b. A file
 *   without that statistic (no stats, unparsable stats, missing or null
 *   value) is kept. Numbers compare as numbers when the bound is a number;
 *   everything else compares as text in code point order (ISO dates and
 *   timestamps order correctly as text). `<col>` may be a dotted path into
 *   nested columns.
 *
 * Clients name columns logically; with column mapping the stored keys are
 * physical names, and column-filters.ts translates the parsed filters by the
 * metaData of the version answered before either implementation here sees
 * them (so both match the keys exactly as the log stores them).
 */
import { BadRequestError } from '../../shared/errors/index.ts';
import { compareCodePoints, type AddAction } from '../../shared/delta/index.ts';

export interface PartitionFilter {
  readonly column: string;
  /** null: the partition value is null */
  readonly value: string | null;
}

export interface StatsBound {
  readonly path: readonly string[];
  readonly op: 'gte' | 'lte';
  readonly bound: string;
  /** the bound as a number when it is one */
  readonly numeric: number | undefined;
}

export interface FileFilters {
  readonly partitions: readonly PartitionFilter[];
  readonly stats: readonly StatsBound[];
}

export const noFilters: FileFilters = { partitions: [], stats: [] };

export function hasFilters(filters: FileFilters): boolean {
  return filters.partitions.length > 0 || filters.stats.length > 0;
}

const numberPattern = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;

/** Filters the query carries (each value of a repeated key counts), counted before any is parsed. */
function filterCount(query: Readonly<Record<string, string | readonly string[] | undefined>>): number {
  let count = 0;
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined || !(key.startsWith('partition.') || key.startsWith('stats.'))) continue;
    count += typeof raw === 'string' ? 1 : raw.length;
  }
  return count;
}

/**
 * From the query string's entries (repeatable keys as arrays); unknown
 * `partition.`/`stats.` shapes are a 400, and so are more than `maxFilters`
 * filters: each one is a condition in every row's evaluation (and a
 * parameter of the query), so their number is what a flood scales.
 */
export function parseFileFilters(query: Readonly<Record<string, string | readonly string[] | undefined>>, maxFilters: number): FileFilters {
  const count = filterCount(query);
  if (count > maxFilters) {
    throw new BadRequestError(`at most ${maxFilters} filters (partition.<col>=, stats.<col>.gte=, stats.<col>.lte=) per request (DELTAMETA_READER_MAX_FILTERS), got ${count}`);
  }
  const partitions: PartitionFilter[] = [];
  const stats: StatsBound[] = [];
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = typeof raw === 'string' ? [raw] : raw;
    if (key.startsWith('partition.')) {
      const column = key.slice('partition.'.length);
      if (column === '') throw new BadRequestError('partition filter without a column name');
      for (const value of values) partitions.push({ column, value: value === '' ? null : value });
    } else if (key.startsWith('stats.')) {
      const match = /^stats\.(.+)\.(gte|lte)$/.exec(key);
      if (!match?.[1] || !match[2]) throw new BadRequestError(`${key}: stats filters are stats.<column>.gte= or stats.<column>.lte=`);
      const path = match[1].split('.');
      if (path.some((part) => part === '')) throw new BadRequestError(`${key}: empty column name`);
      for (const bound of values) {
        if (bound === '') throw new BadRequestError(`${key}: empty bound`);
        stats.push({ path, op: match[2] as 'gte' | 'lte', bound, numeric: numberPattern.test(bound) ? Number(bound) : undefined });
      }
    }
  }
  partitions.sort((a, b) => compareCodePoints(a.column, b.column) || compareCodePoints(a.value ?? '', b.value ?? ''));
  stats.sort((a, b) => compareCodePoints(a.path.join('.'), b.path.join('.')) || compareCodePoints(a.op, b.op) || compareCodePoints(a.bound, b.bound));
  return { partitions, stats };
}

/** Canonical text of the filters, part of the cache key. */
export function canonicalFilters(filters: FileFilters): string {
  return JSON.stringify([filters.partitions.map((f) => [f.column, f.value]), filters.stats.map((s) => [s.path, s.op, s.bound])]);
}

function statValue(stats: unknown, group: 'minValues' | 'maxValues', path: readonly string[]): unknown {
  let node: unknown = typeof stats === 'object' && stats !== null ? (stats as Record<string, unknown>)[group] : undefined;
  for (const part of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Same rule as the SQL: number against number, else text in code point order. */
function holds(value: unknown, bound: StatsBound): boolean {
  if (value === undefined || value === null || typeof value === 'object') return true;
  let order: number;
  if (typeof value === 'number' && bound.numeric !== undefined) order = value < bound.numeric ? -1 : value > bound.numeric ? 1 : 0;
  else order = compareCodePoints(typeof value === 'string' ? value : JSON.stringify(value), bound.bound);
  return bound.op === 'gte' ? order >= 0 : order <= 0;
}

function parsedStats(add: AddAction): unknown {
  if (typeof add.stats !== 'string') return undefined;
  try {
    return JSON.parse(add.stats) as unknown;
  } catch {
    return undefined;
  }
}

/** The L4 side: does this add action pass the filters? */
export function matchesFilters(add: AddAction, filters: FileFilters): boolean {
  for (const filter of filters.partitions) {
    const raw = add.partitionValues[filter.column];
    const value = raw === undefined || raw === null || raw === '' ? null : raw;
    if (value !== filter.value) return false;
  }
  if (filters.stats.length === 0) return true;
  const stats = parsedStats(add);
  for (const bound of filters.stats) {
    // gte prunes on the maximum, lte on the minimum
    if (!holds(statValue(stats, bound.op === 'gte' ? 'maxValues' : 'minValues', bound.path), bound)) return false;
  }
  return true;
}

/**
 * The L3 side: a condition over file_index (alias-free column names) and
 * its parameters, numbered from `firstParam`. Numeric bounds travel as
 * their own parameter, null when the bound is not a number, so no cast of
 * a non-number is ever planned.
 */
export function filtersSql(filters: FileFilters, firstParam: number): { sql: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };
  for (const filter of filters.partitions) {
    const column = param(filter.column);
    conditions.push(filter.value === null
      ? `nullif(partition_values ->> ${column}::text, '') IS NULL`
      : `partition_values ->> ${column}::text = ${param(filter.value)}::text`);
  }
  for (const bound of filters.stats) {
    const path = param(bound.path);
    const v = `(stats -> '${bound.op === 'gte' ? 'maxValues' : 'minValues'}' #> ${path}::text[])`;
    const text = `${param(bound.bound)}::text`;
    const numeric = `${param(bound.numeric ?? null)}::numeric`;
    const cmp = bound.op === 'gte' ? '>=' : '<=';
    conditions.push(`(${v} IS NULL OR jsonb_typeof(${v}) IN ('null', 'object', 'array') OR CASE
        WHEN jsonb_typeof(${v}) = 'number' AND ${numeric} IS NOT NULL THEN (${v})::numeric ${cmp} ${numeric}
        WHEN jsonb_typeof(${v}) = 'string' THEN (${v} #>> '{}') COLLATE "C" ${cmp} ${text} COLLATE "C"
        ELSE (${v})::text COLLATE "C" ${cmp} ${text} COLLATE "C" END)`);
  }
  return { sql: conditions.length === 0 ? 'true' : conditions.join(' AND '), params };
}
