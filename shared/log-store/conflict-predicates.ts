/**
 * Read predicates: which partitions a transaction read, the part of Spark's
 * `readPredicates` that can be judged from the log alone (partition values).
 * A predicate is a conjunction of terms on partition columns, named by their
 * LOGICAL names (the API's names); the log keys partition values by physical
 * name (column mapping), so each term is translated before it is matched.
 * A transaction's predicates are a disjunction: a file matching any of them
 * was (or should have been) read.
 */
import { columnNames, type MetadataAction } from '../delta/index.ts';
import { BadRequestError } from '../errors/index.ts';

export interface PartitionTerm {
  /** logical column name; must be a partition column of the table at the read version */
  readonly column: string;
  readonly op: '=' | 'in' | 'is-null';
  /** one value for '=', one or more for 'in', none for 'is-null' */
  readonly values?: readonly string[];
}

/** A conjunction of partition terms (an empty one matches every file). */
export type ReadPredicate = readonly PartitionTerm[];

/** The same predicate keyed by physical names, ready to match add/remove partition values. */
export type PhysicalPredicate = ReadonlyArray<{ readonly physical: string; readonly op: PartitionTerm['op']; readonly values: ReadonlySet<string> }>;

export type PartitionValues = Readonly<Record<string, string | null | undefined>>;

/**
 * Parses the CLI form of one predicate: terms joined by `and`, each
 * `col=value`, `col in (v1,v2)` or `col is null`. Values are taken verbatim
 * (partition values are strings in the log); no quoting, so a value cannot
 * hold `,`, `)` or ` and `.
 */
export function parseReadPredicate(text: string, flag = '--read-predicate'): ReadPredicate {
  const terms = text.trim().split(/\s+and\s+/i);
  return terms.map((term): PartitionTerm => {
    const isNull = /^(.+?)\s+is\s+null$/i.exec(term.trim());
    if (isNull) return { column: (isNull[1] as string).trim(), op: 'is-null' };
    const inList = /^(.+?)\s+in\s*\((.*)\)$/i.exec(term.trim());
    if (inList) {
      const values = (inList[2] as string).split(',').map((value) => value.trim());
      if (values.some((value) => value === '')) throw new BadRequestError(`${flag} ${JSON.stringify(text)}: an empty value in the in-list`);
      return { column: (inList[1] as string).trim(), op: 'in', values };
    }
    const equals = /^([^=]+)=(.*)$/.exec(term.trim());
    if (equals) return { column: (equals[1] as string).trim(), op: '=', values: [(equals[2] as string).trim()] };
    throw new BadRequestError(`${flag} ${JSON.stringify(text)}: expected col=value, col in (v1,v2) or col is null`);
  }).map((term) => {
    if (term.column === '') throw new BadRequestError(`${flag} ${JSON.stringify(text)}: a term without a column name`);
    return term;
  });
}

/**
 * Translates logical names to the physical partition-value keys of the
 * metadata the transaction read. A term on a column that is not a partition
 * column is refused: it cannot be judged from partition values, and reading
 * it as "true" silently would be the whole table (say so with whole-table).
 */
export function physicalPredicates(predicates: readonly ReadPredicate[], metadata: MetadataAction | undefined, table: string): PhysicalPredicate[] {
  if (predicates.length === 0) return [];
  if (!metadata) throw new BadRequestError(`${table}: read predicates need a table with metadata`);
  const names = columnNames(metadata);
  const partitionColumns = new Set(metadata.partitionColumns);
  return predicates.map((predicate) => predicate.map((term) => {
    if (!partitionColumns.has(term.column)) {
      throw new BadRequestError(
        `${table}: read predicate column ${JSON.stringify(term.column)} is not a partition column (partitioned by [${metadata.partitionColumns.join(', ')}]); `
        + 'use whole-table for a read that is not limited by partition',
      );
    }
    const values = term.values ?? [];
    if (term.op === '=' && values.length !== 1) throw new BadRequestError(`${table}: read predicate ${term.column} = needs exactly one value`);
    if (term.op === 'in' && values.length === 0) throw new BadRequestError(`${table}: read predicate ${term.column} in () needs at least one value`);
    return { physical: names.physicalByLogical.get(term.column) ?? term.column, op: term.op, values: new Set(values) };
  }));
}

/**
 * Whether a file with these (physical-keyed) partition values matches one
 * predicate. Null, absent and '' are all the null partition value, as Spark
 * reads them.
 */
export function matchesPredicate(predicate: PhysicalPredicate, partitionValues: PartitionValues): boolean {
  return predicate.every((term) => {
    const raw = partitionValues[term.physical];
    const value = raw === undefined || raw === null || raw === '' ? null : raw;
    if (term.op === 'is-null') return value === null;
    return value !== null && term.values.has(value);
  });
}

export function matchesAny(predicates: readonly PhysicalPredicate[], partitionValues: PartitionValues): boolean {
  return predicates.some((predicate) => matchesPredicate(predicate, partitionValues));
}

export function describePredicate(predicate: ReadPredicate): string {
  return predicate.map((term) => (term.op === 'is-null' ? `${term.column} is null` : term.op === '=' ? `${term.column}=${term.values?.[0]}` : `${term.column} in (${(term.values ?? []).join(',')})`)).join(' and ');
}
