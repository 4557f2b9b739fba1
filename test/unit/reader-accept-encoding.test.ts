/**
 * Accept-Encoding as RFC 9110 section 12.5.3 reads it, for the reader's
 * one choice: send a body kept as gzip as it is, or decompressed.
 */
import { expect } from 'chai';
import { acceptsGzip } from '../../services/reader/index.ts';

describe('reader: Accept-Encoding', () => {
  it('sends gzip to a client that accepts it, explicitly or by *', () => {
    for (const header of ['gzip', 'GZIP', 'gzip, deflate, br', 'br;q=1, gzip;q=0.5', 'x-gzip', '*', '*;q=0.3', 'gzip;Q=1', 'gzip ; q=0.001', 'deflate, gzip;q=1.000', 'gzip, identity', 'identity;q=0.5, gzip']) {
      expect(acceptsGzip(header), header).to.equal(true);
    }
  });

  it('sends identity without a header, with an empty one, or when gzip is not wanted', () => {
    for (const header of [undefined, '', 'identity', 'deflate, br', 'gzip;q=0', 'gzip;q=0.000', '*;q=0', 'gzip;q=0, *', '*, gzip;q=0', 'x-gzip;q=0']) {
      expect(acceptsGzip(header), String(header)).to.equal(false);
    }
  });

  it('honours a preference for identity over gzip', () => {
    expect(acceptsGzip('gzip;q=0.5, identity')).to.equal(false);
    expect(acceptsGzip('gzip;q=0.5, *')).to.equal(false);
    expect(acceptsGzip('gzip;q=0.5, identity;q=0.5')).to.equal(true);
  });

  it('skips members with a malformed weight instead of guessing one', () => {
    expect(acceptsGzip('gzip;q=2')).to.equal(false);
    expect(acceptsGzip('gzip;q=0.5.1')).to.equal(false);
    expect(acceptsGzip('gzip;q=abc, *')).to.equal(true);
    expect(acceptsGzip('gzip;q=, identity')).to.equal(false);
  });
});
