export * from './actions.ts';
export { parseActionLines, parseActionObject, type LineAction } from './parse.ts';
export { commitFileName, listLog, type CheckpointFiles, type LogListing } from './listing.ts';
export { compareCodePoints } from './order.ts';
export {
  applySegment, buildSegment, checkFirstVersion, checkOneVersion, checkPartitionValues, oldestReconstructableVersion, parseTimestamp, readCheckpoint, readJsonActions,
  replay, TableState, versionAtTimestamp, versionTimestamps, type LocatedAction, type LogSegment, type ReplayOptions, type SegmentStep,
} from './replay.ts';
export { readParquetActions } from './parquet-read.ts';
export { writeParquetCheckpoint, type WriteParquetCheckpointOptions } from './parquet-write.ts';
export { generateTable, TableGenerator, type GenerateOptions, type GenerateResult } from './generate.ts';
