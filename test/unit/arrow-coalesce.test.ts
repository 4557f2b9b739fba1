/**
 * Arrow segments (shared/arrow/coalesce.ts, shared/materialized/arrow-segments.ts):
 * small record batches copied into one equal the same rows encoded as one
 * batch, for every column kind, with nulls at every bit position and batch
 * lengths that are and are not multiples of 8; and the segment boundaries
 * are content-defined: editing one page moves no other boundary.
 */
import { tableFromIPC } from '@uwdata/flechette';
import { expect } from 'chai';
import { addActionsLayout, coalesceBatches, encodeAddLines, endOfStream, schemaMessage, type AddActionsLayout } from '../../shared/arrow/index.ts';
import { groupPages, type SegmentPage } from '../../shared/materialized/index.ts';

const schemaString = JSON.stringify({ type: 'struct', fields: [
  ['l', 'long'], ['i', 'integer'], ['sh', 'short'], ['by', 'byte'], ['f', 'float'], ['d', 'double'], ['b', 'boolean'],
  ['bin', 'binary'], ['dt', 'date'], ['ts', 'timestamp'], ['s', 'string'], ['dec', 'decimal(10,2)'], ['p', 'string'],
].map(([name, type]) => ({ name, type, nullable: true, metadata: {} })) });
const layout = addActionsLayout({ id: 'x', format: { provider: 'parquet' }, schemaString, partitionColumns: ['p'], configuration: {} });

/** A deterministic pseudo-random add line; `row` decides which values are null. */
function line(row: number): string {
  const some = (value: unknown, every: number): unknown => (row % every === 0 ? null : value);
  const values = {
    l: some(row * 1_000_003, 3), i: some(row - 50, 4), sh: some(row % 300, 5), by: some(row % 100, 6), f: some(row / 4, 7), d: some(row * 1.5, 2),
    b: some(row % 2 === 0, 9), bin: some(`b${row}`, 10), dt: some(`2024-01-${String(1 + (row % 28)).padStart(2, '0')}`, 11),
    ts: some(`2024-03-05T02:54:${String(row % 60).padStart(2, '0')}.000Z`, 12), s: some(`é${'x'.repeat(row % 13)}`, 13), dec: some((row * 1.25).toFixed(2), 14),
  };
  const stats = {
    numRecords: row % 8 === 0 ? undefined : row,
    minValues: Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null)),
    maxValues: Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null)),
    nullCount: Object.fromEntries(Object.keys(values).map((name) => [name, row % 5])),
  };
  const add: Record<string, unknown> = {
    path: `p=${row % 3}/part-${String(row).padStart(5, '0')}.parquet`, partitionValues: { p: row % 4 === 0 ? null : String(row % 3) },
    size: 1000 + row, modificationTime: 1_700_000_000_000 + row, dataChange: false, stats: JSON.stringify(stats),
  };
  if (row % 6 === 1) add['deletionVector'] = { storageType: 'u', pathOrInlineDv: `dv${row}`, offset: row, sizeInBytes: 40, cardinality: row % 7 };
  return JSON.stringify({ add });
}

function decoded(target: AddActionsLayout, batches: readonly Buffer[]): Record<string, unknown[]> {
  const table = tableFromIPC(Buffer.concat([schemaMessage(target), ...batches, endOfStream]), { useBigInt: true });
  return Object.fromEntries(target.columns.map((column) => [column.name, Array.from(table.getChild(column.name).toArray() as ArrayLike<unknown>)]));
}

describe('arrow segments: coalescing batches and choosing boundaries', () => {
  it('copies small batches into one equal to the rows encoded at once, any batch lengths, raw or LZ4 in', () => {
    const lines = Array.from({ length: 300 }, (_, row) => line(row));
    const whole = decoded(layout, [encodeAddLines(layout, lines, 'lz4')]);
    expect(whole['path']).to.have.length(300);
    for (const compression of ['none', 'lz4'] as const) {
      const sizes = [1, 7, 8, 9, 13, 64, 65, 3, 17, 33, 24, 16, 40];
      const parts: Buffer[] = [Buffer.alloc(0)];
      let at = 0;
      for (let i = 0; at < lines.length; i++) {
        const size = sizes[i % sizes.length] as number;
        parts.push(encodeAddLines(layout, lines.slice(at, at + size), compression));
        at += size;
      }
      const coalesced = coalesceBatches(layout, parts);
      expect(decoded(layout, [coalesced]), compression).to.deep.equal(whole);
      // The same rows as two coalesced halves: a stream of segments.
      const half = Math.ceil(parts.length / 2);
      expect(decoded(layout, [coalesceBatches(layout, parts.slice(0, half)), coalesceBatches(layout, parts.slice(half))])).to.deep.equal(whole);
    }
    expect(coalesceBatches(layout, [Buffer.alloc(0)]).length, 'no rows: no batch').to.equal(0);
  });

  it('refuses a batch of another layout', () => {
    const other = addActionsLayout({ id: 'x', format: { provider: 'parquet' }, schemaString: JSON.stringify({ type: 'struct', fields: [] }), partitionColumns: [], configuration: {} });
    expect(() => coalesceBatches(layout, [encodeAddLines(other, [line(1)], 'none')])).to.throw(/columns where the layout has/);
  });

  it('groups pages into segments whose boundaries an edit elsewhere does not move', () => {
    const pages: SegmentPage[] = Array.from({ length: 20_000 }, (_, i) => ({ lowerPath: i === 0 ? '' : `date=2024-01-01/part-${String(i * 7919 % 1_000_003).padStart(7, '0')}-${i}.parquet`, lines: 60 + (i % 11), validFrom: 1 }))
      .sort((a, b) => (a.lowerPath < b.lowerPath ? -1 : 1));
    const target = 8192;
    const groups = groupPages(pages, target);
    expect(groups[0]?.lower).to.equal('');
    expect(groups.at(-1)?.upper).to.equal(null);
    groups.forEach((group, i) => {
      if (i > 0) expect(group.lower).to.equal(groups[i - 1]?.upper);
      expect(group.rows).to.be.at.most(target * 4);
    });
    expect(groups.reduce((sum, group) => sum + group.pages, 0)).to.equal(pages.length);
    const mean = pages.reduce((sum, page) => sum + page.lines, 0) / groups.length;
    expect(mean, 'segments of about the target').to.be.within(target / 2, target * 2);
    // One page in the middle rewritten (more lines, a newer version): only its segment changes.
    const edited = pages.map((page, i) => (i === 10_000 ? { ...page, lines: page.lines + 30, validFrom: 2 } : page));
    const after = groupPages(edited, target);
    const changed = after.filter((group) => !groups.some((old) => old.lower === group.lower && old.upper === group.upper && old.pages === group.pages && group.newest <= 1));
    expect(changed).to.have.length(1);
    expect(changed[0]?.newest).to.equal(2);
  });
});
