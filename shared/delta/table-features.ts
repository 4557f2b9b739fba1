/**
 * Table features (PROTOCOL.md "Table Features", "Protocol Evolution"): which
 * features deltameta implements for reading and for writing, and the checks
 * of a protocol action and of the metadata it governs. A table whose
 * protocol names a reader feature deltameta does not implement is never
 * read (import, replay); one naming a writer feature it does not implement
 * is never written (commit-features.ts). The registry below is the table in
 * docs/delta-log.md: keep them in step.
 *
 * deltameta is a log server: it never reads or writes data files. A feature
 * whose only demands are on data files (deletion vector bitmaps, variant
 * encoding, CHECK constraint values) is "supported" when the log side of it
 * is honoured and the data side is the committing engine's job, as it is
 * for every row a client writes; each entry says which.
 */
import { LogFormatError, UnsupportedFeatureError } from '../errors/index.ts';
import type { MetadataAction, ProtocolAction } from './actions.ts';
import { columnMappingMode } from './column-mapping.ts';
import { schemaFeatureUses, schemaTypeChanges } from './schema-features.ts';
import { isSupportedTypeChange } from './type-widening.ts';

export type FeatureKind = 'writer' | 'readerWriter';

export interface TableFeatureSupport {
  readonly name: string;
  readonly kind: FeatureKind;
  /** Legacy protocol versions that imply the feature without listing it (PROTOCOL.md "Writer/Reader Version Requirements"). */
  readonly legacy?: { readonly readerVersion: number; readonly writerVersion: number };
  /** Readers never need writer-only features: only readerWriter features can be refused for reading. */
  readonly read: boolean;
  readonly write: boolean;
  readonly why: string;
  /** Features the spec requires alongside this one. */
  readonly requires?: readonly string[];
}

const feature = (support: TableFeatureSupport): TableFeatureSupport => support;

