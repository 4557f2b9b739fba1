/**
 * `jsonPredicateHints` (PROTOCOL.md of delta-io/delta-sharing, "JSON
 * predicates for Filtering") applied as SAFE pruning: a file is dropped only
 * when no row of it can satisfy the predicate, judged from its partition
 * values (exact) and its min/max/nullCount stats. Anything not understood —
 * an unknown op or value type, a malformed node, a column without stats, a
 * literal that does not parse — keeps the file, as does a hint that is not
 * valid JSON (parseJsonPredicate gives undefined: no filtering).
 *
 * Each node is judged by two booleans over the file's rows, SQL's three
 * values in mind (a comparison with NULL is neither true nor false):
 * canBeTrue (some row may make it true) and canBeFalse (some row may make
 * it false). `not` swaps them; `and` can be true only if every child can,
 * false if any child can; `or` the reverse. A file is kept iff the root
 * canBeTrue. Unknown is (true, true), which no `not` can turn into a drop.
 *
 * Stats caveats handled: string max values of 32+ characters may be
 * truncated prefixes (Delta writers cut them), so they are not used as an
 * upper bound; timestamps in stats are milliseconds while data may hold
 * microseconds, so a timestamp max is widened by 1 ms and a literal with
 * sub-millisecond digits is not judged.
 */
import { compareCodePoints } from '../../../shared/delta/index.ts';

export interface PredicateNode {
  readonly op: string;
  readonly children?: readonly PredicateNode[];
  readonly name?: string;
  readonly value?: string;
  readonly valueType?: string;
}

/** The file facts a predicate is judged on. */
export interface PrunableFile {
  readonly partitionValues: Readonly<Record<string, string | null>>;
  readonly stats?: string | null;
}

/** The predicate tree of a `jsonPredicateHints` string; undefined when it is not a JSON object (the hint is then skipped). */
export function parseJsonPredicate(text: string | undefined | null): PredicateNode | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as PredicateNode) : undefined;
  } catch {
    return undefined;
  }
}

type Judgement = { readonly canBeTrue: boolean; readonly canBeFalse: boolean };
const unknown: Judgement = { canBeTrue: true, canBeFalse: true };

type Value = bigint | number | string;
type ValueType = 'bool' | 'int' | 'long' | 'string' | 'date' | 'float' | 'double' | 'timestamp';
const valueTypes = new Set<string>(['bool', 'int', 'long', 'string', 'date', 'float', 'double', 'timestamp']);

function compare(a: Value, b: Value): number {
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  return a < b ? -1 : a > b ? 1 : 0;
}

const isoTimestamp = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Milliseconds of a timestamp text (ISO 8601, or a partition value `yyyy-mm-dd hh:mm:ss[.f]`, UTC when no zone). */
function timestampMs(text: string): { ms: number; subMs: boolean } | undefined {
  const match = isoTimestamp.exec(text.trim());
  if (!match) return undefined;
  const fraction = match[3] ?? '';
  const ms = Date.parse(`${match[1]}T${match[2]}${fraction.slice(0, 4)}${match[4] ?? 'Z'}`);
  if (Number.isNaN(ms)) return undefined;
  return { ms, subMs: /[1-9]/.test(fraction.slice(4)) };
}

/** A value (literal text, partition value text, or a stats JSON value) as `type`, undefined when it does not convert. */
function convert(raw: unknown, type: ValueType): Value | undefined {
  switch (type) {
    case 'int':
    case 'long':
      if (typeof raw === 'number') return Number.isSafeInteger(raw) ? BigInt(raw) : undefined;
      return typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? BigInt(raw.trim()) : undefined;
    case 'float':
    case 'double': {
      const number = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
      return Number.isFinite(number) ? number : undefined;
    }
    case 'bool':
      return raw === true || raw === 'true' ? 1 : raw === false || raw === 'false' ? 0 : undefined;
    case 'date':
      return typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(raw) ? raw : undefined;
    case 'string':
      return typeof raw === 'string' ? raw : undefined;
    case 'timestamp': {
      const parsed = typeof raw === 'string' ? timestampMs(raw) : undefined;
      return parsed === undefined ? undefined : parsed.ms;
    }
  }
}

