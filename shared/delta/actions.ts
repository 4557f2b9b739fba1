/**
 * Delta protocol actions (PROTOCOL.md of delta-io/delta) as they appear in a
 * commit file, one JSON object per line with exactly one key naming the
 * action. Fields the protocol defines are typed; any other field is kept as
 * it came (unknown fields are preserved, never dropped), so a log read here
 * and written back is equivalent.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface DeletionVectorDescriptor {
  storageType: string; // 'u' (relative path, z85 uuid), 'i' (inline), 'p' (absolute path)
  pathOrInlineDv: string;
  offset?: number;
  sizeInBytes: number;
  cardinality: number;
  maxRowIndex?: number;
  [extra: string]: unknown;
}

export interface AddAction {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  dataChange: boolean;
  stats?: string | null;
  tags?: Record<string, string | null> | null;
  deletionVector?: DeletionVectorDescriptor | null;
  baseRowId?: number | null;
  defaultRowCommitVersion?: number | null;
  clusteringProvider?: string | null;
  [extra: string]: unknown;
}

export interface RemoveAction {
  path: string;
  deletionTimestamp?: number | null;
  dataChange: boolean;
  extendedFileMetadata?: boolean | null;
  partitionValues?: Record<string, string | null> | null;
  size?: number | null;
  stats?: string | null;
  tags?: Record<string, string | null> | null;
  deletionVector?: DeletionVectorDescriptor | null;
  baseRowId?: number | null;
  defaultRowCommitVersion?: number | null;
  [extra: string]: unknown;
}

export interface MetadataAction {
  id: string;
  name?: string | null;
  description?: string | null;
  format: { provider: string; options?: Record<string, string> };
  schemaString: string;
  partitionColumns: string[];
  createdTime?: number | null;
  configuration: Record<string, string>;
  [extra: string]: unknown;
}

export interface ProtocolAction {
  minReaderVersion: number;
  minWriterVersion: number;
  readerFeatures?: string[];
  writerFeatures?: string[];
  [extra: string]: unknown;
}

export interface TxnAction {
  appId: string;
  version: number;
  lastUpdated?: number | null;
  [extra: string]: unknown;
}

export interface DomainMetadataAction {
  domain: string;
  configuration: string;
  removed: boolean;
  [extra: string]: unknown;
}

export interface CdcAction {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  dataChange: boolean;
  tags?: Record<string, string | null> | null;
  [extra: string]: unknown;
}

export interface CommitInfo {
  timestamp?: number;
  inCommitTimestamp?: number;
  operation?: string;
  txnId?: string;
  isBlindAppend?: boolean;
  [extra: string]: unknown;
}

export type Action =
  | { kind: 'add'; add: AddAction }
  | { kind: 'remove'; remove: RemoveAction }
  | { kind: 'metaData'; metaData: MetadataAction }
  | { kind: 'protocol'; protocol: ProtocolAction }
  | { kind: 'txn'; txn: TxnAction }
  | { kind: 'domainMetadata'; domainMetadata: DomainMetadataAction }
  | { kind: 'cdc'; cdc: CdcAction }
  | { kind: 'commitInfo'; commitInfo: CommitInfo }
  | { kind: 'checkpointMetadata'; checkpointMetadata: JsonObject }
  | { kind: 'sidecar'; sidecar: JsonObject }
  | { kind: 'unknown'; name: string; value: Json };

export type ActionKind = Action['kind'];

/** Unique id of a deletion vector (PROTOCOL.md "Deletion Vector Descriptor"): storageType + pathOrInlineDv [+ '@' + offset]. */
export function deletionVectorUniqueId(dv: DeletionVectorDescriptor | null | undefined): string {
  if (!dv) return '';
  return dv.offset === undefined || dv.offset === null
    ? `${dv.storageType}${dv.pathOrInlineDv}`
    : `${dv.storageType}${dv.pathOrInlineDv}@${dv.offset}`;
}

/** A logical file: (path, deletion vector unique id). The newest action on a key wins. */
export function fileKey(action: { path: string; deletionVector?: DeletionVectorDescriptor | null | undefined }): string {
  return `${action.path}\u0000${deletionVectorUniqueId(action.deletionVector)}`;
}

const addFieldOrder = [
  'path', 'partitionValues', 'size', 'modificationTime', 'dataChange', 'stats', 'tags', 'deletionVector',
  'baseRowId', 'defaultRowCommitVersion', 'clusteringProvider',
] as const;
const deletionVectorFieldOrder = ['storageType', 'pathOrInlineDv', 'offset', 'sizeInBytes', 'cardinality', 'maxRowIndex'] as const;

function ordered(source: Record<string, unknown>, order: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of order) {
    const value = source[key];
    if (value !== undefined && value !== null) out[key] = value;
  }
  for (const [key, value] of Object.entries(source)) {
    if (!order.includes(key) && value !== undefined && value !== null) out[key] = value;
  }
  return out;
}

/**
 * The add action of a live file as a snapshot shows it: protocol fields in
 * protocol order, then unknown fields in the order they came, nulls
 * omitted, `dataChange: false` (a snapshot is a state, not a change — as in
 * a checkpoint). Both replay paths print `{"add": canonicalAdd(add)}`, so
 * the file path and the PostgreSQL path agree byte for byte whichever form
 * (JSON commit, Parquet checkpoint) the action was read from.
 */
export function canonicalAdd(add: AddAction): Record<string, unknown> {
  const source: Record<string, unknown> = { ...add, dataChange: false };
  if (add.deletionVector) source['deletionVector'] = ordered(add.deletionVector, deletionVectorFieldOrder);
  return ordered(source, addFieldOrder);
}

export function addLine(add: AddAction): string {
  return JSON.stringify({ add: canonicalAdd(add) });
}

const addFieldRank = new Map<string, number>(addFieldOrder.map((field, rank) => [field, rank]));

/**
 * addLine(add) made from `json`, the add's JSON.stringify text (or that text
 * with its backslashes doubled, a COPY cell: the result is then doubled
 * too), when the add's fields are already in canonical order (protocol
 * fields first and in protocol order, no null field, no deletion vector):
 * the same text with dataChange false. A checkpoint's adds are: an import
 * serializes each add once, not twice. Undefined when the add is not.
 */
export function addLineFromJson(add: AddAction, json: string): string | undefined {
  if (add.deletionVector || typeof add.dataChange !== 'boolean') return undefined;
  let rank = -1;
  for (const field of Object.keys(add)) {
    if ((add as unknown as Record<string, unknown>)[field] === null) return undefined;
    const fieldRank = addFieldRank.get(field) ?? addFieldOrder.length;
    if (fieldRank < rank || (fieldRank === rank && fieldRank < addFieldOrder.length)) return undefined;
    rank = fieldRank;
  }
  // The first "dataChange":true is the field's own: path is a string, partitionValues hold strings
  // or null, size and modificationTime are numbers, and every field before it is one of these.
  return `{"add":${add.dataChange ? json.replace('"dataChange":true', '"dataChange":false') : json}}`;
}
