/**
 * If-None-Match as RFC 9110 section 13.1.2 reads it: `*`, lists, weak
 * tags compared weakly, quoted tags that contain commas, and a malformed
 * field ignored (a 200, never a 304 the client cannot match).
 */
import { expect } from 'chai';
import { clientHasContent, parseIfNoneMatch } from '../../services/reader/index.ts';

describe('reader: If-None-Match', () => {
  const etag = 'abc123';

  it('parses lists, with empty elements and whitespace, dropping W/', () => {
    expect(parseIfNoneMatch('"a", W/"b",,  "c"')).to.deep.equal({ any: false, opaqueTags: ['a', 'b', 'c'] });
    expect(parseIfNoneMatch(' * ')).to.deep.equal({ any: true });
    expect(parseIfNoneMatch('"a,b"')).to.deep.equal({ any: false, opaqueTags: ['a,b'] });
    expect(parseIfNoneMatch('""')).to.deep.equal({ any: false, opaqueTags: [''] });
  });

  it('ignores a field that is absent, empty or malformed', () => {
    for (const header of [undefined, '', ' , ', 'abc123', '"abc123', '"abc123" x', '*, "abc123"', 'w/"abc123"', 'W/ "abc123"', '"a b"']) {
      expect(parseIfNoneMatch(header), String(header)).to.equal(undefined);
    }
  });

  it('matches the content in either representation, weakly, anywhere in the list', () => {
    for (const header of ['"abc123"', '"abc123-gzip"', 'W/"abc123"', 'W/"abc123-gzip"', '"other", "abc123"', '"x",W/"abc123-gzip"', '*']) {
      expect(clientHasContent(header, etag), header).to.equal(true);
    }
  });

  it('does not match other tags, prefixes, or a tag split by a comma inside quotes', () => {
    for (const header of [undefined, '"abc12"', '"abc1234"', '"abc123-br"', '"xabc123"', '"abc123, x"', 'abc123', '"abc123" garbage', '*, "x"']) {
      expect(clientHasContent(header, etag), String(header)).to.equal(false);
    }
  });
});
