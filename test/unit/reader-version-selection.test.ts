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
  it('takes strict RFC 3339 timestamps only: a zone required, no rolled-over dates, the reason in the 400', () => {
    const rfc = 'timestamp must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z';
    const cases: Array<[string, string]> = [
      ['2026-01-01', 'expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm)'],
      ['2026-01-01T00:00:00', 'a zone is required (Z or ±hh:mm)'],
      ['2026-01-01T00:00:00.5', 'a zone is required (Z or ±hh:mm)'],
      ['2026-02-30T00:00:00Z', 'day 30 is not in 2026-02'],
      ['2025-02-29T00:00:00Z', 'day 29 is not in 2025-02'],
      ['2026-04-31T00:00:00Z', 'day 31 is not in 2026-04'],
      ['2026-13-01T00:00:00Z', 'month 13 is not 01-12'],
      ['2026-00-01T00:00:00Z', 'month 00 is not 01-12'],
      ['2026-01-01T24:00:00Z', 'hour 24 is not 00-23'],
      ['2026-01-01T00:60:00Z', 'minute 60 is not 00-59'],
      ['2026-01-01T00:00:60Z', 'second 60 is not 00-59'],
      ['2026-01-01T00:00:00+24:00', 'zone offset +24:00 is out of range'],
      ['2026-01-01T00:00:00+0100', 'expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm)'],
      ['0099-01-01T00:00:00Z', 'year 0099 is before 0100'],
      ['Thu, 01 Jan 2026 00:00:00 GMT', 'expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm)'],
    ];
    for (const [raw, problem] of cases) expect(badRequest(() => versionSelectorOf({ timestamp: raw }, undefined)), raw).to.equal(`${rfc}: ${problem}, got ${JSON.stringify(raw)}`);
  });

  it('reads the latest head without parameters, and with consistency=latest', () => {
    expect(versionSelectorOf({}, undefined)).to.deep.equal({ kind: 'latest' });
    expect(versionSelectorOf({ consistency: 'latest' }, undefined)).to.deep.equal({ kind: 'latest' });
  });

  it('travels to an explicit version or a timestamp', () => {
    expect(versionSelectorOf({ version: '42' }, undefined)).to.deep.equal({ kind: 'version', version: 42 });
    expect(versionSelectorOf({ timestamp: '2026-01-01T00:05:00Z' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: 1_767_225_900_000 });
    expect(versionSelectorOf({ timestamp: '2026-01-01T00:00:00+00:00' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: 1_767_225_600_000 });
    expect(versionSelectorOf({ timestamp: '2026-01-01T01:05:00.250+01:00' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: 1_767_225_900_250 });
    expect(versionSelectorOf({ timestamp: '2025-12-31T19:05:00-05:00' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: 1_767_225_900_000 });
    expect(versionSelectorOf({ timestamp: '2024-02-29t00:00:00z' }, undefined)).to.deep.equal({ kind: 'timestamp', timestampMs: Date.UTC(2024, 1, 29) });
  });

  it('lets an explicit version (page token, commits `to`) stand for the query version, which is then not read', () => {
    expect(versionSelectorOf({ version: '3' }, undefined, 7)).to.deep.equal({ kind: 'version', version: 7 });
    expect(versionSelectorOf({ version: 'abc' }, undefined, 7)).to.deep.equal({ kind: 'version', version: 7 });
    expect(badRequest(() => versionSelectorOf({ timestamp: '2026-01-01T00:00:00Z' }, undefined, 7))).to.equal('give version or timestamp, not both');
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
    const rfc = 'timestamp must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z';
    expect(badRequest(() => versionSelectorOf({ timestamp: 'yesterday' }, undefined))).to.equal(`${rfc}: expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm), got "yesterday"`);
    expect(badRequest(() => versionSelectorOf({ timestamp: '2020-13-45' }, undefined))).to.equal(`${rfc}: expected YYYY-MM-DDThh:mm:ss[.fraction] and a zone (Z or ±hh:mm), got "2020-13-45"`);
    expect(badRequest(() => versionSelectorOf({ consistency: 'eventual' }, undefined))).to.equal('consistency must be strong or latest, got "eventual"');
    expect(badRequest(() => versionSelectorOf({ minVersion: '1.5' }, undefined))).to.equal(`minVersion must be an integer from 0 to ${max}, got "1.5"`);
    expect(badRequest(() => versionSelectorOf({}, '4, 5'))).to.equal(`Delta-Min-Version must be an integer from 0 to ${max}, got "4, 5"`);
  });
});
