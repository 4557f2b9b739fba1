/**
 * The transaction a writer describes (what Spark's OptimisticTransaction
 * knows when it commits): what it read, at which version, under which
 * isolation level, and whether it is a blind append. `prepareTransaction`
 * checks the description against the actions once, before any attempt.
 */
import {
  checkActionValues, checkMetadataAction, checkOneVersion, fileKey, type Action, type CommitInfo, type LocatedAction, type MetadataAction,
} from '../delta/index.ts';
import { BadRequestError, LogFormatError } from '../errors/index.ts';
import { type ReadPredicate } from './conflict-predicates.ts';

export type IsolationLevel = 'Serializable' | 'WriteSerializable';
export const isolationLevels: readonly IsolationLevel[] = ['Serializable', 'WriteSerializable'];
/** Spark's default when the table sets no `delta.isolationLevel`. */
export const defaultIsolationLevel: IsolationLevel = 'WriteSerializable';

export interface CommitRequest {
  readonly table: string;
  readonly actions: readonly Action[];
  /**
   * The version the writer read before deciding what to commit (-1: the
   * table did not exist). Required for anything but a blind append: a
   * commit without it that removes files or changes metadata or protocol is
   * refused (it could not have been checked against what it read). Only
   * creating a table may omit it besides.
   */
  readonly readVersion?: number;
  /** Default: the table's `delta.isolationLevel` at the read version, else WriteSerializable (Spark's default). */
  readonly isolationLevel?: IsolationLevel;
  /**
   * The partitions the writer read (a disjunction of conjunctions on
   * partition columns, logical names), or the whole table.
   */
  readonly readPredicates?: readonly ReadPredicate[] | 'whole-table';
  /** Paths of the files the writer read (besides predicates): a concurrent remove of one is a conflict. */
  readonly readFiles?: readonly string[];
  /**
   * The commit only adds files and read nothing. Default: commitInfo's
   * isBlindAppend when it has one, else Spark's rule (only adds, no reads);
   * a commit without readVersion must be one.
   */
  readonly isBlindAppend?: boolean;
  /** Attempts before giving up on a hot table (each lost race against a compatible winner is one). Default 100. */
  readonly maxAttempts?: number;
  /** Where the actions came from, for error messages. */
  readonly source?: string;
}

export interface PreparedTransaction {
  readonly table: string;
  readonly source: string;
  readonly actions: readonly Action[];
  readonly commitInfo: CommitInfo | undefined;
  readonly metadata: MetadataAction | undefined;
  readonly changesProtocol: boolean;
  /** paths this commit removes (Spark compares delete-delete by path: the same file with another DV counts) */
  readonly removedPaths: ReadonlySet<string>;
  readonly addedKeys: ReadonlySet<string>;
  readonly readFiles: ReadonlySet<string>;
  readonly readPredicates: readonly ReadPredicate[];
  readonly readWholeTable: boolean;
  readonly appIds: ReadonlyMap<string, number>;
  readonly domains: ReadonlySet<string>;
  readonly isBlindAppend: boolean;
  /** every file action has dataChange false (Spark then checks under SnapshotIsolation: no concurrent-append check) */
  readonly changesNoData: boolean;
  readonly readVersion: number | undefined;
  readonly isolationLevel: IsolationLevel | undefined;
}

export const rowTrackingDomain = 'delta.rowTracking';

