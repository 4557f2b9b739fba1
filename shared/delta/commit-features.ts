/**
 * What the table features in force demand of one commit (PROTOCOL.md, each
 * feature's writer requirements), checked before it is written. Pure: the
 * commit path hands in the protocol and metadata in force after the commit
 * and the commit's actions. Row ids, row commit versions and in-commit
 * timestamps are assigned by the commit path, not checked here.
 */
import { BadRequestError, LogFormatError } from '../errors/index.ts';
import type { Action, AddAction, MetadataAction, ProtocolAction } from './actions.ts';
import { columnNames } from './column-mapping.ts';
import { checkMetadataFeatures, checkProtocolAction, checkWritable, supportedFeatures } from './table-features.ts';

export interface CommitFeaturesInput {
  /** the protocol in force after the commit (the commit's own, or the table's) */
  readonly protocol: ProtocolAction | undefined;
  /** the metadata in force after the commit (the commit's own, or the table's) */
  readonly metadata: MetadataAction | undefined;
  /** the table's protocol before the commit (undefined when the commit creates the table): a new protocol may not drop its features */
  readonly previousProtocol?: ProtocolAction | undefined;
  readonly actions: readonly Action[];
  /** where the actions came from, for error messages (their lines are 1-based positions) */
  readonly source: string;
}

// A table without a protocol yet (never the case once created) supports nothing.
const noFeatures: ProtocolAction = { minReaderVersion: 1, minWriterVersion: 1 };

/** Domains deltameta understands and checks; other `delta.*` domains are refused (PROTOCOL.md "Domain Metadata": writers modify only system domains they understand). */
const rowTrackingDomain = 'delta.rowTracking';
const clusteringDomain = 'delta.clustering';

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

