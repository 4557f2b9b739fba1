/**
 * The materialized state (sql/000003_materialized_state.sql): file_index,
 * table_state, partition_summary and the catalog views, written only by the
 * refresher through these functions, derived from the log tables and
 * rebuildable from them.
 */
export { refreshTable, type RefreshOptions, type RefreshResult } from './refresh-table.ts';
export { refreshTables, type RefreshTablesOptions, type TableStep } from './refresh-tables.ts';
export { rebuildTable, type RebuildResult } from './rebuild-table.ts';
export { importMaterialized } from './import-state.ts';
export { verifyTable, type VerifyOptions, type VerifyResult } from './verify-table.ts';
export { liveFileLines, materializedRange, type MaterializedRange } from './live-files.ts';
export { applyRetention, type RetentionOptions, type TableRetention } from './retention.ts';
export { catalogViews, mvStaleness, refreshMaterializedViews, type ViewRefresh } from './views.ts';
export { NotMaterializedError } from './errors.ts';
export { refreshFilePages, type FilePagesOptions, type FilePagesResult } from './file-pages.ts';
export { groupPages, refreshArrowSegments, type ArrowSegmentsOptions, type ArrowSegmentsResult, type SegmentGroup, type SegmentPage } from './arrow-segments.ts';
// The page cutter is pure: exported for its unit tests (test/unit/page-cutter.test.ts).
export { cutPages, PageCutter, type CutPage } from './page-cutter.ts';
export { pagesAnswer, pagesAt, pagesRange, type PagesRange, type StoredPage } from './page-reads.ts';
export { GzipAssembler, compressPage, crc32Combine, gzipHeader, gzipMember, inflatePage, type PageBody } from './page-format.ts';
export type { TableRef } from './table-ref.ts';
// What a page's lines share (sql/000012): exported for its unit tests (test/unit/page-partitions.test.ts).
export { partitionValuesText, uniformPartitionValues } from './page-writer.ts';
