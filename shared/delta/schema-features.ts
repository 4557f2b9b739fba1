/**
 * Table features a schema uses (Spark's `metadataRequiresFeatureToBeEnabled`
 * for schema-borne features): column types (timestamp_ntz, variant) and
 * column metadata keys (invariants, generation expressions, identity
 * columns, defaults, type changes), at any depth — nested struct fields,
 * array elements and map keys and values included.
 */
import type { MetadataAction } from './actions.ts';

const featureByType: ReadonlyMap<string, string> = new Map([['timestamp_ntz', 'timestampNtz'], ['variant', 'variantType']]);
const featureByMetadataKey: readonly (readonly [string, string])[] = [
  ['delta.invariants', 'invariants'],
  ['delta.generationExpression', 'generatedColumns'],
  ['delta.identity.start', 'identityColumns'],
  ['delta.identity.step', 'identityColumns'],
  ['delta.identity.highWaterMark', 'identityColumns'],
  ['CURRENT_DEFAULT', 'allowColumnDefaults'],
  ['delta.typeChanges', 'typeWidening'],
];

/** One entry of a field's `delta.typeChanges` (PROTOCOL.md "Type Change Metadata"). */
export interface TypeChange {
  readonly column: string;
  readonly fromType: unknown;
  readonly toType: unknown;
  readonly fieldPath: unknown;
}

interface SchemaFeatures {
  readonly uses: ReadonlyMap<string, string>;
  readonly typeChanges: readonly TypeChange[];
}

// metaData objects are immutable once parsed; a wide schema is walked once.
const featuresOf = new WeakMap<MetadataAction, SchemaFeatures>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** feature → the first column that uses it (`column "a.b" has type timestamp_ntz`). An unparsable schema uses nothing here: column-mapping.ts refuses it. */
export function schemaFeatureUses(metadata: MetadataAction): ReadonlyMap<string, string> {
  return schemaFeatures(metadata).uses;
}

/** Every recorded type change of the schema, any depth; a `delta.typeChanges` that is not a list is one change of unknown types. */
export function schemaTypeChanges(metadata: MetadataAction): readonly TypeChange[] {
  return schemaFeatures(metadata).typeChanges;
}

function schemaFeatures(metadata: MetadataAction): SchemaFeatures {
  const known = featuresOf.get(metadata);
  if (known) return known;
  const uses = new Map<string, string>();
  const typeChanges: TypeChange[] = [];
  const note = (name: string, use: string): void => {
    if (!uses.has(name)) uses.set(name, use);
  };
  const visitType = (type: unknown, column: string): void => {
    if (typeof type === 'string') {
      const name = featureByType.get(type);
      if (name) note(name, `column "${column}" has type ${type}`);
      return;
    }
    if (!isRecord(type)) return;
    if (Array.isArray(type['fields'])) {
      for (const field of type['fields']) visitField(field, column);
    }
    if ('elementType' in type) visitType(type['elementType'], `${column}.element`);
    if ('keyType' in type) visitType(type['keyType'], `${column}.key`);
    if ('valueType' in type) visitType(type['valueType'], `${column}.value`);
  };
  const visitField = (field: unknown, parent: string): void => {
    if (!isRecord(field)) return;
    const column = parent === '' ? String(field['name']) : `${parent}.${String(field['name'])}`;
    const fieldMetadata = field['metadata'];
    if (isRecord(fieldMetadata)) {
      for (const [key, name] of featureByMetadataKey) {
        if (key in fieldMetadata) note(name, `column "${column}" has ${key}`);
      }
      const changes = fieldMetadata['delta.typeChanges'];
      if (changes !== undefined) {
        for (const change of Array.isArray(changes) ? changes : [changes]) {
          const entry = isRecord(change) ? change : {};
          typeChanges.push({ column, fromType: entry['fromType'], toType: entry['toType'], fieldPath: entry['fieldPath'] });
        }
      }
    }
    visitType(field['type'], column);
  };
  try {
    visitType(JSON.parse(metadata.schemaString) as unknown, '');
  } catch {
    // Not JSON: reported by columnNames with the file and line.
  }
  const features = { uses, typeChanges };
  featuresOf.set(metadata, features);
  return features;
}