function numRecords(add: AddAction): number | undefined {
  if (typeof add.stats !== 'string') return undefined;
  try {
    const value = (JSON.parse(add.stats) as { numRecords?: unknown }).numRecords;
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a commit that the table's features forbid, naming the feature and
 * the action: an unsupported writer feature (UnsupportedFeatureError), an
 * invalid protocol or metadata (LogFormatError), or an action the active
 * features do not allow (BadRequestError).
 */
export function checkCommitFeatures(input: CommitFeaturesInput): void {
  const { actions, source, metadata } = input;
  const protocol = input.protocol ?? noFeatures;
  checkWritable(protocol, source);
  const supported = supportedFeatures(protocol);
  actions.forEach((action, index) => {
    if (action.kind === 'protocol') checkProtocolAction(action.protocol, input.previousProtocol, source, index + 1);
  });
  if (metadata) {
    const line = actions.findIndex((action) => action.kind === 'metaData');
    // New metadata must not use a feature the protocol lacks. The table's own (no metaData in this commit) was
    // accepted when it came in: a writer-only property without its feature there is inert, as when reading, so it
    // does not refuse every later commit (a delta-rs table with delta.enableInCommitTimestamps alone takes appends).
    checkMetadataFeatures(metadata, protocol, source, line === -1 ? undefined : line + 1, { readingLog: line === -1 });
    if (supported.has('clustering') && metadata.partitionColumns.length > 0) {
      throw new LogFormatError(source, line === -1 ? undefined : line + 1, `a clustered table (clustering) cannot have partition columns [${metadata.partitionColumns.join(', ')}]`);
    }
  }
  const configuration = metadata?.configuration ?? {};
  const appendOnly = supported.has('appendOnly') && isTrue(configuration['delta.appendOnly']);
  const newDeletionVectors = isTrue(configuration['delta.enableDeletionVectors']);
  const assignsRowIds = supported.has('rowTracking') && !isTrue(configuration['delta.rowTrackingSuspended']);
  const refuse = (index: number, reason: string): never => {
    throw new BadRequestError(`${source}:${index + 1}: ${reason}`);
  };

  actions.forEach((action, index) => {
    switch (action.kind) {
      case 'remove': {
        const { remove } = action;
        if (appendOnly && remove.dataChange) refuse(index, `the table is append-only (appendOnly, delta.appendOnly=true): remove of ${JSON.stringify(remove.path)} with dataChange=true`);
        if (remove.deletionVector && !supported.has('deletionVectors')) refuse(index, `remove of ${JSON.stringify(remove.path)} has a deletion vector but the table does not support deletionVectors`);
        break;
      }
      case 'add': {
        const { add } = action;
        if (add.deletionVector) {
          if (!supported.has('deletionVectors')) refuse(index, `add of ${JSON.stringify(add.path)} has a deletion vector but the table does not support deletionVectors`);
          // A recommit (dataChange=false) may carry an existing DV; a new one needs the property.
          if (add.dataChange && !newDeletionVectors) refuse(index, `add of ${JSON.stringify(add.path)} writes a deletion vector but delta.enableDeletionVectors is not true (deletionVectors)`);
          if (numRecords(add) === undefined) refuse(index, `add of ${JSON.stringify(add.path)} has a deletion vector but no stats.numRecords (deletionVectors)`);
        }
        if (assignsRowIds && numRecords(add) === undefined) refuse(index, `add of ${JSON.stringify(add.path)} has no stats.numRecords, which row tracking (rowTracking) needs to assign row ids`);
        if (add.clusteringProvider != null && !supported.has('clustering')) refuse(index, `add of ${JSON.stringify(add.path)} has a clusteringProvider but the table does not support clustering`);
        break;
      }
      case 'cdc':
        // Change data files belong to the change data feed (writer version 4 or the feature).
        if (!supported.has('changeDataFeed')) refuse(index, `cdc of ${JSON.stringify(action.cdc.path)} but the table does not support changeDataFeed`);
        break;
      case 'domainMetadata': {
        const { domain, configuration: config, removed } = action.domainMetadata;
        if (!supported.has('domainMetadata')) refuse(index, `domainMetadata ${JSON.stringify(domain)} but the table does not support domainMetadata`);
        if (domain === rowTrackingDomain) {
          if (!supported.has('rowTracking')) refuse(index, `domainMetadata ${rowTrackingDomain} but the table does not support rowTracking`);
          if (!removed) checkRowTrackingDomain(config, index, refuse);
        } else if (domain === clusteringDomain) {
          if (!supported.has('clustering')) refuse(index, `domainMetadata ${clusteringDomain} but the table does not support clustering`);
          if (!removed) checkClusteringDomain(config, metadata, index, refuse);
        } else if (domain.startsWith('delta.')) {
          refuse(index, `domainMetadata ${JSON.stringify(domain)} is a system domain deltameta does not understand (only ${rowTrackingDomain} and ${clusteringDomain} may be written)`);
        }
        break;
      }
      default:
        break;
    }
  });
}

function parsedConfiguration(config: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(config) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

function checkRowTrackingDomain(config: string, index: number, refuse: (index: number, reason: string) => never): void {
  const highWaterMark = parsedConfiguration(config)?.['rowIdHighWaterMark'];
  if (typeof highWaterMark !== 'number' || !Number.isSafeInteger(highWaterMark) || highWaterMark < -1) {
    refuse(index, `domainMetadata ${rowTrackingDomain} needs a configuration {"rowIdHighWaterMark": <integer>}`);
  }
}

/** clusteringColumns: physical names (column mapping), each a name or Spark's list of name parts; the first part must be a column of the schema. */
function checkClusteringDomain(config: string, metadata: MetadataAction | undefined, index: number, refuse: (index: number, reason: string) => never): void {
  const columns = parsedConfiguration(config)?.['clusteringColumns'];
  if (!Array.isArray(columns)) refuse(index, `domainMetadata ${clusteringDomain} needs a configuration {"clusteringColumns": [...]}`);
  const physical = metadata ? columnNames(metadata).logicalByPhysical : undefined;
  for (const column of columns as unknown[]) {
    const parts = typeof column === 'string' ? [column] : column;
    if (!Array.isArray(parts) || parts.length === 0 || !parts.every((part) => typeof part === 'string')) {
      refuse(index, `domainMetadata ${clusteringDomain}: a clustering column is a name or a list of name parts, got ${JSON.stringify(column)}`);
    }
    const top = parts[0] as string;
    if (physical && !physical.has(top) && !physical.has(top.split('.')[0] as string)) refuse(index, `domainMetadata ${clusteringDomain}: clustering column ${JSON.stringify(column)} is not a (physical) column of the schema`);
  }
}
