/**
 * The shortcuts an import's base checkpoint takes per add (issue 12): the
 * add line made from the add's own JSON text (addLineFromJson) equals
 * addLine byte for byte, on the text and on its COPY cell, or is refused;
 * numRecords of stats the input checks just accepted (checkedStatsRecords)
 * is what parsing them again gives, and only for that text.
 */
import { expect } from 'chai';
import { addLine, addLineFromJson, checkActionValues, checkedStatsRecords, type AddAction } from '../../shared/delta/index.ts';
import { jsonCopyCell } from '../../shared/log-store/index.ts';

const base: AddAction = {
  path: 'date=2026-01-20/part-0001.parquet', partitionValues: { date: '2026-01-20' }, size: 100, modificationTime: 1_700_000_000_000, dataChange: true,
  stats: JSON.stringify({ numRecords: 7, minValues: { s: 'a"b\\c' }, maxValues: { s: 'z' }, nullCount: { s: 0 } }),
};

/** Adds whose fields are in canonical order: the shortcut applies. */
const canonical: AddAction[] = [
  base,
  { ...base, dataChange: false },
  { ...base, tags: { 'x"dataChange":true': 'y' } },
  // A path and partition values that spell the field: only the field itself may change.
  { ...base, path: 'a/"dataChange":true/b.parquet', partitionValues: { dataChange: 'true' } },
  { ...base, stats: '{"numRecords":1,"x":"\\"dataChange\\":true"}' },
  { ...base, baseRowId: 5, defaultRowCommitVersion: 3, clusteringProvider: 'liquid' },
  { ...base, unknownField: { dataChange: true } },
];

/** Adds the shortcut must refuse (addLine reorders or drops something). */
const refused: AddAction[] = [
  { ...base, tags: null },
  Object.assign({ size: 1 }, base),
  { unknownField: 1, ...base },
  { ...base, deletionVector: { storageType: 'u', pathOrInlineDv: 'ab', offset: 1, sizeInBytes: 2, cardinality: 3 } },
];

describe('import: the add line from the add\'s own JSON', () => {
  for (const [index, add] of canonical.entries()) {
    it(`equals addLine for canonical add #${index}, as text and as a COPY cell`, () => {
      const json = JSON.stringify(add);
      expect(addLineFromJson(add, json)).to.equal(addLine(add));
      expect(addLineFromJson(add, jsonCopyCell(json))).to.equal(jsonCopyCell(addLine(add)));
    });
  }
  for (const [index, add] of refused.entries()) {
    it(`is refused for non-canonical add #${index}`, () => {
      expect(addLineFromJson(add, JSON.stringify(add))).to.equal(undefined);
    });
  }
});

describe('import: numRecords of stats just checked', () => {
  it('is the checked text\'s numRecords, null without one, and undefined for any other text', () => {
    checkActionValues({ kind: 'add', add: base }, 'f', 1);
    expect(checkedStatsRecords(base.stats as string)).to.equal(7);
    expect(checkedStatsRecords(`${base.stats as string} `)).to.equal(undefined);
    const noCount = JSON.stringify({ minValues: {} });
    checkActionValues({ kind: 'add', add: { ...base, stats: noCount } }, 'f', 2);
    expect(checkedStatsRecords(noCount)).to.equal(null);
    expect(checkedStatsRecords(base.stats as string)).to.equal(undefined);
  });

  it('is not recorded for stats the checks refuse', () => {
    const bad = '{"numRecords":-1}';
    expect(() => checkActionValues({ kind: 'add', add: { ...base, stats: bad } }, 'f', 3)).to.throw(/numRecords/);
    expect(checkedStatsRecords(bad)).to.equal(undefined);
  });
});
