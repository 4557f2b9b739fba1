/**
 * Checkpoint rows as actions: the value assembled from an action column
 * (parquet-assembly.ts) typed as the action the JSON form of the same
 * action would parse to, its required fields checked.
 */
import { LogFormatError } from '../errors/index.ts';
import type {
  Action, AddAction, CdcAction, DomainMetadataAction, Json, JsonObject, MetadataAction, ProtocolAction, RemoveAction, TxnAction,
} from './actions.ts';
import type { Field } from './parquet-assembly.ts';

/** The action a top-level column's value in one row stands for; undefined when the column is null there. */
export function columnAction(column: Field, value: Json | undefined, file: string): Action | undefined {
  // Every action is an object; a primitive top-level column is not an action
  // column (no Delta writer produces one) and carries nothing to replay.
  if (value === undefined || column.kind === 'leaf') return undefined;
  const name = column.name;
  if (!isJsonObject(value)) return { kind: 'unknown', name, value };
  switch (name) {
    case 'add': return { kind: 'add', add: toAdd(value, file) };
    case 'remove': return { kind: 'remove', remove: toRemove(value, file) };
    case 'metaData': return { kind: 'metaData', metaData: toMetadata(value, file) };
    case 'protocol': return { kind: 'protocol', protocol: expectFields<ProtocolAction>(value, file, 'protocol', { minReaderVersion: 'number', minWriterVersion: 'number' }) };
    case 'txn': return { kind: 'txn', txn: expectFields<TxnAction>(value, file, 'txn', { appId: 'string', version: 'number' }) };
    case 'domainMetadata':
      return { kind: 'domainMetadata', domainMetadata: expectFields<DomainMetadataAction>(value, file, 'domainMetadata', { domain: 'string', configuration: 'string', removed: 'boolean' }) };
    case 'commitInfo': return { kind: 'commitInfo', commitInfo: value };
    case 'checkpointMetadata': return { kind: 'checkpointMetadata', checkpointMetadata: value };
    case 'sidecar': return { kind: 'sidecar', sidecar: value };
    case 'cdc': return { kind: 'cdc', cdc: expectFields<CdcAction>(value, file, 'cdc', { path: 'string', size: 'number', dataChange: 'boolean' }) };
    default: return { kind: 'unknown', name, value };
  }
}

/** Fills in what the JSON form of an add always has and drops the parsed copies. */
function toAdd(value: JsonObject, file: string): AddAction {
  const out: JsonObject = { ...value };
  const statsParsed = out['stats_parsed'];
  // Writers configured to write stats only as a struct leave the string
  // out, but the JSON form is the string, so rebuild it. Key order follows
  // the struct and numbers print as JavaScript prints them: as close to
  // the writer's JSON as the file allows, not byte-identical.
  if (out['stats'] === undefined && statsParsed !== undefined) out['stats'] = JSON.stringify(statsParsed);
  delete out['stats_parsed'];
  delete out['partitionValues_parsed'];
  out['partitionValues'] ??= {};
  return expectFields<AddAction>(out, file, 'add', { path: 'string', size: 'number', modificationTime: 'number', dataChange: 'boolean' });
}

function toRemove(value: JsonObject, file: string): RemoveAction {
  const out: JsonObject = { ...value };
  delete out['stats_parsed'];
  delete out['partitionValues_parsed'];
  return expectFields<RemoveAction>(out, file, 'remove', { path: 'string', dataChange: 'boolean' });
}

function toMetadata(value: JsonObject, file: string): MetadataAction {
  const out: JsonObject = { ...value };
  const format = isJsonObject(out['format']) ? { ...out['format'] } : {};
  // The JSON form always has these; a null MAP and an empty one both mean
  // "no entries" to every reader.
  format['options'] ??= {};
  out['format'] = format;
  out['configuration'] ??= {};
  out['partitionColumns'] ??= [];
  return expectFields<MetadataAction>(out, file, 'metaData', { id: 'string', schemaString: 'string' });
}

type FieldType = 'string' | 'number' | 'boolean';

/**
 * Checks the fields the protocol requires before the object is typed as an
 * action: a file from another writer that lacks them would otherwise fail
 * far away, in replay, with no hint of which file was wrong.
 */
function expectFields<T>(value: JsonObject, file: string, kind: string, required: Record<string, FieldType>): T {
  for (const [field, type] of Object.entries(required)) {
    if (typeof value[field] !== type) {
      throw new LogFormatError(file, undefined, `checkpoint ${kind}.${field}: expected ${type}, got ${JSON.stringify(value[field] ?? null)}`);
    }
  }
  return value as unknown as T;
}

function isJsonObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
