/**
 * The Parquet schema of a classic Delta checkpoint as Spark writes it, which
 * is what delta-rs and Spark expect to find (parquet-write.ts writes it).
 */
// hyparquet-writer brings its own hyparquet, whose SchemaElement differs slightly.
import type { SchemaElement as WriterSchemaElement } from 'hyparquet-writer';

type Repetition = 'REQUIRED' | 'OPTIONAL';

// Field builders for the checkpoint schema, with the converted and logical
// annotations parquet-mr (Spark) writes, so readers that map Parquet to
// Arrow/Spark types see string, map and array rather than binary and
// repeated groups.
const str = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: repetition }];
const long = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'INT64', repetition_type: repetition }];
const int = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'INT32', repetition_type: repetition }];
const bool = (name: string, repetition: Repetition = 'OPTIONAL'): WriterSchemaElement[] =>
  [{ name, type: 'BOOLEAN', repetition_type: repetition }];
// map<string,string> with nullable values (a null partition value is data).
const stringMap = (name: string): WriterSchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'MAP', logical_type: { type: 'MAP' }, num_children: 1 },
  { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
  ...str('key', 'REQUIRED'),
  ...str('value'),
];
const stringList = (name: string): WriterSchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  ...str('element'),
];
function struct(name: string, ...fields: WriterSchemaElement[][]): WriterSchemaElement[] {
  return [{ name, repetition_type: 'OPTIONAL', num_children: fields.length }, ...fields.flat()];
}

// Nullability follows Spark's case classes: fields of JVM primitive type
// (Long, Int, Boolean) are REQUIRED inside their optional struct, objects
// and Options are OPTIONAL. Spark-written checkpoints are the files every
// reader is tested against.
const deletionVector = struct('deletionVector',
  str('storageType'), str('pathOrInlineDv'), int('offset'), int('sizeInBytes', 'REQUIRED'),
  long('cardinality', 'REQUIRED'), long('maxRowIndex'));

export const CHECKPOINT_COLUMNS = ['txn', 'add', 'remove', 'metaData', 'protocol', 'domainMetadata'] as const;
export type CheckpointColumn = (typeof CHECKPOINT_COLUMNS)[number];

export const CHECKPOINT_SCHEMA: WriterSchemaElement[] = [
  { name: 'spark_schema', num_children: CHECKPOINT_COLUMNS.length },
  ...struct('txn', str('appId'), long('version', 'REQUIRED'), long('lastUpdated')),
  ...struct('add',
    str('path'), stringMap('partitionValues'), long('size', 'REQUIRED'), long('modificationTime', 'REQUIRED'),
    bool('dataChange', 'REQUIRED'), str('stats'), stringMap('tags'), deletionVector,
    long('baseRowId'), long('defaultRowCommitVersion'), str('clusteringProvider')),
  ...struct('remove',
    str('path'), long('deletionTimestamp'), bool('dataChange', 'REQUIRED'), bool('extendedFileMetadata'),
    stringMap('partitionValues'), long('size'), stringMap('tags'), deletionVector,
    long('baseRowId'), long('defaultRowCommitVersion')),
  ...struct('metaData',
    str('id'), str('name'), str('description'), struct('format', str('provider'), stringMap('options')),
    str('schemaString'), stringList('partitionColumns'), stringMap('configuration'), long('createdTime')),
  ...struct('protocol',
    int('minReaderVersion', 'REQUIRED'), int('minWriterVersion', 'REQUIRED'),
    stringList('readerFeatures'), stringList('writerFeatures')),
  ...struct('domainMetadata', str('domain'), str('configuration'), bool('removed', 'REQUIRED')),
];