export const tableFeatures: readonly TableFeatureSupport[] = [
  feature({ name: 'appendOnly', kind: 'writer', legacy: { readerVersion: 1, writerVersion: 2 }, read: true, write: true,
    why: 'with delta.appendOnly=true a commit that removes data (a remove with dataChange=true) is refused' }),
  feature({ name: 'invariants', kind: 'writer', legacy: { readerVersion: 1, writerVersion: 2 }, read: true, write: true,
    why: 'row values are checked by the engine that writes the data files; deltameta checks the feature is there when a column declares delta.invariants' }),
  feature({ name: 'checkConstraints', kind: 'writer', legacy: { readerVersion: 1, writerVersion: 3 }, read: true, write: true,
    why: 'rows (new, and existing ones when a constraint is added) are checked by the engine that writes the data files; deltameta checks the feature is there for delta.constraints.*' }),
  feature({ name: 'changeDataFeed', kind: 'writer', legacy: { readerVersion: 1, writerVersion: 4 }, read: true, write: true,
    why: 'cdc actions are kept and replayed as the log says; the engine writes the change data files' }),
  feature({ name: 'generatedColumns', kind: 'writer', legacy: { readerVersion: 1, writerVersion: 4 }, read: true, write: true,
    why: 'generated values are computed by the engine that writes the data files' }),
  feature({ name: 'columnMapping', kind: 'readerWriter', legacy: { readerVersion: 2, writerVersion: 5 }, read: true, write: true,
    why: 'partition values, stats and clustering columns are keyed by physical names (column-mapping.ts); name and id modes' }),
  feature({ name: 'identityColumns', kind: 'writer', legacy: { readerVersion: 1, writerVersion: 6 }, read: true, write: true,
    why: 'identity values and delta.identity.highWaterMark are maintained by the engine; deltameta keeps the metadata it commits' }),
  feature({ name: 'deletionVectors', kind: 'readerWriter', read: true, write: true,
    why: 'descriptors are kept and reconciled by (path, dv id); deltameta never opens data or DV files. New DVs only with delta.enableDeletionVectors=true, each on an add with stats.numRecords' }),
  feature({ name: 'timestampNtz', kind: 'readerWriter', read: true, write: true,
    why: 'a schema type only: partition values and stats stay the strings the log holds' }),
  feature({ name: 'domainMetadata', kind: 'writer', read: true, write: true,
    why: 'domains are reconciled (latest wins, tombstones drop them); a commit may carry them only with the feature, and delta.* domains only those deltameta understands (delta.rowTracking, delta.clustering)' }),
  feature({ name: 'v2Checkpoint', kind: 'readerWriter', read: true, write: true,
    why: 'UUID-named and classic V2 checkpoints with sidecars are read; commits are unaffected (checkpointMetadata and sidecar actions are refused in commits), and the exported classic checkpoint is valid V1' }),
  feature({ name: 'rowTracking', kind: 'writer', read: true, write: true, requires: ['domainMetadata'],
    why: 'the commit path assigns baseRowId / defaultRowCommitVersion and advances delta.rowTracking; every add must carry stats.numRecords' }),
  feature({ name: 'inCommitTimestamp', kind: 'writer', read: true, write: true,
    why: 'the commit path writes commitInfo.inCommitTimestamp first in every commit; time travel follows the enablement version and timestamp' }),
  feature({ name: 'vacuumProtocolCheck', kind: 'readerWriter', read: true, write: true,
    why: 'affects VACUUM only, which deltameta never runs; readers need only acknowledge it' }),
  feature({ name: 'clustering', kind: 'writer', read: true, write: true, requires: ['domainMetadata'],
    why: 'the delta.clustering domain is checked (clusteringColumns are physical names of the schema), clusteringProvider only on clustered tables, never with partition columns' }),
  feature({ name: 'typeWidening', kind: 'readerWriter', read: true, write: false,
    why: 'reading: the schema and its delta.typeChanges are passed through, data values are never read; writing is refused: deltameta does not check that a new schema only widens types as the spec allows' }),
  feature({ name: 'variantType', kind: 'readerWriter', read: true, write: true,
    why: 'a schema type only: variant columns carry no partition values and only nullCount stats' }),
  feature({ name: 'variantShredding', kind: 'readerWriter', read: false, write: false, requires: ['variantType'],
    why: 'shredded variant stats are not modelled by the stats filters' }),
  feature({ name: 'allowColumnDefaults', kind: 'writer', read: true, write: true,
    why: 'default values are applied by the engine that writes the rows' }),
  feature({ name: 'icebergCompatV1', kind: 'writer', read: true, write: false, requires: ['columnMapping'],
    why: 'writing is refused: its data file and schema rules (partition values materialized, type allow-list, Iceberg metadata) are not checked' }),
  feature({ name: 'icebergCompatV2', kind: 'writer', read: true, write: false, requires: ['columnMapping'],
    why: 'writing is refused: its data file and schema rules (partition values materialized, type allow-list, nested ids) are not checked' }),
  feature({ name: 'icebergWriterCompatV1', kind: 'writer', read: true, write: false,
    why: 'writing is refused: its rules on the schema and data files are not checked' }),
  feature({ name: 'checkpointProtection', kind: 'writer', read: true, write: false,
    why: 'writing is refused: deltameta does not implement the history-truncation rules it protects' }),
  feature({ name: 'materializePartitionColumns', kind: 'writer', read: true, write: false,
    why: 'writing is refused: deltameta cannot check that data files carry the partition columns' }),
  feature({ name: 'catalogManaged', kind: 'readerWriter', read: false, write: false, requires: ['inCommitTimestamp'],
    why: 'ratified commits live in the managing catalog; the spec forbids filesystem-based access' }),
  feature({ name: 'collations', kind: 'readerWriter', read: false, write: false,
    why: 'partition and stats filters compare in code point order, not by the column collation' }),
];

export const tableFeatureByName: ReadonlyMap<string, TableFeatureSupport> = new Map(tableFeatures.map((support) => [support.name, support]));