export function prepareTransaction(request: CommitRequest): PreparedTransaction {
  const source = request.source ?? 'commit';
  if (request.actions.length === 0) throw new BadRequestError('a commit needs at least one action');
  // Callers may hand over actions they built rather than parsed: the same value checks as a parsed line.
  request.actions.forEach((action, index) => checkActionValues(action, source, index + 1));
  checkOneVersion(request.actions.map((action, index): LocatedAction => ({ action, file: source, line: index + 1 })), source);
  let commitInfo: CommitInfo | undefined;
  let metadata: MetadataAction | undefined;
  let changesProtocol = false;
  const removedPaths = new Set<string>();
  const removedKeys = new Set<string>();
  const addedKeys = new Set<string>();
  const appIds = new Map<string, number>();
  const domains = new Set<string>();
  let onlyAddsAmongFileActions = true;
  let changesNoData = true;
  request.actions.forEach((action, index) => {
    switch (action.kind) {
      case 'commitInfo':
        if (commitInfo) throw new LogFormatError(source, index + 1, 'a second commitInfo in one commit');
        commitInfo = action.commitInfo;
        break;
      case 'metaData':
        checkMetadataAction(action.metaData, source, index + 1);
        metadata = action.metaData;
        break;
      case 'protocol':
        changesProtocol = true;
        break;
      case 'remove':
        removedKeys.add(fileKey(action.remove));
        removedPaths.add(action.remove.path);
        onlyAddsAmongFileActions = false;
        if (action.remove.dataChange) changesNoData = false;
        break;
      case 'add':
        addedKeys.add(fileKey(action.add));
        if (action.add.dataChange) changesNoData = false;
        break;
      case 'cdc':
        onlyAddsAmongFileActions = false;
        if (action.cdc.dataChange) changesNoData = false;
        break;
      case 'txn':
        if (appIds.has(action.txn.appId)) throw new LogFormatError(source, index + 1, `a second txn for appId ${action.txn.appId}`);
        appIds.set(action.txn.appId, action.txn.version);
        break;
      case 'domainMetadata':
        domains.add(action.domainMetadata.domain);
        break;
      case 'checkpointMetadata':
      case 'sidecar':
        throw new LogFormatError(source, index + 1, `${action.kind} belongs in checkpoints, not in commits`);
      default:
        break;
    }
  });
  for (const key of addedKeys) {
    if (removedKeys.has(key)) throw new BadRequestError(`${source}: the commit both adds and removes ${JSON.stringify(key.split('\u0000')[0])}`);
  }
  const readFiles = new Set(request.readFiles ?? []);
  const readWholeTable = request.readPredicates === 'whole-table';
  const readPredicates = request.readPredicates === 'whole-table' ? [] : request.readPredicates ?? [];
  const readsSomething = readWholeTable || readPredicates.length > 0 || readFiles.size > 0;
  // Spark's OptimisticTransaction: a blind append only adds files and read none.
  const qualifiesAsBlindAppend = onlyAddsAmongFileActions && !readsSomething && metadata === undefined && !changesProtocol;
  const declared = request.isBlindAppend ?? (typeof commitInfo?.isBlindAppend === 'boolean' ? commitInfo.isBlindAppend : undefined);
  if (request.isBlindAppend !== undefined && typeof commitInfo?.isBlindAppend === 'boolean' && commitInfo.isBlindAppend !== request.isBlindAppend) {
    throw new BadRequestError(`${source}: isBlindAppend ${request.isBlindAppend} contradicts commitInfo.isBlindAppend ${commitInfo.isBlindAppend}`);
  }
  if (declared === true && !qualifiesAsBlindAppend) {
    throw new BadRequestError(`${source}: a blind append only adds files and reads nothing; this one ${blindAppendViolation(onlyAddsAmongFileActions, readsSomething, metadata !== undefined, changesProtocol)}`);
  }
  const isBlindAppend = declared ?? qualifiesAsBlindAppend;
  if (request.readVersion === undefined && !isBlindAppend && !(metadata && changesProtocol)) {
    throw new BadRequestError(
      `${source}: a commit that is not a blind append needs the version it read (readVersion, --read-version): this one `
      + `${blindAppendViolation(onlyAddsAmongFileActions, readsSomething, metadata !== undefined, changesProtocol) || 'is declared not a blind append'}`,
    );
  }
  if (request.isolationLevel !== undefined && !isolationLevels.includes(request.isolationLevel)) {
    throw new BadRequestError(`${source}: isolation level ${JSON.stringify(request.isolationLevel)}: expected ${isolationLevels.join(' or ')}`);
  }
  return {
    table: request.table, source, actions: request.actions, commitInfo, metadata, changesProtocol, removedPaths, addedKeys,
    readFiles, readPredicates, readWholeTable, appIds, domains, isBlindAppend, changesNoData,
    readVersion: request.readVersion, isolationLevel: request.isolationLevel,
  };
}

function blindAppendViolation(onlyAdds: boolean, readsSomething: boolean, changesMetadata: boolean, changesProtocol: boolean): string {
  const reasons: string[] = [];
  if (!onlyAdds) reasons.push('removes files or writes cdc files');
  if (readsSomething) reasons.push('declares reads');
  if (changesMetadata) reasons.push('changes metadata');
  if (changesProtocol) reasons.push('changes the protocol');
  return reasons.join(', ');
}
