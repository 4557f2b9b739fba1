export { commit, type CommitRequest, type CommitResult } from './commit.ts';
export { defaultIsolationLevel, isolationLevels, prepareTransaction, type IsolationLevel, type PreparedTransaction } from './transaction-request.ts';
// The conflict rules as a pure function (test/unit/conflict-checker.test.ts checks rules no commit can reach).
export { checkWinner, type ConflictContext } from './conflict-checker.ts';
export { type WinnerSummary } from './conflict-winners.ts';
export { parseReadPredicate, type PartitionTerm, type ReadPredicate } from './conflict-predicates.ts';
export { describeImport, importInTransaction, importTable, type ImportOptions, type ImportProgress, type ImportResult } from './import.ts';
export type { BaseChunk, BaseEnd, BaseInput, BaseReader, ImportedSegment, ImportMaterializer, ImportMaterializerFactory } from './import-materializer.ts';
// The rows of the log tables as COPY text: an import's base checkpoint is turned into them off the main thread (shared/materialized import-base.ts).
export { addCells, copyTexts, emptySummary, jsonCopyCell, RowBatch, type AddCells, type RowTexts, type VersionSummary } from './rows.ts';
export { exportTable, type ExportOptions, type ExportResult } from './export.ts';
export {
  checkpointFileName, checkpointIntervalAt, commitInfoOnly, commitRows, hasInCommitTimestamp, writeCheckpoint, writeCommitLines, type CommitRow, type LastCheckpoint,
} from './version-files.ts';
export { snapshotLines, type SnapshotLines, type SnapshotOptions } from './snapshot.ts';
export { findTable, requireTable, resolveVersion, type TableRow } from './tables.ts';
export { reconciledFiles, tableHeader, type FileRow, type TableHeader } from './state.ts';
export { dropTable, DropRefusedError, type DropOptions, type DropResult } from './drop.ts';
export { NotFollowedError, type FollowMode } from './table-kind.ts';
export { handoverToOwned, type HandoverResult } from './handover.ts';
export { tableKinds, type TableKind } from './tables.ts';
