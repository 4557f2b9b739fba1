/** The local stack as `npm test` left it: all three services healthy, and `up` again changes nothing. */
import { expect } from 'chai';
import { loadConfig } from '../../shared/config/index.ts';
import { formatStatus, stackStatus, stackUp } from '../../shared/stack/index.ts';

describe('local stack', function () {
  const config = loadConfig();

  it('reports PostgreSQL, Redis and Kafka answering on their ports', async function () {
    const statuses = await stackStatus(config);
    expect(statuses.map((status) => status.service)).to.deep.equal(['postgres', 'redis', 'kafka']);
    for (const status of statuses) expect(['running', 'reused'], status.service).to.include(status.state);
    expect(statuses.map((status) => status.address)).to.deep.equal([
      `127.0.0.1:${config.stack.postgresPort}`, `127.0.0.1:${config.stack.redisPort}`, `127.0.0.1:${config.stack.kafkaPort}`,
    ]);
    const table = formatStatus(statuses);
    expect(table).to.match(/^service\s+state\s+address\s+log/);
    expect(table).to.contain('controller 127.0.0.1:');
  });

  it('is idempotent: up on a running stack keeps the same processes', async function () {
    const before = await stackStatus(config);
    const after = await stackUp(config);
    expect(after.map((status) => [status.service, status.state, status.pid])).to.deep.equal(
      before.map((status) => [status.service, status.state, status.pid]),
    );
  });

  it('runs PostgreSQL with wal_level=logical and room for replication slots', async function () {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: config.postgresUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'server_version_num')`,
      );
      const settings = Object.fromEntries(rows.map((row) => [row.name, row.setting]));
      expect(settings['wal_level']).to.equal('logical');
      expect(Number(settings['max_replication_slots'])).to.be.at.least(16);
      expect(Number(settings['max_wal_senders'])).to.be.at.least(16);
      expect(Number(settings['server_version_num'])).to.be.at.least(150000);
    } finally {
      await client.end();
    }
  });
});