/** What is known of a column over the file's rows; undefined bounds are unknown. */
interface ColumnRange {
  readonly min?: Value;
  readonly max?: Value;
  /** rows that are null: 'none', 'all', or unknown */
  readonly nulls?: 'none' | 'all' | 'some';
}

interface ParsedStats {
  readonly numRecords?: number;
  readonly minValues?: unknown;
  readonly maxValues?: unknown;
  readonly nullCount?: unknown;
}

function statAt(tree: unknown, name: string): unknown {
  let node: unknown = tree;
  for (const part of name.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function rangeOf(file: PrunableFile, stats: ParsedStats | undefined, name: string, type: ValueType): ColumnRange {
  if (Object.hasOwn(file.partitionValues, name)) {
    const raw = file.partitionValues[name];
    if (raw === null || raw === undefined || raw === '') return { nulls: 'all' };
    const value = convert(raw, type);
    if (value === undefined) return {};
    const partitionMax = type === 'timestamp' && typeof value === 'number' ? value + 1 : value;
    return { min: value, max: partitionMax, nulls: 'none' };
  }
  if (stats === undefined) return {};
  const nullCount = statAt(stats.nullCount, name);
  const records = stats.numRecords;
  const nulls = typeof nullCount === 'number' && typeof records === 'number'
    ? (nullCount === 0 ? 'none' : nullCount >= records ? 'all' : 'some') : undefined;
  const min = convert(statAt(stats.minValues, name), type);
  const rawMax = statAt(stats.maxValues, name);
  let max = convert(rawMax, type);
  if (type === 'string' && typeof rawMax === 'string' && [...rawMax].length >= 32) max = undefined;
  if (type === 'timestamp' && typeof max === 'number') max += 1;
  return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }), ...(nulls === undefined ? {} : { nulls }) };
}

type Comparison = 'equal' | 'lessThan' | 'lessThanOrEqual' | 'greaterThan' | 'greaterThanOrEqual';
const flipped: Record<Comparison, Comparison> = {
  equal: 'equal', lessThan: 'greaterThan', lessThanOrEqual: 'greaterThanOrEqual', greaterThan: 'lessThan', greaterThanOrEqual: 'lessThanOrEqual',
};

function leafType(node: PredicateNode): ValueType | undefined {
  return typeof node.valueType === 'string' && valueTypes.has(node.valueType) ? (node.valueType as ValueType) : undefined;
}

const sameFamily = (a: ValueType, b: ValueType): boolean => a === b || ((a === 'int' || a === 'long') && (b === 'int' || b === 'long'))
  || ((a === 'float' || a === 'double') && (b === 'float' || b === 'double'));

/** `column op literal` over the column's range. */
function judgeComparison(op: Comparison, range: ColumnRange, literal: Value): Judgement {
  if (range.nulls === 'all') return { canBeTrue: false, canBeFalse: false };
  const { min, max } = range;
  const belowMin = min === undefined ? undefined : compare(literal, min); // literal vs min
  const aboveMax = max === undefined ? undefined : compare(literal, max); // literal vs max
  switch (op) {
    case 'equal': {
      const canBeTrue = (belowMin === undefined || belowMin >= 0) && (aboveMax === undefined || aboveMax <= 0);
      const single = min !== undefined && max !== undefined && compare(min, max) === 0 && belowMin === 0;
      return { canBeTrue, canBeFalse: !single };
    }
    case 'lessThan': // col < literal
      return { canBeTrue: belowMin === undefined || belowMin > 0, canBeFalse: aboveMax === undefined || aboveMax <= 0 };
    case 'lessThanOrEqual':
      return { canBeTrue: belowMin === undefined || belowMin >= 0, canBeFalse: aboveMax === undefined || aboveMax < 0 };
    case 'greaterThan': // col > literal
      return { canBeTrue: aboveMax === undefined || aboveMax < 0, canBeFalse: belowMin === undefined || belowMin >= 0 };
    case 'greaterThanOrEqual':
      return { canBeTrue: aboveMax === undefined || aboveMax <= 0, canBeFalse: belowMin === undefined || belowMin > 0 };
  }
}

