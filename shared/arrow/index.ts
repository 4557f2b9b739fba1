export { addActionsLayout, projectLayout, type AddActionsLayout, type LayoutColumn, type ValueKind } from './add-actions-layout.ts';
export { arrowStreamContentType, encodeAddLines, endOfStream, schemaMessage } from './add-actions-encode.ts';
export { timestampMicros, typedValue, unscaledDecimal } from './add-values.ts';
export { layoutAt, versionLayoutAt, type VersionLayout } from './layout-at.ts';
export { coalesceBatchesInWorker, encodeAddLinesInWorker } from './encode-pool.ts';
export { arrowPageBatches, arrowPagesLayout, arrowSegmentBodies, arrowSegmentsAt, type ArrowSegmentsAt } from './arrow-pages.ts';
export { coalesceBatches } from './coalesce.ts';
