/**
 * What a commit's actions must become at the version they land on, redone on
 * every attempt (a lost race moves that version): row tracking's fresh row
 * ids and commit versions (PROTOCOL.md "Row Tracking"; Spark's
 * reassignOverlappingRowIds and reassignRowCommitVersions) and the in-commit
 * timestamp (PROTOCOL.md "In-Commit Timestamps"; Spark's
 * resolveTimestampOrderingConflicts).
 */
import { type Action, type AddAction, type CommitInfo, type MetadataAction } from '../delta/index.ts';
import { BadRequestError } from '../errors/index.ts';
import { rowTrackingDomain, type PreparedTransaction } from './transaction-request.ts';

export interface LandingState {
  readonly version: number;
  /** the read version the transaction's own row ids and commit versions were decided at */
  readonly readVersion: number;
  /** the row-id high-water mark at the read version and at the head it lands on (-1: none yet) */
  readonly readHighWaterMark: number;
  readonly headHighWaterMark: number;
  readonly rowTracking: boolean;
  readonly inCommitTimestamps: boolean;
  /** this commit turns in-commit timestamps on for a table that already has versions (the enablement properties are set) */
  readonly enablesInCommitTimestamps: boolean;
  /** the version's timestamp (strictly above the previous version's), the ICT when enabled */
  readonly timestampMs: number;
}

export interface LandedActions {
  readonly actions: readonly Action[];
  readonly commitInfo: CommitInfo | undefined;
  readonly commitInfoOrdinal: number | undefined;
}

/** In-commit timestamps are active: the property, and the protocol supports the inCommitTimestamp feature (PROTOCOL.md: active = supported and enabled). */
export function inCommitTimestampsEnabled(metadata: MetadataAction | undefined, supported: ReadonlySet<string>): boolean {
  return supported.has('inCommitTimestamp') && metadata?.configuration?.['delta.enableInCommitTimestamps'] === 'true';
}

/** Spark assigns row ids while the feature is supported, unless `delta.rowTrackingSuspended` says not to. */
export function rowTrackingActive(supported: boolean, metadata: MetadataAction | undefined): boolean {
  return supported && metadata?.configuration?.['delta.rowTrackingSuspended'] !== 'true';
}

export function highWaterMarkOf(configuration: string | undefined, removed: boolean | undefined): number {
  if (configuration === undefined || removed) return -1;
  const value = (JSON.parse(configuration) as { rowIdHighWaterMark?: unknown }).rowIdHighWaterMark;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : -1;
}

function numRecordsOf(add: AddAction, source: string, line: number): number {
  let numRecords: unknown;
  try {
    numRecords = add.stats ? (JSON.parse(add.stats) as { numRecords?: unknown }).numRecords : undefined;
  } catch {
    numRecords = undefined;
  }
  if (typeof numRecords !== 'number' || !Number.isSafeInteger(numRecords) || numRecords < 0) {
    throw new BadRequestError(
      `${source}:${line}: add ${JSON.stringify(add.path)} has no stats.numRecords; the table has row tracking and a fresh baseRowId needs the file's row count`,
    );
  }
  return numRecords;
}

export function landActions(txn: PreparedTransaction, landing: LandingState): LandedActions {
  let actions: Action[] = [...txn.actions];
  if (landing.rowTracking) actions = assignRowIds(actions, txn, landing);
  if (landing.enablesInCommitTimestamps) actions = actions.map((action) => (action.kind === 'metaData' ? { kind: 'metaData', metaData: withEnablement(action.metaData, landing) } : action));
  let commitInfo = txn.commitInfo;
  if (commitInfo && typeof commitInfo.isBlindAppend !== 'boolean') commitInfo = { ...commitInfo, isBlindAppend: txn.isBlindAppend };
  if (landing.inCommitTimestamps) {
    // The commitInfo is the first action and carries the version's timestamp.
    commitInfo = commitInfo
      ? { ...commitInfo, inCommitTimestamp: landing.timestampMs }
      : { inCommitTimestamp: landing.timestampMs, timestamp: landing.timestampMs, isBlindAppend: txn.isBlindAppend };
    const info = commitInfo;
    actions = [{ kind: 'commitInfo', commitInfo: info }, ...actions.filter((action) => action.kind !== 'commitInfo')];
  } else if (commitInfo) {
    const info = commitInfo;
    actions = actions.map((action) => (action.kind === 'commitInfo' ? { kind: 'commitInfo', commitInfo: info } : action));
  }
  const ordinal = actions.findIndex((action) => action.kind === 'commitInfo');
  return { actions, commitInfo, commitInfoOrdinal: ordinal >= 0 ? ordinal : undefined };
}

/**
 * reassignOverlappingRowIds + reassignRowCommitVersions, done on every
 * commit rather than only after a lost race (deltameta is the committer: a
 * writer need not know the high-water mark). An add whose baseRowId is at or
 * below the read high-water mark carries a row id an earlier commit gave it
 * (a copied file) and keeps it; every other add gets fresh ids above the
 * high-water mark at head. A row commit version above the read version was
 * this transaction's guess and becomes the landing version.
 */
function assignRowIds(actions: readonly Action[], txn: PreparedTransaction, landing: LandingState): Action[] {
  let highWaterMark = landing.headHighWaterMark;
  let hadDomain = false;
  const out: Action[] = [];
  actions.forEach((action, index) => {
    if (action.kind === 'domainMetadata' && action.domainMetadata.domain === rowTrackingDomain) {
      hadDomain = true;
      return;
    }
    if (action.kind !== 'add') {
      out.push(action);
      return;
    }
    let add = action.add;
    if (add.baseRowId === undefined || add.baseRowId === null || add.baseRowId > landing.readHighWaterMark) {
      const baseRowId = highWaterMark + 1;
      highWaterMark += numRecordsOf(add, txn.source, index + 1);
      add = { ...add, baseRowId };
    }
    if (add.defaultRowCommitVersion === undefined || add.defaultRowCommitVersion === null || add.defaultRowCommitVersion > landing.readVersion) {
      add = { ...add, defaultRowCommitVersion: landing.version };
    }
    out.push(add === action.add ? action : { kind: 'add', add });
  });
  if (highWaterMark !== landing.headHighWaterMark || hadDomain) {
    const domain: Action = {
      kind: 'domainMetadata',
      domainMetadata: { domain: rowTrackingDomain, configuration: JSON.stringify({ rowIdHighWaterMark: highWaterMark }), removed: false },
    };
    const afterCommitInfo = out[0]?.kind === 'commitInfo' ? 1 : 0;
    out.splice(afterCommitInfo, 0, domain);
  }
  return out;
}

/**
 * Spark's getUpdatedMetadataWithICTEnablementInfo: enabling in-commit
 * timestamps on an existing table records the version and timestamp it
 * starts at (time travel uses file times before it); both are the landing
 * version's, whatever the writer guessed.
 */
function withEnablement(metadata: MetadataAction, landing: LandingState): MetadataAction {
  return {
    ...metadata,
    configuration: {
      ...metadata.configuration,
      'delta.inCommitTimestampEnablementVersion': String(landing.version),
      'delta.inCommitTimestampEnablementTimestamp': String(landing.timestampMs),
    },
  };
}
