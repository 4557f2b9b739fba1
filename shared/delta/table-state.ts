/**
 * The reconciled state of a table, built action by action in log order: the
 * newest action on a logical file key (path, deletion vector id) wins, a
 * path added, removed and added again is live. Also the checks of what a
 * log must not contradict (PROTOCOL.md), each failing as a LogFormatError
 * naming the file and line.
 */
import { LogFormatError } from '../errors/index.ts';
import {
  addLine, fileKey, type Action, type AddAction, type DomainMetadataAction, type MetadataAction, type ProtocolAction,
  type RemoveAction, type TxnAction,
} from './actions.ts';
import { columnNames } from './column-mapping.ts';
import { transactionRetentionMs } from './transaction-retention.ts';
import { compareCodePoints } from './order.ts';
import { checkMetadataFeatures, checkProtocolAction, checkReadable } from './table-features.ts';

/**
 * The protocol action of the version a metaData action belongs to, noted by
 * checkOneVersion: a version's actions are a set, so a metaData that turns a
 * feature on is checked against the protocol of its own version, whichever
 * of the two comes first in the file.
 */
const protocolOfVersion = new WeakMap<MetadataAction, ProtocolAction>();
/** Protocol actions whose version also carries a metaData (checked against them when it is applied). */
const protocolsWithMetadata = new WeakSet<ProtocolAction>();

export interface LocatedAction {
  readonly action: Action;
  readonly file: string;
  readonly line: number | undefined;
}

/** The reconciled state of a table at one version. */
export class TableState {
  version = -1;
  protocol: ProtocolAction | undefined;
  metadata: MetadataAction | undefined;
  readonly txns = new Map<string, TxnAction>();
  readonly domains = new Map<string, DomainMetadataAction>();
  readonly files = new Map<string, AddAction>();
  readonly tombstones = new Map<string, RemoveAction>();

  /**
   * Checkpoint rows come in no particular order (delta-rs writes adds before
   * the metaData row), so inside a checkpoint partition values are checked
   * once it has been read: each distinct set of partition columns once.
   */
  private deferredPartitionChecks: Map<string, { partitionValues: Record<string, string | null>; file: string; line: number | undefined }> | undefined;

  /** A checkpoint's metaData, checked against its protocol once both are read (rows come in any order). */
  private deferredFeatureCheck: { metadata: MetadataAction; file: string; line: number | undefined } | undefined;

  /** With trackFiles false only metadata, protocol, txns and domains are kept (validation during imports). */
  constructor(private readonly trackFiles = true) {}

  beginCheckpoint(): void {
    this.deferredPartitionChecks = new Map();
  }

  endCheckpoint(): void {
    const deferred = this.deferredPartitionChecks;
    this.deferredPartitionChecks = undefined;
    for (const { partitionValues, file, line } of deferred?.values() ?? []) checkPartitionValues(partitionValues, this.metadata, file, line);
    const features = this.deferredFeatureCheck;
    this.deferredFeatureCheck = undefined;
    if (features && this.protocol) checkMetadataFeatures(features.metadata, this.protocol, features.file, features.line, { readingLog: true });
  }

  /** Applies one action in log order; checks what the log must not contradict. */
  apply({ action, file, line }: LocatedAction): void {
    switch (action.kind) {
      case 'add': {
        if (this.deferredPartitionChecks) {
          const signature = Object.keys(action.add.partitionValues).join('\u0000');
          if (!this.deferredPartitionChecks.has(signature)) this.deferredPartitionChecks.set(signature, { partitionValues: action.add.partitionValues, file, line });
        } else {
          checkPartitionValues(action.add.partitionValues, this.metadata, file, line);
        }
        if (!this.trackFiles) break;
        const key = fileKey(action.add);
        this.files.set(key, action.add);
        this.tombstones.delete(key);
        break;
      }
      case 'remove': {
        if (!this.trackFiles) break;
        const key = fileKey(action.remove);
        this.files.delete(key);
        this.tombstones.set(key, action.remove);
        break;
      }
      case 'metaData': {
        checkMetadataAction(action.metaData, file, line);
        if (this.deferredPartitionChecks) {
          this.deferredFeatureCheck = { metadata: action.metaData, file, line };
        } else {
          // Unknown protocol (a sync import that starts from stored metadata only): nothing to check against.
          const protocol = protocolOfVersion.get(action.metaData) ?? this.protocol;
          if (protocol) checkMetadataFeatures(action.metaData, protocol, file, line, { readingLog: true });
        }
        this.metadata = action.metaData;
        break;
      }
      case 'protocol':
        // A checkpoint restates the protocol of its version: there is nothing it could drop.
        // Unsupported first: a future protocol is named as such, not as malformed.
        checkReadable(action.protocol, file);
        checkProtocolAction(action.protocol, this.deferredPartitionChecks ? undefined : this.protocol, file, line, { readingLog: true });
        // The metadata in force must still have every feature it uses (an upgrade may leave out unused legacy ones).
        if (this.metadata && !this.deferredPartitionChecks && !protocolsWithMetadata.has(action.protocol)) {
          checkMetadataFeatures(this.metadata, action.protocol, file, line, { readingLog: true });
        }
        this.protocol = action.protocol;
        break;
      case 'txn':
        this.txns.set(action.txn.appId, action.txn);
        break;
      case 'domainMetadata':
        if (action.domainMetadata.removed) this.domains.delete(action.domainMetadata.domain);
        else this.domains.set(action.domainMetadata.domain, action.domainMetadata);
        break;
      default:
        // commitInfo, cdc, checkpointMetadata and unknown actions do not change the snapshot.
        break;
    }
  }

