/**
 * jsonPredicateHints as safe pruning: each op on partition values and on
 * min/max stats drops only files that certainly cannot match; not/and/or
 * combine soundly under SQL's NULL; unknown ops, types, malformed nodes,
 * missing stats and bad JSON keep the file. A brute-force check compares
 * the verdict with the rows themselves: a file is never dropped while one of
 * its rows matches.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { fileMayMatch, parseJsonPredicate, partitionEqualities, type PredicateNode, type PrunableFile } from '../../services/reader/index.ts';

const col = (name: string, valueType = 'int'): PredicateNode => ({ op: 'column', name, valueType });
const lit = (value: string, valueType = 'int'): PredicateNode => ({ op: 'literal', value, valueType });
const cmp = (op: string, left: PredicateNode, right: PredicateNode): PredicateNode => ({ op, children: [left, right] });
const not = (child: PredicateNode): PredicateNode => ({ op: 'not', children: [child] });
const isNull = (name: string, valueType = 'int'): PredicateNode => ({ op: 'isNull', children: [col(name, valueType)] });

/** A file whose column `x` spans [min, max] with `nulls` null rows out of `records`. */
function statsFile(min: number | string | null, max: number | string | null, nulls = 0, records = 10): PrunableFile {
  const minValues = min === null ? {} : { x: min };
  const maxValues = max === null ? {} : { x: max };
  return { partitionValues: {}, stats: JSON.stringify({ numRecords: records, minValues, maxValues, nullCount: { x: nulls } }) };
}
const partFile = (value: string | null): PrunableFile => ({ partitionValues: { p: value } });