class Judge {
  private parsedStats: ParsedStats | undefined | null = null;

  constructor(private readonly file: PrunableFile) {}

  private stats(): ParsedStats | undefined {
    if (this.parsedStats === null) {
      try {
        const parsed: unknown = typeof this.file.stats === 'string' ? JSON.parse(this.file.stats) : undefined;
        this.parsedStats = typeof parsed === 'object' && parsed !== null ? parsed : undefined;
      } catch {
        this.parsedStats = undefined;
      }
    }
    return this.parsedStats;
  }

  judge(node: PredicateNode, depth: number): Judgement {
    if (typeof node !== 'object' || node === null || depth > 64) return unknown;
    const children: readonly PredicateNode[] = Array.isArray(node.children) ? node.children : [];
    switch (node.op) {
      case 'and':
      case 'or': {
        if (children.length === 0) return unknown;
        const judged = children.map((child) => this.judge(child, depth + 1));
        return node.op === 'and'
          ? { canBeTrue: judged.every((j) => j.canBeTrue), canBeFalse: judged.some((j) => j.canBeFalse) }
          : { canBeTrue: judged.some((j) => j.canBeTrue), canBeFalse: judged.every((j) => j.canBeFalse) };
      }
      case 'not': {
        const [child] = children;
        if (children.length !== 1 || child === undefined) return unknown;
        const inner = this.judge(child, depth + 1);
        return { canBeTrue: inner.canBeFalse, canBeFalse: inner.canBeTrue };
      }
      case 'isNull':
        return this.judgeIsNull(children);
      case 'equal':
      case 'lessThan':
      case 'lessThanOrEqual':
      case 'greaterThan':
      case 'greaterThanOrEqual':
        return this.judgeBinary(node.op, children);
      default:
        return unknown;
    }
  }

  private judgeIsNull(children: readonly PredicateNode[]): Judgement {
    const [column] = children;
    if (children.length !== 1 || column?.op !== 'column' || typeof column.name !== 'string') return unknown;
    const type = leafType(column) ?? 'string';
    const { nulls } = rangeOf(this.file, this.stats(), column.name, type);
    if (nulls === 'all') return { canBeTrue: true, canBeFalse: false };
    if (nulls === 'none') return { canBeTrue: false, canBeFalse: true };
    return unknown;
  }

  private judgeBinary(op: Comparison, children: readonly PredicateNode[]): Judgement {
    const [left, right] = children;
    if (children.length !== 2 || left === undefined || right === undefined) return unknown;
    const [column, literal, effective] = left.op === 'column' && right.op === 'literal' ? [left, right, op]
      : left.op === 'literal' && right.op === 'column' ? [right, left, flipped[op]] : [undefined, undefined, op];
    if (column === undefined || literal === undefined || typeof column.name !== 'string') return unknown;
    const columnType = leafType(column);
    const literalType = leafType(literal);
    if (columnType === undefined || literalType === undefined || !sameFamily(columnType, literalType)) return unknown;
    if (literalType === 'timestamp' && (typeof literal.value !== 'string' || timestampMs(literal.value)?.subMs !== false)) return unknown;
    const value = convert(literal.value, columnType);
    if (value === undefined) return unknown;
    return judgeComparison(effective, rangeOf(this.file, this.stats(), column.name, columnType), value);
  }
}

/** Whether the file may hold a row satisfying the predicate (false only when it certainly cannot). */
export function fileMayMatch(predicate: PredicateNode | undefined, file: PrunableFile): boolean {
  if (predicate === undefined) return true;
  try {
    return new Judge(file).judge(predicate, 0).canBeTrue;
  } catch {
    return true;
  }
}
