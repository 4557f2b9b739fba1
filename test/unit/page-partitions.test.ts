/**
 * The partition values a file page's lines share (shared/materialized
 * page-writer.ts, sql/000012): read from the add lines as addLine writes
 * them, with braces, quotes and escapes inside values and paths, and null
 * for a page that mixes partitions, lacks them or is empty.
 */
import { expect } from 'chai';
import { addLine } from '../../shared/delta/index.ts';
import { partitionValuesText, uniformPartitionValues } from '../../shared/materialized/index.ts';

function line(path: string, partitionValues: Record<string, string | null>): string {
  return addLine({ path, partitionValues, size: 1, modificationTime: 1, dataChange: true });
}

describe('file pages: shared partition values', () => {
  it('reads the partitionValues object of an add line, whatever its values hold', () => {
    const cases: Record<string, string | null>[] = [{}, { date: '2026-01-01' }, { a: '}{', b: '"quoted" \\ back', c: null }, { 'we"ird}': 'x' }];
    for (const values of cases) {
      const text = partitionValuesText(line('p/"partitionValues":{}/x.parquet', values));
      expect(text, JSON.stringify(values)).to.equal(JSON.stringify(values));
      expect(JSON.parse(text ?? 'null')).to.deep.equal(values);
    }
    expect(partitionValuesText('{"remove":{"path":"x"}}')).to.equal(undefined);
  });

  it('gives the shared values of a page, and null when its lines differ or it is empty', () => {
    const a = { date: '2026-01-01', region: 'eu' };
    expect(uniformPartitionValues([line('a/1', a), line('a/2', a), line('a/3', a)])).to.equal(JSON.stringify(a));
    expect(uniformPartitionValues([line('a/1', a), line('b/1', { ...a, region: 'us' })])).to.equal(null);
    expect(uniformPartitionValues([line('a/1', a), line('b/1', { date: '2026-01-01' })])).to.equal(null);
    expect(uniformPartitionValues([line('a/1', { date: null }), line('a/2', { date: null })])).to.equal('{"date":null}');
    expect(uniformPartitionValues([])).to.equal(null);
  });
});
