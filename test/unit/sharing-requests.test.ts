/**
 * The parameters of the Delta Sharing table endpoints, checked at the door
 * (services/reader/sharing/table-requests.ts): what each accepts, and that
 * each wrong input is a 400 INVALID_PARAMETER_VALUE naming the field; and
 * the URL expiry buckets that make small answers cacheable (answers.ts).
 */
import { expect } from 'chai';
import {
  bucketedExpiry, deletionVectorPath, sharingErrorFor, parseChangesQuery, parseMetadataQuery, parseQueryBody, parseSharingTimestamp, parseVersionQuery,
} from '../../services/reader/index.ts';

function refusal(action: () => unknown): { status: number; errorCode: string; message: string } {
  try {
    action();
  } catch (error) {
    const { status, body } = sharingErrorFor(error);
    return { status, errorCode: body.errorCode, message: body.message };
  }
  throw new Error('expected a refusal, the input was accepted');
}

describe('delta sharing: table request parameters', () => {
  it('reads the protocol\'s timestamps as UTC, and RFC 3339 with a zone', () => {
    expect(parseSharingTimestamp('timestamp', '2026-01-31 12:00:00')).to.equal(Date.UTC(2026, 0, 31, 12));
    expect(parseSharingTimestamp('timestamp', '2026-1-2 03:04:05.250')).to.equal(Date.UTC(2026, 0, 2, 3, 4, 5, 250));
    expect(parseSharingTimestamp('timestamp', '2026-01-31T12:00:00+02:00')).to.equal(Date.UTC(2026, 0, 31, 10));
    for (const bad of ['yesterday', '2026-02-30 00:00:00', '2026-01-31', '']) {
      const refused = refusal(() => parseSharingTimestamp('startingTimestamp', bad));
      expect(refused.status, bad).to.equal(400);
      expect(refused.errorCode).to.equal('INVALID_PARAMETER_VALUE');
      expect(refused.message, bad).to.contain('startingTimestamp');
    }
  });

  it('a query body: snapshot, version, timestamp or startingVersion, with hints and paging', () => {
    expect(parseQueryBody({})).to.deep.equal({ mode: { kind: 'snapshot', at: undefined }, jsonPredicateHints: undefined, limitHint: undefined, maxFiles: undefined, pageToken: undefined });
    expect(parseQueryBody(undefined).mode).to.deep.equal({ kind: 'snapshot', at: undefined });
    expect(parseQueryBody({ version: 3, limitHint: 10, maxFiles: 5, pageToken: '', predicateHints: ['a > 1'] })).to.deep.include({
      mode: { kind: 'snapshot', at: { version: 3 } }, limitHint: 10, maxFiles: 5, pageToken: undefined,
    });
    expect(parseQueryBody({ timestamp: '2026-01-31 00:00:00' }).mode).to.deep.equal({ kind: 'snapshot', at: { timestampMs: Date.UTC(2026, 0, 31) } });
    expect(parseQueryBody({ startingVersion: 2, endingVersion: 4 }).mode).to.deep.equal({ kind: 'changes', startingVersion: 2, endingVersion: 4 });
    // Fields the protocol added later, or a client's own, are not refused.
    expect(parseQueryBody({ idempotency_key: 'k', someNewField: true }).mode.kind).to.equal('snapshot');
  });

  it('refuses a wrong query body with a 400 naming the field, before anything is read', () => {
    const cases: Array<[unknown, string]> = [
      [[1, 2], 'JSON object'],
      ['text', 'JSON object'],
      [{ version: -1 }, 'version'],
      [{ version: 1.5 }, 'version'],
      [{ version: '3' }, 'version'],
      [{ limitHint: 2 ** 31 }, 'limitHint'],
      [{ maxFiles: 0 }, 'maxFiles'],
      [{ version: 1, timestamp: '2026-01-01 00:00:00' }, 'at most one of version, timestamp and startingVersion'],
      [{ version: 1, startingVersion: 0 }, 'at most one'],
      [{ endingVersion: 3 }, 'endingVersion needs startingVersion'],
      [{ startingVersion: 5, endingVersion: 3 }, 'endingVersion 3 is before startingVersion 5'],
      [{ timestamp: 'noon' }, 'timestamp'],
      [{ jsonPredicateHints: 'x'.repeat(64 * 1024 + 1) }, 'jsonPredicateHints'],
      [{ predicateHints: 'a > 1' }, 'predicateHints'],
    ];
    for (const [body, named] of cases) {
      const refused = refusal(() => parseQueryBody(body));
      expect(refused.status, JSON.stringify(body).slice(0, 60)).to.equal(400);
      expect(refused.errorCode).to.equal('INVALID_PARAMETER_VALUE');
      expect(refused.message, JSON.stringify(body).slice(0, 60)).to.contain(named);
    }
  });

  it('the changes query string: a start is required, the end optional, each once', () => {
    expect(parseChangesQuery({ startingVersion: '1' })).to.deep.equal({ start: { version: 1 }, end: undefined, includeHistoricalMetadata: false, maxFiles: undefined, pageToken: undefined });
    expect(parseChangesQuery({ startingTimestamp: '2026-01-01 00:00:00', endingVersion: '9', includeHistoricalMetadata: 'TRUE', maxFiles: '10' })).to.deep.equal({
      start: { timestampMs: Date.UTC(2026, 0, 1) }, end: { version: 9 }, includeHistoricalMetadata: true, maxFiles: 10, pageToken: undefined,
    });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, 'startingVersion or startingTimestamp is required'],
      [{ startingVersion: '1', startingTimestamp: '2026-01-01 00:00:00' }, 'not both'],
      [{ startingVersion: '1', endingVersion: '2', endingTimestamp: '2026-01-01 00:00:00' }, 'not both'],
      [{ startingVersion: '-1' }, 'startingVersion'],
      [{ startingVersion: ['1', '2'] }, 'more than once'],
      [{ startingVersion: '4', endingVersion: '2' }, 'endingVersion 2 is before startingVersion 4'],
      [{ startingVersion: '0', maxFiles: '0' }, 'maxFiles'],
      [{ startingVersion: '0', includeHistoricalMetadata: 'yes' }, 'includeHistoricalMetadata'],
    ];
    for (const [query, named] of cases) {
      const refused = refusal(() => parseChangesQuery(query));
      expect(refused.status, JSON.stringify(query)).to.equal(400);
      expect(refused.message, JSON.stringify(query)).to.contain(named);
    }
  });

  it('metadata takes version or timestamp (not both); version takes startingTimestamp', () => {
    expect(parseMetadataQuery({})).to.equal(undefined);
    expect(parseMetadataQuery({ version: '2' })).to.deep.equal({ version: 2 });
    expect(parseMetadataQuery({ timestamp: '2026-01-01 00:00:00' })).to.deep.equal({ timestampMs: Date.UTC(2026, 0, 1) });
    expect(refusal(() => parseMetadataQuery({ version: '2', timestamp: '2026-01-01 00:00:00' })).message).to.contain('not both');
    expect(parseVersionQuery({ startingTimestamp: '2026-01-01T00:00:00Z' })).to.equal(Date.UTC(2026, 0, 1));
    expect(parseVersionQuery({})).to.equal(undefined);
  });

  it('URLs expire at the end of a bucket of a quarter of the TTL: the same within a bucket, never sooner than the TTL', () => {
    const ttl = 900_000;
    const now = Date.UTC(2026, 0, 1, 12, 0, 10);
    const expiry = bucketedExpiry(now, ttl);
    expect(expiry % (ttl / 4)).to.equal(0);
    expect(expiry - now).to.be.at.least(ttl).and.at.most(ttl * 1.25);
    expect(bucketedExpiry(now + 1000, ttl)).to.equal(expiry);
    expect(bucketedExpiry(expiry - ttl + 1, ttl)).to.be.above(expiry);
    // A TTL of a few seconds still gets whole-second buckets.
    expect(bucketedExpiry(1500, 2000)).to.equal(4000);
  });

  it('finds a deletion vector\'s file as the Delta protocol names it (its own example), for its signed URL', () => {
    expect(deletionVectorPath({ storageType: 'u', pathOrInlineDv: 'ab^-aqEH.-t@S}K{vb[*k^', offset: 4, sizeInBytes: 40, cardinality: 6 }))
      .to.equal('ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin');
    expect(deletionVectorPath({ storageType: 'u', pathOrInlineDv: '^-aqEH.-t@S}K{vb[*k^', sizeInBytes: 40, cardinality: 6 }))
      .to.equal('deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin');
    expect(deletionVectorPath({ storageType: 'p', pathOrInlineDv: 'file:/data/t/dv.bin', sizeInBytes: 40, cardinality: 6 })).to.equal('file:/data/t/dv.bin');
    expect(deletionVectorPath({ storageType: 'i', pathOrInlineDv: 'wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L', sizeInBytes: 40, cardinality: 6 })).to.equal(undefined);
    expect(() => deletionVectorPath({ storageType: 'u', pathOrInlineDv: 'short', sizeInBytes: 1, cardinality: 1 })).to.throw(/Z85 UUID/);
  });
});
