/**
 * The access rules without a server: scopes match whole name segments, no
 * grant is a refusal when access control is on, an empty prefix is refused
 * naming its token, and the reader refuses to listen beyond loopback
 * without tokens unless anonymous reads are asked for.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { ConfigError } from '../../shared/errors/index.ts';
import { AccessControl, hashToken } from '../../services/reader/index.ts';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('reader: access rules', () => {
  const sha256 = hashToken('t');

  it('covers whole name segments: a segment ends at . _ - or :', () => {
    const access = AccessControl.fromGrants([{ name: 'sales', sha256, tablePrefixes: ['sales'] }]);
    const grant = access.authenticate('Bearer t');
    for (const table of ['sales', 'sales.orders', 'sales_eu', 'sales-x', 'sales:y']) expect(access.covers(grant, table), table).to.equal(true);
    for (const table of ['salesforce_private', 'sale', 'xsales', 'Sales', 'salesX']) expect(access.covers(grant, table), table).to.equal(false);
  });

  it('lets a prefix that ends a segment cover what follows it, and * cover everything', () => {
    const access = AccessControl.fromGrants([{ name: 'a', sha256, tablePrefixes: ['gen_', '*'] }]);
    const grant = access.authenticate('Bearer t');
    expect(access.covers(grant, 'gen_sales')).to.equal(true);
    expect(access.covers(grant, 'anything.at_all')).to.equal(true);
    const scoped = AccessControl.fromGrants([{ name: 'a', sha256, tablePrefixes: ['gen_'] }]);
    expect(scoped.covers(scoped.authenticate('Bearer t'), 'general')).to.equal(false);
  });

  it('refuses when access control is on and the request has no grant', () => {
    const access = AccessControl.fromGrants([{ name: 'all', sha256, tablePrefixes: ['*'] }]);
    expect(access.covers(undefined, 'sales')).to.equal(false);
    expect(() => access.authorize(undefined, 'sales')).to.throw(/does not cover table "sales"/);
    expect(AccessControl.disabled().covers(undefined, 'sales')).to.equal(true);
  });

  it('refuses an empty prefix when the tokens are loaded, naming the token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reader-tokens-'));
    try {
      const file = join(dir, 'tokens.json');
      writeFileSync(file, JSON.stringify([{ name: 'ok', sha256, tablePrefixes: ['a'] }, { name: 'careless', sha256, tablePrefixes: ['sales', ''] }]));
      const error = configError(() => AccessControl.fromFile(file));
      expect(error.message).to.contain('DELTAMETA_READER_TOKENS_FILE').and.contain('"careless"').and.contain('empty table prefix').and.contain('"*"');
      expect(configError(() => AccessControl.fromGrants([{ name: 'g', sha256, tablePrefixes: ['sales*'] }])).message).to.contain('"g"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to listen beyond loopback without tokens unless anonymous reads are allowed', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost']) expect(loadReaderConfig({ DELTAMETA_READER_HOST: host }).host).to.equal(host);
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'reader.internal']) {
      const error = configError(() => loadReaderConfig({ DELTAMETA_READER_HOST: host }));
      expect(error.message, host).to.contain('DELTAMETA_READER_TOKENS_FILE').and.contain('DELTAMETA_READER_ALLOW_ANONYMOUS=true');
      expect(error.variable).to.equal('DELTAMETA_READER_HOST');
      expect(configError(() => loadReaderConfig({ DELTAMETA_READER_HOST: host, DELTAMETA_READER_TOKENS_FILE: '/x', DELTAMETA_READER_AUTH: 'off' })).variable).to.equal('DELTAMETA_READER_HOST');
    }
    expect(loadReaderConfig({ DELTAMETA_READER_HOST: '0.0.0.0', DELTAMETA_READER_ALLOW_ANONYMOUS: 'true' }).allowAnonymous).to.equal(true);
    expect(loadReaderConfig({ DELTAMETA_READER_HOST: '0.0.0.0', DELTAMETA_READER_TOKENS_FILE: '/x' }).authEnabled).to.equal(true);
    expect(configError(() => loadReaderConfig({ DELTAMETA_READER_ALLOW_ANONYMOUS: 'yes' })).variable).to.equal('DELTAMETA_READER_ALLOW_ANONYMOUS');
  });
});
