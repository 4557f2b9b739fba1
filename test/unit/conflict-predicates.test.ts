/** The CLI form of a read predicate (`deltameta commit --read-predicate`): what parses, and what is refused naming the flag. */
import { expect } from 'chai';
import { BadRequestError } from '../../shared/errors/index.ts';
import { parseReadPredicate } from '../../shared/log-store/index.ts';

describe('read predicates (--read-predicate)', () => {
  it('parses =, in-lists, is null and conjunctions, keeping values verbatim', () => {
    expect(parseReadPredicate('country=US')).to.deep.equal([{ column: 'country', op: '=', values: ['US'] }]);
    expect(parseReadPredicate('country in (US, FR)')).to.deep.equal([{ column: 'country', op: 'in', values: ['US', 'FR'] }]);
    expect(parseReadPredicate('country IS NULL')).to.deep.equal([{ column: 'country', op: 'is-null' }]);
    expect(parseReadPredicate('country=US and day in (2024-01-01,2024-01-02) and region is null')).to.deep.equal([
      { column: 'country', op: '=', values: ['US'] },
      { column: 'day', op: 'in', values: ['2024-01-01', '2024-01-02'] },
      { column: 'region', op: 'is-null' },
    ]);
    expect(parseReadPredicate('path=a=b')).to.deep.equal([{ column: 'path', op: '=', values: ['a=b'] }]);
  });

  it('refuses what it cannot read, naming the flag and the text', () => {
    for (const text of ['country', 'country ~ US', '=US', 'country in (US,,FR)', 'country in ()']) {
      const error = (() => {
        try {
          parseReadPredicate(text);
          return undefined;
        } catch (caught) {
          return caught;
        }
      })();
      expect(error, text).to.be.instanceOf(BadRequestError);
      expect((error as Error).message).to.include('--read-predicate').and.to.include(JSON.stringify(text));
    }
  });
});
