/**
 * The NDJSON lines of Delta Sharing's table responses (PROTOCOL.md of
 * delta-io/delta-sharing, "API Response Format in Parquet" and "... in
 * Delta"), from deltameta's protocol/metaData/add/remove/cdc actions. Pure
 * functions, no I/O: the caller signs the URLs (file-urls.ts) and writes the
 * lines. Also the `delta-sharing-capabilities` header and the choice of
 * format it implies, and the file `id`.
 *
 * Format choice (the protocol's "Delta Sharing Capabilities Header"):
 * - no header, or no `responseformat` in it: parquet;
 * - one format asked: that format; parquet for a table with reader features
 *   parquet cannot express is refused (SharingResponseError,
 *   UNSUPPORTED_OPERATION, 400), the protocol's "must respect" leaving no
 *   other answer;
 * - both asked (`responseformat=delta,parquet`, any order): parquet when the
 *   table has no such feature (what every connector reads), else delta.
 * Delta with `readerfeatures` listed: a table feature the client did not list
 * is refused the same way; without the list the client is trusted.
 * What parquet cannot express: column mapping in name/id mode (files hold
 * physical names), deletion vectors (rows to skip), and any reader feature
 * not known to be transparent to a reader of plain Parquet files
 * (timestampNtz, v2Checkpoint, vacuumProtocolCheck are: they concern the log
 * or a type parquet already carries).
 */
import { hash } from 'node:crypto';
import { fileKey, type AddAction, type CdcAction, type DeletionVectorDescriptor, type MetadataAction, type ProtocolAction, type RemoveAction } from '../../../shared/delta/index.ts';

export type ResponseFormat = 'parquet' | 'delta';

export interface Capabilities {
  /** the formats asked for, in the header's order; empty when none was */
  readonly responseFormats: readonly ResponseFormat[];
  /** the reader features the client says it handles (lower case); undefined when it did not say */
  readonly readerFeatures: ReadonlySet<string> | undefined;
  /** every capability as sent (keys and values lower case) */
  readonly all: ReadonlyMap<string, readonly string[]>;
}

/** A request the protocol says to refuse; the route answers `{"errorCode","message"}` with `statusCode`. */
export class SharingResponseError extends Error {
  readonly statusCode = 400;
  constructor(readonly errorCode: 'UNSUPPORTED_OPERATION' | 'INVALID_PARAMETER_VALUE', message: string) {
    super(message);
    this.name = 'SharingResponseError';
  }
}

/** Parses `delta-sharing-capabilities: responseformat=delta,parquet;readerfeatures=deletionvectors,...` (case-insensitive). */
export function parseCapabilities(header: string | readonly string[] | undefined): Capabilities {
  const text = Array.isArray(header) ? header.join(';') : (header ?? '');
  const all = new Map<string, string[]>();
  for (const part of (text as string).toLowerCase().split(';')) {
    const equals = part.indexOf('=');
    if (equals < 0) continue;
    const name = part.slice(0, equals).trim();
    if (name === '') continue;
    const values = part.slice(equals + 1).split(',').map((value) => value.trim()).filter((value) => value !== '');
    all.set(name, [...(all.get(name) ?? []), ...values]);
  }
  const responseFormats = [...new Set((all.get('responseformat') ?? []).filter((value): value is ResponseFormat => value === 'parquet' || value === 'delta'))];
  const features = all.get('readerfeatures');
  return { responseFormats, readerFeatures: features === undefined ? undefined : new Set(features), all };
}

const parquetTransparent = new Set(['timestampntz', 'v2checkpoint', 'vacuumprotocolcheck']);

/** The table's reader features (lower case): the protocol's list from reader version 3, column mapping implied by version 2. */
export function tableReaderFeatures(protocol: ProtocolAction): string[] {
  if (protocol.minReaderVersion >= 3) return (protocol.readerFeatures ?? []).map((feature) => feature.toLowerCase());
  return protocol.minReaderVersion === 2 ? ['columnmapping'] : [];
}

/** The reader features of the table that a parquet-format response cannot express. */
export function featuresBeyondParquet(protocol: ProtocolAction, metadata: MetadataAction): string[] {
  const mappingMode = (metadata.configuration['delta.columnMapping.mode'] ?? 'none').toLowerCase();
  return tableReaderFeatures(protocol).filter((feature) => {
    if (feature === 'columnmapping') return mappingMode !== 'none';
    return !parquetTransparent.has(feature);
  });
}

