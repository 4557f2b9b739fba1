export { addActionsLayout, projectLayout, type AddActionsLayout, type LayoutColumn, type ValueKind } from './add-actions-layout.ts';
export { arrowStreamContentType, encodeAddLines, endOfStream, schemaMessage } from './add-actions-encode.ts';
export { timestampMicros, typedValue, unscaledDecimal } from './add-values.ts';
export { layoutAt } from './layout-at.ts';
export { arrowPageBatches, arrowPagesLayout } from './arrow-pages.ts';
