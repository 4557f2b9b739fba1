/**
 * Column mapping (PROTOCOL.md "Column Mapping"): with `delta.columnMapping.mode`
 * `name` or `id`, every schema field carries a physical name
 * (`delta.columnMapping.physicalName`) and an id (`delta.columnMapping.id`),
 * and everything stored in the log about a column — partition values, stats,
 * clustering columns — is keyed by the physical name, while metaData's
 * `partitionColumns` and every API name the logical one. Mode `none` (or no
 * mode) maps every name to itself.
 *
 * Physical names are fixed per column: a rename changes the logical name only,
 * a dropped column keeps its physical name out of the schema (its stats and
 * partition values stay in old files, keyed by a name no field maps to).
 */
import { LogFormatError } from '../errors/index.ts';
import type { MetadataAction } from './actions.ts';

export type ColumnMappingMode = 'none' | 'name' | 'id';

export const columnMappingModeKey = 'delta.columnMapping.mode';
const physicalNameKey = 'delta.columnMapping.physicalName';
const columnIdKey = 'delta.columnMapping.id';

/** The top-level columns of one metaData: logical ↔ physical. */
export interface ColumnNames {
  readonly mode: ColumnMappingMode;
  /** logical name → physical name, every top-level field */
  readonly physicalByLogical: ReadonlyMap<string, string>;
  /** physical name → logical name, every top-level field */
  readonly logicalByPhysical: ReadonlyMap<string, string>;
  /** the partition columns' physical names, in partitionColumns order (the keys of add.partitionValues) */
  readonly partitionPhysicalNames: readonly string[];
}

interface SchemaField {
  name?: unknown;
  type?: unknown;
  metadata?: Record<string, unknown>;
}

function structFields(type: unknown): readonly SchemaField[] | undefined {
  if (typeof type !== 'object' || type === null || (type as { type?: unknown }).type !== 'struct') return undefined;
  const fields = (type as { fields?: unknown }).fields;
  return Array.isArray(fields) ? (fields as SchemaField[]) : undefined;
}

// metaData objects are immutable once parsed; schemas of wide tables are
// large: parse each once.
const namesOf = new WeakMap<MetadataAction, ColumnNames>();

export function columnMappingMode(metadata: MetadataAction): ColumnMappingMode {
  const mode = metadata.configuration?.[columnMappingModeKey];
  if (mode === undefined || mode === 'none') return 'none';
  if (mode === 'name' || mode === 'id') return mode;
  throw new LogFormatError('metaData', undefined, `${columnMappingModeKey} is ${JSON.stringify(mode)}; the protocol knows none, name and id`);
}

/**
 * The column names of a metaData, checked: with mapping on, every top-level
 * field has a physical name and an id, and no two share either. Throws a
 * LogFormatError naming the field otherwise.
 */
export function columnNames(metadata: MetadataAction, file = 'metaData', line?: number): ColumnNames {
  const known = namesOf.get(metadata);
  if (known) return known;
  const mode = columnMappingMode(metadata);
  let fields: SchemaField[];
  try {
    fields = (JSON.parse(metadata.schemaString) as { fields?: SchemaField[] }).fields ?? [];
  } catch {
    throw new LogFormatError(file, line, 'metaData.schemaString is not valid JSON');
  }
  if (!Array.isArray(fields)) throw new LogFormatError(file, line, 'metaData.schemaString has no fields');
  const physicalByLogical = new Map<string, string>();
  const logicalByPhysical = new Map<string, string>();
  const ids = new Set<number>();
  for (const field of fields) {
    if (typeof field.name !== 'string') throw new LogFormatError(file, line, 'metaData.schemaString has a field without a name');
    let physical = field.name;
    if (mode !== 'none') {
      const mapped = field.metadata?.[physicalNameKey];
      const id = field.metadata?.[columnIdKey];
      if (typeof mapped !== 'string' || mapped === '') {
        throw new LogFormatError(file, line, `column mapping is ${mode} but column "${field.name}" has no ${physicalNameKey}`);
      }
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
        throw new LogFormatError(file, line, `column mapping is ${mode} but column "${field.name}" has no ${columnIdKey}`);
      }
      if (ids.has(id)) throw new LogFormatError(file, line, `two columns share ${columnIdKey} ${id}`);
      ids.add(id);
      physical = mapped;
    }
    if (logicalByPhysical.has(physical)) throw new LogFormatError(file, line, `two columns share the physical name "${physical}"`);
    physicalByLogical.set(field.name, physical);
    logicalByPhysical.set(physical, field.name);
  }
  const partitionPhysicalNames = metadata.partitionColumns.map((column) => {
    const physical = physicalByLogical.get(column);
    if (physical === undefined) throw new LogFormatError(file, line, `metaData.partitionColumns names "${column}", which is not in the schema`);
    return physical;
  });
  const names: ColumnNames = { mode, physicalByLogical, logicalByPhysical, partitionPhysicalNames };
  namesOf.set(metadata, names);
  return names;
}

/** The physical name of a logical top-level column, or undefined when the schema has no such column. */
export function physicalColumnName(metadata: MetadataAction, logical: string): string | undefined {
  return columnNames(metadata).physicalByLogical.get(logical);
}

/**
 * The physical spelling of a column path (a top-level column, then fields of
 * nested structs: stats of a struct are nested objects keyed by the nested
 * fields' physical names), or undefined when the schema has no such path.
 * Without column mapping the path is its own spelling.
 */
export function physicalColumnPath(metadata: MetadataAction, logicalPath: readonly string[]): string[] | undefined {
  const [top, ...nested] = logicalPath;
  if (top === undefined) return undefined;
  const names = columnNames(metadata);
  const topPhysical = names.physicalByLogical.get(top);
  if (topPhysical === undefined) return undefined;
  if (names.mode === 'none') return [...logicalPath];
  const physical = [topPhysical];
  // columnNames has parsed and checked the schema already.
  let field = structFields(JSON.parse(metadata.schemaString) as unknown)?.find((candidate) => candidate.name === top);
  for (const part of nested) {
    field = structFields(field?.type)?.find((candidate) => candidate.name === part);
    const name = field?.metadata?.[physicalNameKey];
    if (typeof name !== 'string' || name === '') return undefined;
    physical.push(name);
  }
  return physical;
}
