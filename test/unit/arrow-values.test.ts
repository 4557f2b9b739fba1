/**
 * Arrow file lists (shared/arrow): log values typed for their columns, and
 * the columns of a schema in delta-rs's get_add_actions(flatten=True) shape.
 */
import { expect } from 'chai';
import { addActionsLayout, projectLayout, timestampMicros, typedValue, unscaledDecimal } from '../../shared/arrow/index.ts';

describe('arrow: log values and layouts', () => {
  it('reads timestamps in every spelling the log has, to the microsecond', () => {
    expect(timestampMicros('2024-03-05T02:54:32.000Z')).to.equal(Date.UTC(2024, 2, 5, 2, 54, 32) * 1000);
    expect(timestampMicros('2024-01-01 00:00:00')).to.equal(Date.UTC(2024, 0, 1) * 1000);
    expect(timestampMicros('2024-01-01 00:00:00.123456')).to.equal(Date.UTC(2024, 0, 1) * 1000 + 123_456);
    expect(timestampMicros('2024-01-01T01:00:00+01:00')).to.equal(Date.UTC(2024, 0, 1) * 1000);
    expect(timestampMicros('yesterday')).to.equal(null);
  });

  it('reads decimals exactly, rounding half up at the scale', () => {
    expect(unscaledDecimal('1.25', 2)).to.equal(125n);
    expect(unscaledDecimal('-3.5', 2)).to.equal(-350n);
    expect(unscaledDecimal('1e-7', 9)).to.equal(100n);
    expect(unscaledDecimal('12345678901234567890.5', 0)).to.equal(12345678901234567891n);
    expect(unscaledDecimal('abc', 2)).to.equal(null);
  });

  it('types partition strings and stats values by the column, null where they do not read', () => {
    expect(typedValue('long', '9007199254740993')).to.equal(9007199254740993n);
    expect(typedValue('long', '42')).to.equal(42);
    expect(typedValue('integer', 'x')).to.equal(null);
    expect(typedValue('date', '2024-01-02')).to.equal(19724);
    expect(typedValue('boolean', 'true')).to.equal(true);
    expect(typedValue('double', 'NaN')).to.be.NaN;
    expect(typedValue('string', 3)).to.equal(null);
  });

  it('lays out stats leaves like delta-rs: nested flattened, partitions last, bounds only where ordered', () => {
    const schemaString = JSON.stringify({ type: 'struct', fields: [
      { name: 'id', type: 'long', nullable: true, metadata: {} },
      { name: 'p', type: 'date', nullable: true, metadata: {} },
      { name: 's', type: { type: 'struct', fields: [{ name: 'a', type: 'string', nullable: true, metadata: {} }] }, nullable: true, metadata: {} },
      { name: 'b', type: 'binary', nullable: true, metadata: {} },
      { name: 'l', type: { type: 'array', elementType: 'long', containsNull: true }, nullable: true, metadata: {} },
    ] });
    const layout = addActionsLayout({ id: 'x', format: { provider: 'parquet' }, schemaString, partitionColumns: ['p'], configuration: {} });
    expect(layout.columns.map((column) => column.name)).to.deep.equal([
      'path', 'size_bytes', 'modification_time', 'data_change', 'num_records',
      'null_count.id', 'null_count.s.a', 'null_count.b', 'null_count.l', 'min.id', 'min.s.a', 'max.id', 'max.s.a', 'partition.p',
      'deletionVector.storageType', 'deletionVector.pathOrInlineDv', 'deletionVector.offset', 'deletionVector.sizeInBytes', 'deletionVector.cardinality',
    ]);
    const limited = addActionsLayout({ id: 'x', format: { provider: 'parquet' }, schemaString, partitionColumns: ['p'], configuration: { 'delta.dataSkippingNumIndexedCols': '1' } });
    expect(limited.columns.filter((column) => column.name.startsWith('min.')).map((column) => column.name)).to.deep.equal(['min.id']);
    expect(limited.fingerprint).to.not.equal(layout.fingerprint);
    expect(projectLayout(layout, ['num_records', 'path'])).to.have.property('columns').with.length(2);
    expect(projectLayout(layout, ['path', 'nope'])).to.deep.equal({ unknown: 'nope' });
  });
});