  /** The live add actions as NDJSON lines, sorted by path (then deletion vector id). */
  liveLines(): string[] {
    return [...this.files.keys()].sort(compareCodePoints).map((key) => addLine(this.files.get(key) as AddAction));
  }
}

export function checkPartitionValues(
  partitionValues: Record<string, string | null>,
  metadata: MetadataAction | undefined,
  file: string,
  line: number | undefined,
): void {
  if (!metadata) throw new LogFormatError(file, line, 'an add action before the table has metadata');
  // Keyed by physical names (column mapping); the same as the logical ones without it.
  const expected = columnNames(metadata, file, line).partitionPhysicalNames;
  const got = Object.keys(partitionValues);
  const ok = got.length === expected.length && expected.every((column) => Object.hasOwn(partitionValues, column));
  if (!ok) {
    throw new LogFormatError(
      file, line,
      `add.partitionValues has columns [${got.join(', ')}] but the table is partitioned by [${expected.join(', ')}]`,
    );
  }
}

/** What a metaData action must hold in itself, wherever it comes from (a log being read, a commit). */
export function checkMetadataAction(metadata: MetadataAction, file: string, line: number | undefined): void {
  // Parses the schema, checks the partition columns and, with column mapping, every field's physical name and id.
  columnNames(metadata, file, line);
  // A retention the snapshot could not apply is refused where the metaData comes in, not when a snapshot is read.
  try {
    transactionRetentionMs(metadata.configuration);
  } catch (error) {
    throw new LogFormatError(file, line, (error as Error).message.replace(/^metaData: /, 'metaData.'));
  }
}

/** PROTOCOL.md: at most one metaData, one protocol and one file action per (path, dv id) and type in a version. */
export function checkOneVersion(actions: readonly LocatedAction[], file: string): void {
  const seen = new Set<string>();
  let metadata = 0;
  let protocol = 0;
  const versionProtocol = actions.find(({ action }) => action.kind === 'protocol')?.action;
  for (const { action, line } of actions) {
    if (action.kind === 'metaData' && versionProtocol?.kind === 'protocol') {
      protocolOfVersion.set(action.metaData, versionProtocol.protocol);
      protocolsWithMetadata.add(versionProtocol.protocol);
    }
    if (action.kind === 'metaData' && ++metadata > 1) throw new LogFormatError(file, line, 'a second metaData action in one version');
    if (action.kind === 'protocol' && ++protocol > 1) throw new LogFormatError(file, line, 'a second protocol action in one version');
    if (action.kind === 'add' || action.kind === 'remove') {
      const key = `${action.kind}:${fileKey(action.kind === 'add' ? action.add : action.remove)}`;
      if (seen.has(key)) throw new LogFormatError(file, line, `a second ${action.kind} of ${JSON.stringify(action.kind === 'add' ? action.add.path : action.remove.path)} in one version`);
      seen.add(key);
    }
  }
}

export function checkFirstVersion(actions: readonly LocatedAction[], file: string): void {
  const kinds = new Set(actions.map((located) => located.action.kind));
  if (!kinds.has('protocol') || !kinds.has('metaData')) {
    throw new LogFormatError(file, undefined, 'version 0 must contain a protocol and a metaData action');
  }
}