/** The response format for a request's capabilities and the table; SharingResponseError when the protocol leaves none. */
export function chooseFormat(capabilities: Capabilities, protocol: ProtocolAction, metadata: MetadataAction): ResponseFormat {
  const asked = capabilities.responseFormats;
  const beyond = featuresBeyondParquet(protocol, metadata);
  const delta = asked.includes('delta');
  const format: ResponseFormat = !delta ? 'parquet' : (asked.includes('parquet') && beyond.length === 0 ? 'parquet' : 'delta');
  if (format === 'parquet' && beyond.length > 0) {
    throw new SharingResponseError('UNSUPPORTED_OPERATION', `the table uses reader features the parquet response format cannot express (${beyond.join(', ')}): ask for responseformat=delta in the delta-sharing-capabilities header`);
  }
  if (format === 'delta' && capabilities.readerFeatures !== undefined) {
    const missing = beyond.filter((feature) => !capabilities.readerFeatures?.has(feature));
    if (missing.length > 0) {
      throw new SharingResponseError('UNSUPPORTED_OPERATION', `the table uses reader features the client does not list in readerfeatures: ${missing.join(', ')}`);
    }
  }
  return format;
}

/** A stable id of a file in its table: a hash of its path (and deletion vector, which makes a different logical file). */
export function fileId(action: { path: string; deletionVector?: DeletionVectorDescriptor | null }): string {
  return hash('sha256', fileKey(action), 'hex').slice(0, 32);
}

/** A stable id of a deletion vector's file (delta format's deletionVectorFileId). */
export function deletionVectorFileId(dv: DeletionVectorDescriptor): string {
  return hash('sha256', `dv\u0000${dv.storageType}${dv.pathOrInlineDv}`, 'hex').slice(0, 32);
}

/** One NDJSON line. */
export function line(object: unknown): string {
  return `${JSON.stringify(object)}\n`;
}

/** Drops undefined and null fields (the protocol's optional fields are absent, never null). */
function present<T extends Record<string, unknown>>(object: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(object)) if (value !== undefined && value !== null) out[name] = value;
  return out as Partial<T>;
}

/** What a snapshot-level line may carry besides the action. */
export interface SnapshotFacts {
  /** returned with a version/timestamp query or historical metadata */
  readonly version?: number;
  readonly size?: number;
  readonly numFiles?: number;
}

export function protocolLine(format: ResponseFormat, protocol: ProtocolAction): string {
  if (format === 'parquet') return line({ protocol: { minReaderVersion: 1 } });
  return line({ protocol: { deltaProtocol: present({ ...protocol }) } });
}

export function metadataLine(format: ResponseFormat, metadata: MetadataAction, facts: SnapshotFacts = {}): string {
  const extra = present({ version: facts.version, size: facts.size, numFiles: facts.numFiles });
  if (format === 'delta') return line({ metaData: { deltaMetadata: present({ ...metadata }), ...extra } });
  return line({
    metaData: {
      id: metadata.id,
      ...present({ name: metadata.name, description: metadata.description }),
      format: { provider: metadata.format.provider },
      schemaString: metadata.schemaString,
      partitionColumns: metadata.partitionColumns,
      configuration: metadata.configuration,
      ...extra,
    },
  });
}

/** A file of the answer, its URL(s) already signed. */
export interface SignedAdd {
  readonly add: AddAction;
  readonly url: string;
  readonly expirationTimestamp: number;
  /** the signed URL of the deletion vector's file (storage type u or p); required in delta format for such a DV */
  readonly deletionVectorUrl?: string;
  /** the version and its timestamp (ms): sent with version/timestamp queries, and on change lines */
  readonly version?: number;
  readonly timestamp?: number;
}

function signedDeletionVector(dv: DeletionVectorDescriptor | null | undefined, url: string | undefined): DeletionVectorDescriptor | undefined {
  if (!dv) return undefined;
  if (dv.storageType === 'i') return dv;
  if (url === undefined) throw new Error(`deletion vector ${dv.storageType}${dv.pathOrInlineDv} has no signed URL`);
  // 'p': an absolute path, here the signed URL; offset and sizes unchanged
  return { ...dv, storageType: 'p', pathOrInlineDv: url };
}

