import { expect } from 'chai';
import { loadConfig, withDatabase } from '../../shared/config/index.ts';
import { BadRequestError, ConfigError } from '../../shared/errors/index.ts';
import { compareLsn, lsnToBigInt, bigIntToLsn } from '../../shared/replication/index.ts';

describe('config', function () {
  it('defaults to the local stack ports of docs/design.md', function () {
    const config = loadConfig({ HOME: '/home/someone' });
    expect(config.postgresUrl).to.equal('postgres://deltameta:deltameta@127.0.0.1:55432/deltameta');
    expect(config.redisUrl).to.equal('redis://127.0.0.1:56379');
    expect(config.kafkaBrokers).to.deep.equal(['127.0.0.1:59092']);
    expect(config.stack.kafkaControllerPort).to.equal(59093);
    expect(config.cacheDir).to.equal('/home/someone/.cache/deltameta');
  });

  it('derives default URLs from overridden ports', function () {
    const config = loadConfig({ DELTAMETA_PG_PORT: '6543', DELTAMETA_KAFKA_PORT: '9092' });
    expect(config.postgresUrl).to.contain('127.0.0.1:6543/');
    expect(config.kafkaBrokers).to.deep.equal(['127.0.0.1:9092']);
  });

  it('names the variable that is wrong and why', function () {
    expect(() => loadConfig({ DELTAMETA_REDIS_PORT: 'seventy' }))
      .to.throw(ConfigError, /^DELTAMETA_REDIS_PORT: .*"seventy"/)
      .with.property('variable', 'DELTAMETA_REDIS_PORT');
    expect(() => loadConfig({ DELTAMETA_KAFKA_BROKERS: 'localhost' })).to.throw(ConfigError, /DELTAMETA_KAFKA_BROKERS: must be a comma-separated list of host:port/);
    expect(() => loadConfig({ DELTAMETA_PG_URL: 'mysql://x' })).to.throw(ConfigError, /DELTAMETA_PG_URL: must be a postgres:\/\/ URL/);
    expect(() => loadConfig({ DELTAMETA_LOG_LEVEL: 'loud' })).to.throw(ConfigError, /DELTAMETA_LOG_LEVEL/);
  });

  it('points a URL at another database without touching credentials', function () {
    expect(withDatabase('postgres://u:p@h:1/a?sslmode=disable', 'b')).to.equal('postgres://u:p@h:1/b?sslmode=disable');
  });
});

describe('LSN arithmetic', function () {
  it('orders WAL positions numerically, not as strings', function () {
    expect(compareLsn('0/9', '0/10')).to.equal(-1);
    expect(compareLsn('1/0', '0/FFFFFFFF')).to.equal(1);
    expect(compareLsn('16/B374D848', '16/b374d848')).to.equal(0);
    expect(bigIntToLsn(lsnToBigInt('16/B374D848') + 1n)).to.equal('16/B374D849');
    expect(() => lsnToBigInt('16-B3')).to.throw(BadRequestError, /not an LSN/);
  });
});
