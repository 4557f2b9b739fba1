/**
 * The columns of a file list in Arrow, as delta-rs 1.6's
 * `DeltaTable.get_add_actions(flatten=True)` names and types them for the
 * same metaData: path, size_bytes, modification_time, num_records, then
 * null_count.<leaf> for every stats leaf, min.<leaf> and max.<leaf> for the
 * leaves that keep bounds, then partition.<column>; nested struct fields
 * are flattened with dots, by their logical names. Two additions delta-rs
 * 1.6 no longer has: data_change (after modification_time; always false in
 * a snapshot, as canonicalAdd says) and the deletion vector descriptor's
 * fields (deletionVector.*, last). The layout depends only on the metaData,
 * so it is the same for every page of a version (fingerprint).
 */
import { createHash } from 'node:crypto';
import { columnNames, type MetadataAction } from '../delta/index.ts';

/** The Delta primitive types this layout types; anything else (array, map, variant) has a null count only. */
export type ValueKind =
  | 'string' | 'long' | 'integer' | 'short' | 'byte' | 'float' | 'double' | 'boolean' | 'binary' | 'date'
  | 'timestamp' | 'timestamp_ntz' | { readonly precision: number; readonly scale: number };

/** Where a column's value comes from in an add action. */
export type ColumnSource =
  | { readonly from: 'path' | 'size' | 'modificationTime' | 'dataChange' | 'numRecords' }
  | { readonly from: 'stats'; readonly group: 'nullCount' | 'minValues' | 'maxValues'; readonly physical: readonly string[] }
  | { readonly from: 'partition'; readonly physical: string }
  | { readonly from: 'deletionVector'; readonly field: 'storageType' | 'pathOrInlineDv' | 'offset' | 'sizeInBytes' | 'cardinality' };

export interface LayoutColumn {
  readonly name: string;
  readonly kind: ValueKind;
  readonly nullable: boolean;
  readonly source: ColumnSource;
}

export interface AddActionsLayout {
  readonly columns: readonly LayoutColumn[];
  /** changes exactly when the columns' names, types or nullability do */
  readonly fingerprint: string;
}

interface SchemaField {
  readonly name: string;
  readonly type: unknown;
  readonly metadata?: Record<string, unknown>;
}

const primitiveKinds = new Set(['string', 'long', 'integer', 'short', 'byte', 'float', 'double', 'boolean', 'binary', 'date', 'timestamp', 'timestamp_ntz']);
const decimalType = /^decimal\((\d+),\s*(\d+)\)$/;
const physicalNameKey = 'delta.columnMapping.physicalName';

/** A field's primitive kind, or undefined for a nested, array, map or unknown type. */
export function primitiveKind(type: unknown): ValueKind | undefined {
  if (typeof type !== 'string') return undefined;
  if (primitiveKinds.has(type)) return type as ValueKind;
  const decimal = decimalType.exec(type);
  return decimal ? { precision: Number(decimal[1]), scale: Number(decimal[2]) } : undefined;
}

function structFields(type: unknown): readonly SchemaField[] | undefined {
  if (typeof type !== 'object' || type === null || (type as { type?: unknown }).type !== 'struct') return undefined;
  return (type as { fields?: SchemaField[] }).fields ?? [];
}

interface Leaf {
  readonly logical: readonly string[];
  readonly physical: readonly string[];
  readonly kind: ValueKind | undefined;
}

function leavesOf(field: SchemaField, mapped: boolean, logical: readonly string[], physical: readonly string[], out: Leaf[]): void {
  const physicalName = mapped && typeof field.metadata?.[physicalNameKey] === 'string' ? field.metadata[physicalNameKey] : field.name;
  const here = { logical: [...logical, field.name], physical: [...physical, physicalName] };
  const nested = structFields(field.type);
  if (nested) {
    for (const child of nested) leavesOf(child, mapped, here.logical, here.physical, out);
    return;
  }
  out.push({ ...here, kind: primitiveKind(field.type) });
}

/**
 * The leaves that get statistics: delta.dataSkippingStatsColumns when set
 * (those columns and their nested leaves), else the first
 * delta.dataSkippingNumIndexedCols leaves (default 32; -1 all), partition
 * columns never (PROTOCOL.md "Per-file Statistics").
 */