/** A protocol's feature lists as they are at runtime (null in checkpoints, absent in JSON). */
function listed(names: readonly string[] | null | undefined): readonly string[] {
  return names ?? [];
}

function usesTableFeatures(protocol: ProtocolAction): boolean {
  return protocol.minReaderVersion >= 3 || protocol.minWriterVersion >= 7;
}

/**
 * Every feature a protocol supports: with table features (reader 3 or
 * writer 7) the listed ones, otherwise those its legacy versions imply —
 * both versions, as Spark's `implicitlySupportedFeatures` reads them (writer
 * 5 without reader 2 does not support columnMapping).
 */
export function supportedFeatures(protocol: ProtocolAction): ReadonlySet<string> {
  if (usesTableFeatures(protocol)) {
    return new Set([...listed(protocol.readerFeatures), ...listed(protocol.writerFeatures)]);
  }
  return new Set(tableFeatures
    .filter(({ legacy }) => legacy && protocol.minReaderVersion >= legacy.readerVersion && protocol.minWriterVersion >= legacy.writerVersion)
    .map(({ name }) => name));
}

/** The features a reader must implement: readerFeatures at reader 3, columnMapping at reader 2. */
export function readerFeatures(protocol: ProtocolAction): readonly string[] {
  if (protocol.minReaderVersion >= 3) return listed(protocol.readerFeatures);
  return protocol.minReaderVersion === 2 ? ['columnMapping'] : [];
}

/** The features a writer must implement (readers' included: a writer reads first). */
export function writerFeatures(protocol: ProtocolAction): readonly string[] {
  return [...new Set([...readerFeatures(protocol), ...supportedFeatures(protocol)])];
}

function reasons(names: readonly string[]): string {
  return names.map((name) => `${name}: ${tableFeatureByName.get(name)?.why ?? 'not a feature deltameta knows'}`).join('; ');
}

/**
 * Reading (import, replay, snapshot) refuses a table whose protocol needs a
 * reader deltameta is not: a reader version above 3, or a reader feature it
 * does not implement. Throws UnsupportedFeatureError naming each.
 */
export function checkReadable(protocol: ProtocolAction, where: string): void {
  if (protocol.minReaderVersion > 3) {
    throw new UnsupportedFeatureError(where, 'read', [`minReaderVersion ${protocol.minReaderVersion}`], 'deltameta reads reader versions 1 to 3');
  }
  const refused = readerFeatures(protocol).filter((name) => !(tableFeatureByName.get(name)?.read ?? false));
  if (refused.length > 0) throw new UnsupportedFeatureError(where, 'read', refused, reasons(refused));
}

/** Writing (commit) refuses what checkReadable refuses, a writer version above 7, and any writer feature deltameta does not implement. */
export function checkWritable(protocol: ProtocolAction, where: string): void {
  checkReadable(protocol, where);
  if (protocol.minWriterVersion > 7) {
    throw new UnsupportedFeatureError(where, 'write', [`minWriterVersion ${protocol.minWriterVersion}`], 'deltameta writes writer versions 1 to 7');
  }
  const refused = writerFeatures(protocol).filter((name) => !(tableFeatureByName.get(name)?.write ?? false));
  if (refused.length > 0) throw new UnsupportedFeatureError(where, 'write', refused, reasons(refused));
}

export interface ProtocolCheckOptions {
  /**
   * A log written by another engine is being read (import, replay). Two
   * things its writer decided are accepted there and refused in commits:
   * an upgrade from legacy versions to table features that lists only the
   * implied features in use (PROTOCOL.md "Table Features for New and
   * Existing Tables": "add only used features"; delta-rs 1.6 turns (1,2)
   * into (3,7) [deletionVectors] without appendOnly and invariants — the
   * metadata in force is checked against the new protocol instead), and a
   * feature whose required companion is missing (delta-rs 1.6 adds
   * rowTracking without domainMetadata).
   */
  readonly readingLog?: boolean;
}

