/**
 * Delta Sharing's configuration rules (shared/sharing): the names the
 * protocol carries, table selectors (name or `prefix*`), tokens (hashed,
 * compared in constant time), derived table ids, and profile files (mode
 * 0600, never overwritten). The reader side runs in test/integration/sharing-discovery.test.ts.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BadRequestError } from '../../shared/errors/index.ts';
import {
  checkSharingName, generateToken, hashToken, parseTableSelector, profileFor, tableIdFor, tokenMatches, writeProfileFile,
} from '../../shared/sharing/index.ts';

describe('sharing configuration', () => {
  it('accepts only lowercase names without dots, and says the rule when refusing', () => {
    for (const name of ['retail', 'sales_2024', '_x', 'a-b', 'x'.repeat(128)]) expect(checkSharingName('share', name)).to.equal(name);
    for (const name of ['Retail', 'a.b', '-a', '', 'x'.repeat(129), 'a b', 'é']) {
      expect(() => checkSharingName('schema', name), name).to.throw(BadRequestError, /schema name .* is not valid: lowercase letters/);
    }
  });

  it('reads a table or a prefix ending with *', () => {
    expect(parseTableSelector('sales_eu')).to.deep.equal({ kind: 'table', name: 'sales_eu' });
    expect(parseTableSelector('Sales.EU')).to.deep.equal({ kind: 'table', name: 'Sales.EU' });
    expect(parseTableSelector('sales_*')).to.deep.equal({ kind: 'prefix', prefix: 'sales_' });
    for (const bad of ['*', 'a*b', 'a**', '.x', 'a b', 'x'.repeat(201)]) expect(() => parseTableSelector(bad), bad).to.throw(BadRequestError);
  });

  it('makes 32-byte tokens, stores only their hash, and compares them', () => {
    const token = generateToken();
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.to.equal(token);
    const hash = hashToken(token);
    expect(hash).to.have.length(32);
    expect(tokenMatches(token, hash)).to.equal(true);
    expect(tokenMatches(`${token}x`, hash)).to.equal(false);
    expect(tokenMatches(token, Buffer.alloc(31))).to.equal(false);
  });

  it('derives stable UUIDs for the tables of a prefix, distinct per entry and table', () => {
    const entry = '6f1c7a52-0d8e-4a53-9a43-1b8f4f1f0c11';
    const id = tableIdFor(entry, 7);
    expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(tableIdFor(entry, '7')).to.equal(id);
    expect(tableIdFor(entry, 8)).not.to.equal(id);
    expect(tableIdFor('6f1c7a52-0d8e-4a53-9a43-1b8f4f1f0c12', 7)).not.to.equal(id);
  });

  it('writes a profile file once, mode 0600, in the protocol format', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'deltameta-profile-'));
    try {
      const file = path.join(dir, 'r.share');
      await writeProfileFile(file, profileFor('http://127.0.0.1:8080/delta-sharing', 'tok', new Date('2030-01-02T03:04:05Z')));
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal({
        shareCredentialsVersion: 1, endpoint: 'http://127.0.0.1:8080/delta-sharing', bearerToken: 'tok', expirationTime: '2030-01-02T03:04:05.000Z',
      });
      const error = await writeProfileFile(file, profileFor('http://x', 'other', null)).then(() => undefined, (caught: unknown) => caught);
      expect((error as NodeJS.ErrnoException).code).to.equal('EEXIST');
      expect(readFileSync(file, 'utf8')).to.contain('"tok"');
      expect(Object.keys(profileFor('http://x', 't', null))).to.deep.equal(['shareCredentialsVersion', 'endpoint', 'bearerToken']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
