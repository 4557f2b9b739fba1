/**
 * The part of a `jsonPredicateHints` tree that PostgreSQL can answer from
 * the materialized state: equalities of a partition column with a literal,
 * at the top level or under top-level `and`s. They become the /v1
 * partition filters (file-filters.ts), pushed into SQL — partition_summary
 * picks the matching partitions, and only their files are read, where the
 * whole tree judged per file (predicate-hints.ts) would read every file of
 * the table first. Anything else stays with that judge, which still runs on
 * what SQL returns.
 *
 * Only literals whose text is the partition value Delta stores for them are
 * pushed: strings, dates as yyyy-mm-dd, and integers in canonical form (no
 * sign on zero, no leading zeros). Any other (a timestamp, `05`, a float)
 * could name the same value in another spelling, and an exact-text match in
 * SQL would then drop a matching file.
 */
import type { PartitionFilter } from '../file-filters.ts';
import type { PredicateNode } from './predicate-hints.ts';

const canonical: Readonly<Record<string, RegExp>> = {
  string: /^/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  int: /^(0|-?[1-9]\d*)$/,
  long: /^(0|-?[1-9]\d*)$/,
};

function equality(node: PredicateNode, partitionColumns: ReadonlySet<string>): PartitionFilter | undefined {
  if (node.op !== 'equal' || node.children?.length !== 2) return undefined;
  const [left, right] = node.children;
  const column = left?.op === 'column' ? left : right?.op === 'column' ? right : undefined;
  const literal = left?.op === 'literal' ? left : right?.op === 'literal' ? right : undefined;
  if (!column || !literal || typeof column.name !== 'string' || typeof literal.value !== 'string') return undefined;
  if (!partitionColumns.has(column.name)) return undefined;
  const pattern = canonical[literal.valueType ?? ''];
  if (!pattern?.test(literal.value) || (column.valueType !== undefined && column.valueType !== literal.valueType)) return undefined;
  return { column: column.name, value: literal.value };
}

/** The partition equalities the predicate implies (empty: none that can be pushed). */
export function partitionEqualities(predicate: PredicateNode | undefined, partitionColumns: readonly string[], depth = 0): PartitionFilter[] {
  if (predicate === undefined || depth > 32) return [];
  const columns = new Set(partitionColumns);
  if (predicate.op === 'and') return (predicate.children ?? []).flatMap((child) => partitionEqualities(child, partitionColumns, depth + 1));
  const found = equality(predicate, columns);
  return found ? [found] : [];
}