/**
 * A protocol action as the spec allows it: reader features only at reader
 * version 3, writer features only at writer version 7, reader 3 only with
 * writer 7, every reader feature also a writer feature, a reader-writer
 * feature on both sides, required features present; and, against the
 * protocol it replaces, no feature dropped ("Clients must not remove the
 * feature from the protocol action"; Spark's canUpgradeTo, implied legacy
 * features included; DROP FEATURE is not implemented, so a log that used
 * it is refused from that version on).
 */
export function checkProtocolAction(
  protocol: ProtocolAction,
  previous: ProtocolAction | undefined,
  where: string,
  line: number | undefined,
  options: ProtocolCheckOptions = {},
): void {
  const fail = (reason: string): never => {
    throw new LogFormatError(where, line, `protocol: ${reason}`);
  };
  const { minReaderVersion: reader, minWriterVersion: writer } = protocol;
  if (!Number.isSafeInteger(reader) || reader < 1) fail(`minReaderVersion ${reader} is not a protocol version`);
  if (!Number.isSafeInteger(writer) || writer < 1) fail(`minWriterVersion ${writer} is not a protocol version`);
  const readerList = listed(protocol.readerFeatures);
  const writerList = listed(protocol.writerFeatures);
  // An empty list at a lower version names nothing; only a feature listed where the versions cannot carry it is refused.
  if (reader !== 3 && readerList.length > 0) fail(`readerFeatures [${readerList.join(', ')}] need minReaderVersion 3, not ${reader}`);
  if (writer !== 7 && writerList.length > 0) fail(`writerFeatures [${writerList.join(', ')}] need minWriterVersion 7, not ${writer}`);
  if (reader === 3 && writer !== 7) fail(`minReaderVersion 3 needs minWriterVersion 7, not ${writer}`);
  if (reader === 3 && protocol.readerFeatures == null) fail('minReaderVersion 3 needs a readerFeatures list');
  if (writer === 7 && protocol.writerFeatures == null) fail('minWriterVersion 7 needs a writerFeatures list');
  const readerOnly = readerList.filter((name) => !writerList.includes(name));
  if (readerOnly.length > 0) fail(`reader features [${readerOnly.join(', ')}] must be in writerFeatures too`);
  if (writer === 7) {
    const readerSide = new Set(readerFeatures(protocol));
    const writerOnly = writerList.filter((name) => tableFeatureByName.get(name)?.kind === 'readerWriter' && !readerSide.has(name));
    if (writerOnly.length > 0) fail(`reader-writer features [${writerOnly.join(', ')}] must be in readerFeatures too (minReaderVersion 3)`);
  }
  const supported = supportedFeatures(protocol);
  for (const name of options.readingLog ? [] : supported) {
    const missing = (tableFeatureByName.get(name)?.requires ?? []).filter((required) => !supported.has(required));
    if (missing.length > 0) fail(`${name} needs ${missing.join(', ')} in the protocol too`);
  }
  const legacyToFeatures = previous !== undefined && !usesTableFeatures(previous) && usesTableFeatures(protocol);
  if (previous && !(options.readingLog && legacyToFeatures)) {
    const dropped = [...supportedFeatures(previous)].filter((name) => !supported.has(name));
    if (dropped.length > 0) {
      fail(`drops table feature${dropped.length === 1 ? '' : 's'} ${dropped.join(', ')} supported by the previous protocol (a feature cannot be removed by a protocol change; deltameta does not implement DROP FEATURE)`);
    }
  }
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

/** Each feature a metaData action uses, with what uses it: a table property or a schema element. */
export function metadataFeatureUses(metadata: MetadataAction): ReadonlyMap<string, string> {
  const uses = new Map<string, string>();
  const configuration = metadata.configuration ?? {};
  const byProperty: readonly (readonly [string, string])[] = [
    ['delta.appendOnly', 'appendOnly'],
    ['delta.enableChangeDataFeed', 'changeDataFeed'],
    ['delta.enableDeletionVectors', 'deletionVectors'],
    ['delta.enableRowTracking', 'rowTracking'],
    ['delta.enableInCommitTimestamps', 'inCommitTimestamp'],
    ['delta.enableTypeWidening', 'typeWidening'],
    ['delta.enableIcebergCompatV1', 'icebergCompatV1'],
    ['delta.enableIcebergCompatV2', 'icebergCompatV2'],
    ['delta.enableVariantShredding', 'variantShredding'],
  ];
  for (const [property, name] of byProperty) {
    if (isTrue(configuration[property])) uses.set(name, `${property}=true`);
  }
  if (columnMappingMode(metadata) !== 'none') uses.set('columnMapping', `delta.columnMapping.mode=${configuration['delta.columnMapping.mode']}`);
  if (configuration['delta.checkpointPolicy']?.trim().toLowerCase() === 'v2') uses.set('v2Checkpoint', 'delta.checkpointPolicy=v2');
  const constraint = Object.keys(configuration).find((key) => key.startsWith('delta.constraints.'));
  if (constraint !== undefined) uses.set('checkConstraints', constraint);
  for (const [name, use] of schemaFeatureUses(metadata)) if (!uses.has(name)) uses.set(name, use);
  return uses;
}

/**
 * Properties that turn on a writer's behaviour and change nothing a reader
 * does: without the feature in the protocol they are inert (PROTOCOL.md: a
 * feature is active only when the protocol supports it). Engines write such
 * logs — delta-rs 1.6 sets delta.enableInCommitTimestamps without the
 * inCommitTimestamp feature, and its add_feature(rowTracking) drops an active
 * changeDataFeed from the list — and Spark and delta-rs read them; so does a
 * log read here. A commit through deltameta must still upgrade the protocol.
 */
const inertWithoutFeature = new Set([
  'appendOnly', 'changeDataFeed', 'deletionVectors', 'rowTracking', 'inCommitTimestamp', 'typeWidening', 'icebergCompatV1', 'icebergCompatV2',
]);

/**
 * A metaData action must not use a feature its protocol does not support
 * (Spark upgrades the protocol in the same commit). A commit doing so is
 * refused; a log read from files (`readingLog`) is refused only for a use
 * that changes how it is read (column mapping, a schema type, V2 checkpoints,
 * constraints): a writer-only property without its feature is inert there.
 * Row tracking also needs its materialized column names; a recorded type
 * change must be one Type Widening allows (readers must fail on others).
 */
export function checkMetadataFeatures(
  metadata: MetadataAction, protocol: ProtocolAction, where: string, line: number | undefined, options: { readingLog?: boolean } = {},
): void {
  const supported = supportedFeatures(protocol);
  const missing = [...metadataFeatureUses(metadata)].filter(([name]) => !supported.has(name) && !(options.readingLog && inertWithoutFeature.has(name)));
  if (missing.length > 0) {
    throw new LogFormatError(where, line, `metaData uses ${missing.map(([name, use]) => `${name} (${use})`).join(', ')} but the protocol does not support ${missing.length === 1 ? 'it' : 'them'}`);
  }
  for (const { column, fromType, toType } of schemaTypeChanges(metadata)) {
    if (!isSupportedTypeChange(fromType, toType)) {
      throw new LogFormatError(where, line, `column "${column}": delta.typeChanges records ${JSON.stringify(fromType)} → ${JSON.stringify(toType)}, not a type change Type Widening allows`);
    }
  }
  if (isTrue(metadata.configuration?.['delta.enableRowTracking']) && supported.has('rowTracking')) {
    for (const key of ['delta.rowTracking.materializedRowIdColumnName', 'delta.rowTracking.materializedRowCommitVersionColumnName']) {
      if (!metadata.configuration[key]) throw new LogFormatError(where, line, `metaData sets delta.enableRowTracking=true without ${key}`);
    }
  }
}
