/**
 * Signed file URL tokens without a server: what the signer puts in a URL
 * opens to the same claims with the same key, and only with it; expiry,
 * alteration and paths outside the table are refused; the key variable
 * must be 32 bytes or more.
 */
import { expect } from 'chai';
import { ConfigError } from '../../shared/errors/index.ts';
import { createHmac, randomBytes } from 'node:crypto';
import { FileTokenError, fileTokenOfUrl, HmacFileUrlSigner, HmacSha256, issueFileToken, openFileToken, relativeFilePath, sharingUrlKey } from '../../services/reader/index.ts';

const key = Buffer.from('k'.repeat(32));
const now = 1_800_000_000_000;

function problemOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(FileTokenError);
    return (error as FileTokenError).problem;
  }
  throw new Error('expected a FileTokenError');
}

describe('sharing: signed file URL tokens', () => {
  it('a signed URL opens to the table, the decoded relative path and the expiry', async () => {
    const signer = new HmacFileUrlSigner({ baseUrl: 'http://reader:8080/delta-sharing/', key });
    const url = await signer.sign({ tableId: 't1', tableLocation: '/data/t1', path: 'p=a%20b/part-0.parquet', size: 10 }, now + 1000);
    expect(url.startsWith('http://reader:8080/delta-sharing/files/')).to.equal(true);
    // the payload in the path, the MAC in the parameter delta-kernel-rs takes for a presigned URL's
    expect(url).to.match(/\/files\/[A-Za-z0-9_-]+\?X-Databricks-Signature=[A-Za-z0-9_-]{43}$/);
    const token = fileTokenOfUrl(url);
    expect(openFileToken(key, token, now)).to.deep.equal({ tableId: 't1', path: 'p=a b/part-0.parquet', expiresAtMs: now + 1000 });
  });

  it('HmacSha256 gives the bytes of createHmac for keys shorter than, equal to and longer than a block, and any message', () => {
    for (const keyBytes of [1, 32, 63, 64, 65, 200]) {
      const someKey = randomBytes(keyBytes);
      const keyed = new HmacSha256(someKey);
      for (const message of ['', 'a', 'x'.repeat(1000), '\u00fc\u0000\ud83d\ude00', randomBytes(50).toString('base64url')]) {
        expect(keyed.digest(message).equals(createHmac('sha256', someKey).update(message, 'utf8').digest()), `${keyBytes}-byte key, ${JSON.stringify(message).slice(0, 20)}`).to.equal(true);
      }
    }
  });

  it('an absolute file: URI inside the location is made relative; outside it, or another scheme, is refused', async () => {
    expect(relativeFilePath('/data/t1', 'file:///data/t1/x/y.parquet')).to.equal('x/y.parquet');
    expect(relativeFilePath('file:///data/t1', 'file:///data/t1/y.parquet')).to.equal('y.parquet');
    expect(problemOf(() => relativeFilePath('/data/t1', 'file:///data/t2/y.parquet'))).to.equal('path');
    expect(problemOf(() => relativeFilePath('/data/t1', 's3://bucket/y.parquet'))).to.equal('path');
    const signer = new HmacFileUrlSigner({ baseUrl: 'http://r', key });
    const refused = await signer.sign({ tableId: 't', tableLocation: 's3://bucket/t', path: 'a.parquet', size: 1 }, now).then(() => false, () => true);
    expect(refused).to.equal(true);
  });

  it('refuses .., absolute, empty and backslash paths, encoded or not', () => {
    for (const bad of ['../x', 'a/../../x', '%2E%2E/x', '/etc/passwd', '%2Fetc%2Fpasswd', '', 'a//b', 'a\\..\\b', './a', 'a%00b', '%zz']) {
      expect(problemOf(() => relativeFilePath('/data/t1', bad)), bad).to.equal('path');
    }
  });

  it('refuses an expired token, at and after its expiry', () => {
    const token = issueFileToken(key, { tableId: 't', path: 'a.parquet', expiresAtMs: now });
    expect(problemOf(() => openFileToken(key, token, now))).to.equal('expired');
    expect(problemOf(() => openFileToken(key, token, now + 1))).to.equal('expired');
    expect(openFileToken(key, token, now - 1).path).to.equal('a.parquet');
  });

  it('refuses an altered token, one signed with another key, and garbage', () => {
    const token = issueFileToken(key, { tableId: 't', path: 'a.parquet', expiresAtMs: now + 10 });
    const [payload = '', mac = ''] = token.split('.');
    const otherPayload = Buffer.from(JSON.stringify(['f1', 't', 'b.parquet', now + 10])).toString('base64url');
    expect(problemOf(() => openFileToken(key, `${otherPayload}.${mac}`, now))).to.equal('signature');
    expect(problemOf(() => openFileToken(key, `${payload}.${mac.slice(1)}`, now))).to.equal('signature');
    expect(problemOf(() => openFileToken(Buffer.from('z'.repeat(32)), token, now))).to.equal('signature');
    for (const garbage of ['', 'abc', 'a.b.c', `.${mac}`]) {
      expect(['malformed', 'signature']).to.include(problemOf(() => openFileToken(key, garbage, now)));
    }
  });

  it('refuses a well-signed token whose path escapes (the route never trusts the signer alone)', () => {
    const token = issueFileToken(key, { tableId: 't', path: '../secret', expiresAtMs: now + 10 });
    expect(problemOf(() => openFileToken(key, token, now))).to.equal('path');
  });

  it('DELTAMETA_READER_SHARING_URL_KEY: 32 bytes or more; unset, one random key per process', () => {
    expect(sharingUrlKey({ DELTAMETA_READER_SHARING_URL_KEY: 'x'.repeat(32) }).toString()).to.equal('x'.repeat(32));
    expect(() => sharingUrlKey({ DELTAMETA_READER_SHARING_URL_KEY: 'short' })).to.throw(ConfigError, /DELTAMETA_READER_SHARING_URL_KEY/);
    const first = sharingUrlKey({});
    expect(first.length).to.equal(32);
    expect(sharingUrlKey({}).equals(first)).to.equal(true);
  });
});
