/**
 * Which version a request is about, from its query and Delta-Min-Version
 * header, and the 400s (naming the parameter) for anything malformed.
 */
import { expect } from 'chai';
import { BadRequestError } from '../../shared/errors/index.ts';
import { versionSelectorOf } from '../../services/reader/index.ts';

function badRequest(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(BadRequestError);
    return (error as BadRequestError).message;
  }
  throw new Error('expected a BadRequestError');
}

describe('reader: version selection', () => {
  it('reads the latest head without parameters, and with consistency=latest', () => {
    expect(versionSelectorOf({}, undefined)).to.deep.equal({ kind: 'latest' });
    expect(versionSelectorOf({ consistency: 'latest' }, undefined)).to.deep.equal({ kind: 'latest' });
  });

  it('travels to an explicit version or a timestamp', () => {
    expect(versionSelectorOf({ version: '42' }, undefined)).to.deep.equal({ kind: 'version', version: 42 });
    expect(versionSelectorOf({ timestamp: '2026-01-01T00:05:00Z' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: 1_767_225_900_000 });
    expect(versionSelectorOf({ timestamp: '2026-01-01' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: 1_767_225_600_000 });
  });

  it('lets an explicit version (page token, commits `to`) stand for the query version, which is then not read', () => {
    expect(versionSelectorOf({ version: '3' }, undefined, 7)).to.deep.equal({ kind: 'version', version: 7 });
    expect(versionSelectorOf({ version: 'abc' }, undefined, 7)).to.deep.equal({ kind: 'version', version: 7 });
    expect(badRequest(() => versionSelectorOf({ timestamp: '2026-01-01' }, undefined, 7))).to.equal('give version or timestamp, not both');
  });

  it('ranks time travel over strong over minVersion', () => {
    expect(versionSelectorOf({ version: '5', consistency: 'strong', minVersion: '9' }, '9')).to.deep.equal({ kind: 'version', version: 5 });
    expect(versionSelectorOf({ consistency: 'strong', minVersion: '9' }, undefined)).to.deep.equal({ kind: 'strong' });
    expect(versionSelectorOf({ minVersion: '9' }, undefined)).to.deep.equal({ kind: 'at-least', minVersion: 9 });
  });

  it('reads Delta-Min-Version when the query has no minVersion, and the query first when both are given', () => {
    expect(versionSelectorOf({}, '12')).to.deep.equal({ kind: 'at-least', minVersion: 12 });
    expect(versionSelectorOf({ minVersion: '3' }, '12')).to.deep.equal({ kind: 'at-least', minVersion: 3 });
    expect(versionSelectorOf({ minVersion: '3' }, 'junk')).to.deep.equal({ kind: 'at-least', minVersion: 3 });
  });

  it('answers malformed parameters with a 400 that names them', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(badRequest(() => versionSelectorOf({ version: 'abc' }, undefined))).to.equal(`version must be an integer from 0 to ${max}, got "abc"`);
    expect(badRequest(() => versionSelectorOf({ version: '-1' }, undefined))).to.equal(`version must be an integer from 0 to ${max}, got "-1"`);
    expect(badRequest(() => versionSelectorOf({ version: '99999999999999999999' }, undefined))).to.equal(`version must be an integer from 0 to ${max}, got 99999999999999999999`);
    expect(badRequest(() => versionSelectorOf({ version: ['1', '2'] }, undefined))).to.equal('version may be given once');
    expect(badRequest(() => versionSelectorOf({ version: '1', timestamp: '2020-01-01T00:00:00Z' }, undefined))).to.equal('give version or timestamp, not both');
    expect(badRequest(() => versionSelectorOf({ timestamp: 'yesterday' }, undefined))).to.equal('timestamp must be an ISO 8601 timestamp, got "yesterday"');
    expect(badRequest(() => versionSelectorOf({ timestamp: '2020-13-45' }, undefined))).to.equal('timestamp must be an ISO 8601 timestamp, got "2020-13-45"');
    expect(badRequest(() => versionSelectorOf({ consistency: 'eventual' }, undefined))).to.equal('consistency must be strong or latest, got "eventual"');
    expect(badRequest(() => versionSelectorOf({ minVersion: '1.5' }, undefined))).to.equal(`minVersion must be an integer from 0 to ${max}, got "1.5"`);
    expect(badRequest(() => versionSelectorOf({}, '4, 5'))).to.equal(`Delta-Min-Version must be an integer from 0 to ${max}, got "4, 5"`);
  });
});
