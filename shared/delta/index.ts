export * from './actions.ts';
export { parseActionLines, parseActionObject, type LineAction } from './parse.ts';
export { checkActionValues, checkedStatsRecords, defaultInputLimits, inputLimits, type InputLimits } from './input-limits.ts';
export { commitFileName, listLog, type CheckpointFiles, type LogListing } from './listing.ts';
export { compareCodePoints } from './order.ts';
export { applySegment, readCheckpoint, readJsonActions, replay, type ReplayOptions } from './replay.ts';
export { CheckpointUnreadableError, reportFallback, warnOnStderr, withoutCheckpoint, type LogWarning, type OnLogWarning } from './checkpoint-read.ts';
export { buildSegment, oldestReconstructableVersion, type LogSegment, type SegmentStep } from './segment.ts';
export { checkFirstVersion, checkMetadataAction, checkOneVersion, checkPartitionValues, TableState, type LocatedAction } from './table-state.ts';
export { fileTimeSeconds, parseTimestamp, versionAtTimestamp, versionTimestamps } from './version-timestamps.ts';
export { readParquetActions } from './parquet-read.ts';
export { writeParquetCheckpoint, type WriteParquetCheckpointOptions } from './parquet-write.ts';
export { generateTable, type GenerateOptions, type GenerateResult } from './generate.ts';
export { TableGenerator, type TableGeneratorOptions } from './table-generator.ts';
export {
  columnMappingMode, columnMappingModeKey, columnNames, physicalColumnName, physicalColumnPath, type ColumnMappingMode, type ColumnNames,
} from './column-mapping.ts';
export {
  checkMetadataFeatures, checkProtocolAction, checkReadable, checkWritable, metadataFeatureUses, readerFeatures, supportedFeatures,
  tableFeatureByName, tableFeatures, writerFeatures, type FeatureKind, type ProtocolCheckOptions, type TableFeatureSupport,
} from './table-features.ts';
export { checkCommitFeatures, type CommitFeaturesInput } from './commit-features.ts';
export { transactionRetentionKey, transactionRetentionMs, unexpiredTransactions } from './transaction-retention.ts';
export { DigestBuilder, recordsInStats, replayDigest, replayDigestInWorker, type SnapshotDigest } from './replay-digest.ts';
