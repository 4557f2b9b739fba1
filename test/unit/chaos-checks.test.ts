/**
 * The chaos checker's own rules, on made-up histories: a check that could
 * not fail would make a green chaos run mean nothing.
 */
import { expect } from 'chai';
import { backwardViolations, digestLines, eventViolations, type Answer } from '../../shared/chaos/index.ts';

function answer(version: number, startedAt: number, endedAt: number, instance = 'reader#1'): Answer {
  return { instance, table: 't', what: 'summary', mode: 'latest', asked: undefined, version, digest: '', startedAt, endedAt };
}

describe('chaos checks', () => {
  it('events: duplicates are fine, a version first seen after a newer one is out of order, a missing one is named', () => {
    expect(eventViolations('t', [0, 1, 2, 1, 2, 3], 3)).to.deep.equal([]);
    expect(eventViolations('t', [0, 2, 1, 3], 3)).to.deep.equal(['t: event for v1 arrived after v2 (first time)']);
    expect(eventViolations('t', [0, 1, 3], 3)).to.deep.equal(['t: no event for 1 committed versions (2)']);
    expect(eventViolations('t', [], 1)[0]).to.contain('no event for 2 committed versions (0, 1)');
  });

  it('backward: an answer older than one the same instance finished before it started', () => {
    expect(backwardViolations(new Map(), [answer(5, 0, 10), answer(4, 11, 20)])).to.have.length(1);
    // Overlapping requests may finish in either order.
    expect(backwardViolations(new Map(), [answer(5, 0, 10), answer(4, 5, 20)])).to.deep.equal([]);
    // Another instance may lag this one.
    expect(backwardViolations(new Map(), [answer(5, 0, 10), answer(4, 11, 20, 'reader#2')])).to.deep.equal([]);
  });

  it('backward: remembered from one round to the next', () => {
    const seen = new Map<string, Answer[]>();
    expect(backwardViolations(seen, [answer(7, 0, 10)])).to.deep.equal([]);
    expect(backwardViolations(seen, [answer(6, 50, 60)])).to.have.length(1);
  });

  it('file lists compare whatever their order', () => {
    expect(digestLines(['b', 'a'])).to.equal(digestLines(['a', 'b']));
    expect(digestLines(['a'])).to.not.equal(digestLines(['a', 'b']));
  });
});