function deltaFileLine(
  action: 'add' | 'remove' | 'cdc',
  body: Record<string, unknown>,
  file: { path: string; deletionVector?: DeletionVectorDescriptor | null },
  signed: { url: string; expirationTimestamp: number; deletionVectorUrl?: string; version?: number; timestamp?: number },
): string {
  const dv = signedDeletionVector(file.deletionVector, signed.deletionVectorUrl);
  // Written out, as the parquet line is (every file of a big list): the JSON of
  // {file: {id, deletionVectorFileId?, version?, timestamp?, expirationTimestamp,
  // deltaSingleAction: {[action]: {...body, path: url, deletionVector: dv}}}}, nulls dropped.
  let text = `{"file":{"id":"${fileId(file)}"`;
  if (file.deletionVector && file.deletionVector.storageType !== 'i') text += `,"deletionVectorFileId":"${deletionVectorFileId(file.deletionVector)}"`;
  if (signed.version !== undefined && signed.version !== null) text += `,"version":${JSON.stringify(signed.version)}`;
  if (signed.timestamp !== undefined && signed.timestamp !== null) text += `,"timestamp":${JSON.stringify(signed.timestamp)}`;
  text += `,"expirationTimestamp":${JSON.stringify(signed.expirationTimestamp)},"deltaSingleAction":{"${action}":{`;
  let fields = 0;
  const field = (name: string, value: unknown): void => {
    if (value === undefined || value === null) return;
    text += `${fields++ === 0 ? '' : ','}${JSON.stringify(name)}:${JSON.stringify(value)}`;
  };
  // the action's own fields in their order, the path and the vector replaced where they stand (appended when absent)
  for (const name of Object.keys(body)) field(name, name === 'path' ? signed.url : name === 'deletionVector' ? dv : body[name]);
  if (!('path' in body)) field('path', signed.url);
  if (!('deletionVector' in body)) field('deletionVector', dv);
  return `${text}}}}}\n`;
}

/** A `file` line of a snapshot query. */
export function fileLine(format: ResponseFormat, file: SignedAdd): string {
  const { add } = file;
  if (format === 'delta') return deltaFileLine('add', add, add, file);
  // Written out rather than JSON.stringify of an object: the line of every file of a big list (the same JSON, key for key).
  let text = `{"file":{"url":${JSON.stringify(file.url)},"id":"${fileId(add)}","partitionValues":${JSON.stringify(add.partitionValues)},"size":${JSON.stringify(add.size)}`;
  if (add.stats !== undefined && add.stats !== null) text += `,"stats":${JSON.stringify(add.stats)}`;
  if (file.version !== undefined && file.version !== null) text += `,"version":${JSON.stringify(file.version)}`;
  if (file.timestamp !== undefined && file.timestamp !== null) text += `,"timestamp":${JSON.stringify(file.timestamp)}`;
  return `${text},"expirationTimestamp":${JSON.stringify(file.expirationTimestamp)}}}\n`;
}

/** A change of a version: what the log's add, remove or cdc action says, signed. */
export type SignedChange =
  | { readonly kind: 'add'; readonly action: AddAction }
  | { readonly kind: 'remove'; readonly action: RemoveAction }
  | { readonly kind: 'cdc'; readonly action: CdcAction };

export interface ChangeFacts {
  readonly url: string;
  readonly expirationTimestamp: number;
  readonly deletionVectorUrl?: string;
  readonly version: number;
  readonly timestamp: number;
}

/**
 * A line of a change data feed (or of a startingVersion query): parquet
 * `add`/`cdf`/`remove` with version and timestamp, or delta
 * `file.deltaSingleAction.add/remove/cdc`. A remove without a size says 0.
 */
export function changeLine(format: ResponseFormat, change: SignedChange, facts: ChangeFacts): string {
  const { action } = change;
  if (format === 'delta') return deltaFileLine(change.kind, action, action, facts);
  const common = {
    url: facts.url,
    id: fileId(action),
    partitionValues: action.partitionValues ?? {},
    size: action.size ?? 0,
    timestamp: facts.timestamp,
    version: facts.version,
  };
  if (change.kind === 'add') {
    return line({ add: { ...common, ...present({ stats: change.action.stats }), expirationTimestamp: facts.expirationTimestamp } });
  }
  return line({ [change.kind === 'cdc' ? 'cdf' : 'remove']: { ...common, expirationTimestamp: facts.expirationTimestamp } });
}

export interface EndStream {
  readonly refreshToken?: string;
  readonly nextPageToken?: string;
  /** the earliest expirationTimestamp of the URLs in the response; absent when it has none */
  readonly minUrlExpirationTimestamp?: number;
}

/** The last line when the client asked for it (`includeEndStreamAction`): how to continue, and when the URLs expire. */
export function endStreamLine(end: EndStream): string {
  return line({ endStreamAction: present({ ...end }) });
}

/** Whether the client asked for an endStreamAction (`includeendstreamaction=true` in delta-sharing-capabilities). */
export function wantsEndStream(capabilities: Capabilities): boolean {
  return capabilities.all.get('includeendstreamaction')?.includes('true') === true;
}

/**
 * The `delta-sharing-capabilities` header of a table response: the format
 * the lines are in (clients parse by it: a parquet client getting delta must
 * fail), and `includeendstreamaction=true` when the last line is one.
 */
export function responseCapabilities(format: ResponseFormat, endStream: boolean): string {
  return endStream ? `responseformat=${format};includeendstreamaction=true` : `responseformat=${format}`;
}
