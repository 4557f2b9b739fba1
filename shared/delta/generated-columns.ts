/**
 * The columns of a generated table (table-generator.ts) and, with column
 * mapping, their physical names: `col-<uuid>` names and ids in the schema's
 * field metadata, partition values and stats (nested for the struct column)
 * keyed by the physical names, and the schema changes only mapping allows —
 * a rename (a new logical name, the same physical one) and a drop (the field
 * leaves the schema; files written before keep its stats under its physical
 * name). Without mapping every name is the logical one and the table is what
 * the generator always wrote.
 */
import type { ColumnMappingMode } from './column-mapping.ts';

export interface GeneratedColumnMapping {
  readonly mode: Exclude<ColumnMappingMode, 'none'>;
  /** at this version one metaData renames `date` → `day` and `event_time` → `event_ts` */
  readonly renameAt?: number;
  /** at this version one metaData drops `category` */
  readonly dropAt?: number;
}

/** The logical names the generator's rename and drop act on. */
export const generatedRenames: Readonly<Record<string, string>> = { date: 'day', event_time: 'event_ts' };
export const generatedDropped = 'category';

interface Column {
  /** the name the generator created it with (what rename and drop look for) */
  readonly original: string;
  logical: string;
  readonly physical: string;
  readonly id: number;
  readonly type: unknown;
  readonly nullable: boolean;
  /** struct columns: the nested fields, with their own physical names and ids */
  readonly nested?: readonly Column[];
  dropped: boolean;
}

/** Per-file values by the generator's original names (the struct column's by `geo.city`). */
export type GeneratedValues = Readonly<Record<string, unknown>>;

export class GeneratedColumns {
  private readonly columns: Column[];
  private readonly mode: ColumnMappingMode;

  constructor(partitioned: boolean, mapping: GeneratedColumnMapping | undefined, uuid: (a: number, b: number) => string) {
    this.mode = mapping?.mode ?? 'none';
    let nextId = 1;
    const column = (name: string, type: unknown, nullable: boolean, nested?: Column[]): Column => {
      const id = nextId++;
      const physical = this.mode === 'none' ? name : `col-${uuid(1000, id)}`;
      return { original: name, logical: name, physical, id, type, nullable, dropped: false, ...(nested ? { nested } : {}) };
    };
    this.columns = [
      column('id', 'long', false),
      column('value', 'double', true),
      column('category', 'string', true),
      column('event_time', 'timestamp', true),
      // Only with mapping: tables generated without it stay byte for byte what they were.
      ...(this.mode === 'none' ? [] : [column('geo', 'struct', true, [column('city', 'string', true)])]),
      ...(partitioned ? [column('date', 'string', true)] : []),
    ];
  }

  get mapped(): boolean {
    return this.mode !== 'none';
  }

  /** The highest column id given out (delta.columnMapping.maxColumnId). */
  get maxColumnId(): number {
    return Math.max(...this.columns.flatMap((c) => [c.id, ...(c.nested ?? []).map((n) => n.id)]));
  }

  private byOriginal(name: string): Column | undefined {
    return this.columns.find((c) => c.original === name);
  }

  private field(column: Column): Record<string, unknown> {
    const type = column.nested ? { type: 'struct', fields: column.nested.map((nested) => this.field(nested)) } : column.type;
    const metadata = this.mode === 'none' ? {} : { 'delta.columnMapping.id': column.id, 'delta.columnMapping.physicalName': column.physical };
    return { name: column.logical, type, nullable: column.nullable, metadata };
  }

  schemaString(): string {
    return JSON.stringify({ type: 'struct', fields: this.columns.filter((c) => !c.dropped).map((c) => this.field(c)) });
  }

  /** metaData.partitionColumns now: the partition column's logical name. */
  get partitionColumns(): string[] {
    const date = this.byOriginal('date');
    return date ? [date.logical] : [];
  }

  /** The key of add.partitionValues: the partition column's physical name. */
  get partitionKey(): string | undefined {
    return this.byOriginal('date')?.physical;
  }

  rename(): void {
    for (const [from, to] of Object.entries(generatedRenames)) {
      const column = this.byOriginal(from);
      if (column) column.logical = to;
    }
  }

  drop(): void {
    const column = this.byOriginal(generatedDropped);
    if (column) column.dropped = true;
  }

  /**
   * One stats group (minValues, maxValues or nullCount) by physical name.
   * `withDropped`: the file was written while the dropped column existed
   * (its stats keep it, as real files do).
   */
  statsValues(values: GeneratedValues, withDropped: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const column of this.columns) {
      if (column.original === 'date' || (column.dropped && !withDropped)) continue;
      if (column.nested) {
        const nested: Record<string, unknown> = {};
        for (const field of column.nested) {
          const value = values[`${column.original}.${field.original}`];
          if (value !== undefined) nested[field.physical] = value;
        }
        out[column.physical] = nested;
      } else if (values[column.original] !== undefined) {
        out[column.physical] = values[column.original];
      }
    }
    return out;
  }
}