describe('sharing: jsonPredicateHints pruning', () => {
  it('each comparison on stats drops only what cannot match', () => {
    const file = statsFile(10, 20);
    const cases: Array<[string, string, boolean]> = [
      ['equal', '5', false], ['equal', '10', true], ['equal', '15', true], ['equal', '20', true], ['equal', '21', false],
      ['lessThan', '10', false], ['lessThan', '11', true],
      ['lessThanOrEqual', '9', false], ['lessThanOrEqual', '10', true],
      ['greaterThan', '20', false], ['greaterThan', '19', true],
      ['greaterThanOrEqual', '21', false], ['greaterThanOrEqual', '20', true],
    ];
    for (const [op, value, keep] of cases) {
      expect(fileMayMatch(cmp(op, col('x'), lit(value)), file), `${op} ${value}`).to.equal(keep);
      // the literal on the left is the mirrored comparison
      const mirrored = { lessThan: 'greaterThan', greaterThan: 'lessThan', lessThanOrEqual: 'greaterThanOrEqual', greaterThanOrEqual: 'lessThanOrEqual', equal: 'equal' }[op] ?? op;
      expect(fileMayMatch(cmp(mirrored, lit(value), col('x')), file), `${value} ${mirrored} x`).to.equal(keep);
    }
  });

  it('partition values are exact; an empty or null partition value is NULL', () => {
    const date = (op: string, value: string) => cmp(op, col('p', 'date'), lit(value, 'date'));
    expect(fileMayMatch(date('equal', '2021-04-29'), partFile('2021-04-28'))).to.equal(false);
    expect(fileMayMatch(date('equal', '2021-04-28'), partFile('2021-04-28'))).to.equal(true);
    expect(fileMayMatch(date('greaterThan', '2021-04-27'), partFile('2021-04-28'))).to.equal(true);
    expect(fileMayMatch(date('lessThan', '2021-04-28'), partFile('2021-04-28'))).to.equal(false);
    expect(fileMayMatch(date('equal', '2021-04-28'), partFile(null))).to.equal(false);
    expect(fileMayMatch(date('equal', '2021-04-28'), partFile(''))).to.equal(false);
    expect(fileMayMatch(isNull('p', 'date'), partFile(null))).to.equal(true);
    expect(fileMayMatch(isNull('p', 'date'), partFile('2021-04-28'))).to.equal(false);
    expect(fileMayMatch(not(isNull('p', 'date')), partFile(null))).to.equal(false);
    expect(fileMayMatch(not(isNull('p', 'date')), partFile('2021-04-28'))).to.equal(true);
    // NULL = x is neither true nor false: not(equal) cannot be true either
    expect(fileMayMatch(not(date('equal', '2021-04-28')), partFile(null))).to.equal(false);
    expect(fileMayMatch(cmp('equal', col('p', 'string'), lit('a b', 'string')), partFile('a b'))).to.equal(true);
    expect(fileMayMatch(cmp('greaterThan', col('p', 'long'), lit('9', 'long')), partFile('10'))).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('p', 'bool'), lit('true', 'bool')), partFile('false'))).to.equal(false);
  });

  it('isNull and not on stats', () => {
    expect(fileMayMatch(isNull('x'), statsFile(1, 2, 0))).to.equal(false);
    expect(fileMayMatch(isNull('x'), statsFile(1, 2, 3))).to.equal(true);
    expect(fileMayMatch(not(isNull('x')), statsFile(null, null, 10, 10))).to.equal(false);
    expect(fileMayMatch(not(isNull('x')), statsFile(1, 2, 3))).to.equal(true);
    // all rows null: no comparison can be true
    expect(fileMayMatch(cmp('equal', col('x'), lit('1')), statsFile(null, null, 10, 10))).to.equal(false);
    // not(x < 15) on [10, 20]: rows >= 15 exist
    expect(fileMayMatch(not(cmp('lessThan', col('x'), lit('15'))), statsFile(10, 20))).to.equal(true);
    // not(x < 25) on [10, 20]: every row is < 25
    expect(fileMayMatch(not(cmp('lessThan', col('x'), lit('25'))), statsFile(10, 20))).to.equal(false);
    // not(x = 7) on a file where every row is 7
    expect(fileMayMatch(not(cmp('equal', col('x'), lit('7'))), statsFile(7, 7))).to.equal(false);
    expect(fileMayMatch(not(cmp('equal', col('x'), lit('7'))), statsFile(7, 8))).to.equal(true);
  });

  it('and / or', () => {
    const file = statsFile(10, 20);
    const low = cmp('lessThan', col('x'), lit('5'));
    const mid = cmp('equal', col('x'), lit('15'));
    expect(fileMayMatch({ op: 'and', children: [low, mid] }, file)).to.equal(false);
    expect(fileMayMatch({ op: 'or', children: [low, mid] }, file)).to.equal(true);
    expect(fileMayMatch({ op: 'or', children: [low, cmp('greaterThan', col('x'), lit('30'))] }, file)).to.equal(false);
    expect(fileMayMatch(not({ op: 'or', children: [low, mid] }), file)).to.equal(true);
    expect(fileMayMatch(not({ op: 'and', children: [cmp('greaterThan', col('x'), lit('0')), cmp('lessThan', col('x'), lit('100'))] }), file)).to.equal(false);
  });

  it('keeps the file for an unknown op, an unknown type, a malformed node, missing stats, bad JSON', () => {
    const file = statsFile(10, 20);
    expect(fileMayMatch({ op: 'like', children: [col('x'), lit('1')] }, file)).to.equal(true);
    expect(fileMayMatch(not({ op: 'like', children: [col('x'), lit('1')] }), file)).to.equal(true);
    expect(fileMayMatch({ op: 'and', children: [{ op: 'in' }, cmp('equal', col('x'), lit('1'))] }, file)).to.equal(false);
    expect(fileMayMatch({ op: 'or', children: [{ op: 'in' }, cmp('equal', col('x'), lit('1'))] }, file)).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x', 'decimal'), lit('1', 'decimal')), file)).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x', 'int'), lit('1', 'string')), file)).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x'), lit('not a number')), file)).to.equal(true);
    expect(fileMayMatch({ op: 'equal', children: [col('x')] }, file)).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x'), col('y')), file)).to.equal(true);
    expect(fileMayMatch({ op: 'not', children: [] }, file)).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('y'), lit('1')), file)).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x'), lit('1')), { partitionValues: {} })).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x'), lit('1')), { partitionValues: {}, stats: '{broken' })).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('x'), lit('1')), { partitionValues: {}, stats: '{"numRecords":3}' })).to.equal(true);
    expect(parseJsonPredicate('{not json')).to.equal(undefined);
    expect(parseJsonPredicate('[1]')).to.equal(undefined);
    expect(parseJsonPredicate(undefined)).to.equal(undefined);
    expect(fileMayMatch(parseJsonPredicate('{not json'), file)).to.equal(true);
    expect(fileMayMatch(parseJsonPredicate('{"op":"equal","children":[{"op":"column","name":"x","valueType":"int"},{"op":"literal","value":"99","valueType":"int"}]}'), file)).to.equal(false);
  });

  it('strings: code point order; a long max (maybe truncated) is no upper bound', () => {
    const s = (op: string, value: string) => cmp(op, col('x', 'string'), lit(value, 'string'));
    expect(fileMayMatch(s('equal', 'zzz'), statsFile('abc', 'abd'))).to.equal(false);
    expect(fileMayMatch(s('equal', 'abc'), statsFile('abc', 'abd'))).to.equal(true);
    const long = 'a'.repeat(32);
    expect(fileMayMatch(s('equal', `${long}zzz`), statsFile('a', long))).to.equal(true);
    // U+FFFF sorts below U+1F600 by code point (not by UTF-16 unit)
    expect(fileMayMatch(s('greaterThan', '\u{1F600}'), statsFile('a', '\uFFFF'))).to.equal(false);
  });

  it('dates, longs beyond 2^53, doubles, timestamps (stats in ms, max widened)', () => {
    expect(fileMayMatch(cmp('equal', col('x', 'date'), lit('2021-05-01', 'date')), statsFile('2021-04-01', '2021-04-30'))).to.equal(false);
    expect(fileMayMatch(cmp('greaterThan', col('p', 'long'), lit('9007199254740993', 'long')), partFile('9007199254740992'))).to.equal(false);
    expect(fileMayMatch(cmp('greaterThan', col('p', 'long'), lit('9007199254740992', 'long')), partFile('9007199254740993'))).to.equal(true);
    expect(fileMayMatch(cmp('lessThan', col('x', 'double'), lit('0.5', 'double')), statsFile(0.5, 2.5))).to.equal(false);
    const ts = (op: string, value: string) => cmp(op, col('x', 'timestamp'), lit(value, 'timestamp'));
    const file = statsFile('2021-04-28T23:33:57.955Z', '2021-04-28T23:33:58.000Z');
    expect(fileMayMatch(ts('greaterThan', '2021-04-28T23:33:58Z'), file)).to.equal(true); // data may be 58.000400
    expect(fileMayMatch(ts('greaterThan', '2021-04-28T23:33:58.001Z'), file)).to.equal(false);
    expect(fileMayMatch(ts('lessThan', '2021-04-28T23:33:57.955Z'), file)).to.equal(false);
    expect(fileMayMatch(ts('lessThan', '2021-04-28T23:33:57.9551Z'), file)).to.equal(true); // sub-ms literal: not judged
    expect(fileMayMatch(ts('equal', '2021-04-28T00:00:00Z'), partFile('2021-04-28 00:00:00'))).to.equal(true);
    expect(fileMayMatch(cmp('equal', col('p', 'timestamp'), lit('2021-04-29T00:00:00Z', 'timestamp')), partFile('2021-04-28 00:00:00'))).to.equal(false);
  });

  it('never drops a file holding a matching row (brute force over random rows and predicates)', () => {
    const leaf = fc.record({
      op: fc.constantFrom('equal', 'lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'),
      value: fc.integer({ min: -3, max: 12 }),
      flip: fc.boolean(),
    }).map(({ op, value, flip }): PredicateNode => (flip ? cmp(op, lit(String(value)), col('x')) : cmp(op, col('x'), lit(String(value)))));
    const tree = fc.letrec<{ node: PredicateNode }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.constant(isNull('x')),
        tie('node').map(not),
        fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((children): PredicateNode => ({ op: 'and', children })),
        fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((children): PredicateNode => ({ op: 'or', children })),
      ),
    })).node;
    const rows = fc.array(fc.option(fc.integer({ min: 0, max: 9 }), { nil: null }), { minLength: 1, maxLength: 6 });
    /** SQL three-valued evaluation on one row: true, false or null. */
    const evaluate = (node: PredicateNode, x: number | null): boolean | null => {
      const [a, b] = node.children ?? [];
      switch (node.op) {
        case 'not': { const v = evaluate(a as PredicateNode, x); return v === null ? null : !v; }
        case 'and': { const vs = (node.children ?? []).map((c) => evaluate(c, x)); return vs.includes(false) ? false : vs.includes(null) ? null : true; }
        case 'or': { const vs = (node.children ?? []).map((c) => evaluate(c, x)); return vs.includes(true) ? true : vs.includes(null) ? null : false; }
        case 'isNull': return x === null;
        default: {
          const value = (n: PredicateNode | undefined) => (n?.op === 'column' ? x : Number(n?.value));
          const [l, r] = [value(a), value(b)];
          if (l === null || r === null) return null;
          return { equal: l === r, lessThan: l < r, lessThanOrEqual: l <= r, greaterThan: l > r, greaterThanOrEqual: l >= r }[node.op] ?? null;
        }
      }
    };
    fc.assert(fc.property(tree, rows, (predicate, values) => {
      const present = values.filter((v): v is number => v !== null);
      const file = present.length === 0
        ? statsFile(null, null, values.length, values.length)
        : statsFile(Math.min(...present), Math.max(...present), values.length - present.length, values.length);
      const anyMatch = values.some((v) => evaluate(predicate, v) === true);
      return !anyMatch || fileMayMatch(predicate, file);
    }), { numRuns: 3000 });
  });

  it('pushes into SQL only partition equalities whose literal is the stored text: top level or under top-level ands', () => {
    const date = (value: string): PredicateNode => cmp('equal', col('d', 'date'), lit(value, 'date'));
    expect(partitionEqualities(date('2026-01-05'), ['d'])).to.deep.equal([{ column: 'd', value: '2026-01-05' }]);
    expect(partitionEqualities(cmp('equal', lit('eu', 'string'), col('region', 'string')), ['region'])).to.deep.equal([{ column: 'region', value: 'eu' }]);
    const both: PredicateNode = { op: 'and', children: [date('2026-01-05'), { op: 'and', children: [cmp('equal', col('n'), lit('7')), cmp('lessThan', col('x'), lit('3'))] }] };
    expect(partitionEqualities(both, ['d', 'n'])).to.deep.equal([{ column: 'd', value: '2026-01-05' }, { column: 'n', value: '7' }]);
    // Not pushed: under or/not, a data column, another spelling of the value, a type the text does not fix, a mismatch of types.
    expect(partitionEqualities({ op: 'or', children: [date('2026-01-05'), date('2026-01-06')] }, ['d'])).to.deep.equal([]);
    expect(partitionEqualities(not(date('2026-01-05')), ['d'])).to.deep.equal([]);
    expect(partitionEqualities(date('2026-01-05'), ['other'])).to.deep.equal([]);
    expect(partitionEqualities(cmp('equal', col('n'), lit('07')), ['n'])).to.deep.equal([]);
    expect(partitionEqualities(cmp('equal', col('t', 'timestamp'), lit('2026-01-05T00:00:00Z', 'timestamp')), ['t'])).to.deep.equal([]);
    expect(partitionEqualities(cmp('equal', col('d', 'string'), lit('2026-01-05', 'date')), ['d'])).to.deep.equal([]);
    expect(partitionEqualities(undefined, ['d'])).to.deep.equal([]);
  });
});