function statsLeaves(metadata: MetadataAction, fields: readonly SchemaField[], mapped: boolean): Leaf[] {
  const partitions = new Set(metadata.partitionColumns);
  const all: Leaf[] = [];
  for (const field of fields) {
    if (!partitions.has(field.name)) leavesOf(field, mapped, [], [], all);
  }
  const listed = metadata.configuration?.['delta.dataSkippingStatsColumns'];
  if (listed !== undefined && listed.trim() !== '') {
    const wanted = listed.split(',').map((name) => name.trim().replaceAll('`', '')).filter((name) => name !== '');
    return all.filter((leaf) => wanted.some((name) => {
      const joined = leaf.logical.join('.');
      return joined === name || joined.startsWith(`${name}.`);
    }));
  }
  const count = Number(metadata.configuration?.['delta.dataSkippingNumIndexedCols'] ?? 32);
  return Number.isInteger(count) && count >= 0 ? all.slice(0, count) : all;
}

/** min/max exist for ordered primitives: not binary, nor nested, array or map leaves. */
function keepsBounds(kind: ValueKind | undefined): kind is ValueKind {
  return kind !== undefined && kind !== 'binary';
}

function kindName(kind: ValueKind): string {
  return typeof kind === 'string' ? kind : `decimal(${kind.precision},${kind.scale})`;
}

const deletionVectorColumns: LayoutColumn[] = [
  { name: 'deletionVector.storageType', kind: 'string', nullable: true, source: { from: 'deletionVector', field: 'storageType' } },
  { name: 'deletionVector.pathOrInlineDv', kind: 'string', nullable: true, source: { from: 'deletionVector', field: 'pathOrInlineDv' } },
  { name: 'deletionVector.offset', kind: 'integer', nullable: true, source: { from: 'deletionVector', field: 'offset' } },
  { name: 'deletionVector.sizeInBytes', kind: 'integer', nullable: true, source: { from: 'deletionVector', field: 'sizeInBytes' } },
  { name: 'deletionVector.cardinality', kind: 'long', nullable: true, source: { from: 'deletionVector', field: 'cardinality' } },
];

const layouts = new WeakMap<MetadataAction, AddActionsLayout>();

export function addActionsLayout(metadata: MetadataAction): AddActionsLayout {
  const known = layouts.get(metadata);
  if (known) return known;
  const names = columnNames(metadata);
  const fields = (JSON.parse(metadata.schemaString) as { fields?: SchemaField[] }).fields ?? [];
  const mapped = names.mode !== 'none';
  const leaves = statsLeaves(metadata, fields, mapped);
  const columns: LayoutColumn[] = [
    { name: 'path', kind: 'string', nullable: false, source: { from: 'path' } },
    { name: 'size_bytes', kind: 'long', nullable: false, source: { from: 'size' } },
    { name: 'modification_time', kind: 'long', nullable: false, source: { from: 'modificationTime' } },
    { name: 'data_change', kind: 'boolean', nullable: false, source: { from: 'dataChange' } },
    { name: 'num_records', kind: 'long', nullable: true, source: { from: 'numRecords' } },
    ...leaves.map((leaf): LayoutColumn => ({ name: `null_count.${leaf.logical.join('.')}`, kind: 'long', nullable: true, source: { from: 'stats', group: 'nullCount', physical: leaf.physical } })),
    ...(['min', 'max'] as const).flatMap((bound) => leaves.flatMap((leaf): LayoutColumn[] => keepsBounds(leaf.kind)
      ? [{ name: `${bound}.${leaf.logical.join('.')}`, kind: leaf.kind, nullable: true, source: { from: 'stats', group: bound === 'min' ? 'minValues' : 'maxValues', physical: leaf.physical } }]
      : [])),
    ...metadata.partitionColumns.map((column, index): LayoutColumn => {
      const field = fields.find((candidate) => candidate.name === column);
      return { name: `partition.${column}`, kind: primitiveKind(field?.type) ?? 'string', nullable: true, source: { from: 'partition', physical: names.partitionPhysicalNames[index] as string } };
    }),
    ...deletionVectorColumns,
  ];
  const fingerprint = createHash('sha256').update(JSON.stringify(columns.map((column) => [column.name, kindName(column.kind), column.nullable]))).digest('hex').slice(0, 32);
  const layout = { columns, fingerprint };
  layouts.set(metadata, layout);
  return layout;
}

/** The layout keeping only `fields`, in the layout's order; an unknown name is an error naming it (the caller's 400). */
export function projectLayout(layout: AddActionsLayout, fields: readonly string[]): AddActionsLayout | { readonly unknown: string } {
  const known = new Set(layout.columns.map((column) => column.name));
  const unknown = fields.find((name) => !known.has(name));
  if (unknown !== undefined) return { unknown };
  const wanted = new Set(fields);
  const columns = layout.columns.filter((column) => wanted.has(column.name));
  const fingerprint = createHash('sha256').update(`${layout.fingerprint}:${columns.map((column) => column.name).join('\u0000')}`).digest('hex').slice(0, 32);
  return { columns, fingerprint };
}
