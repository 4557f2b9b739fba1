/** The local stack as `npm test` left it: all four services healthy (two of them Redis), and `up` again changes nothing. */
import { expect } from 'chai';
import { loadConfig } from '../../shared/config/index.ts';
import { formatStatus, stackStatus, stackUp } from '../../shared/stack/index.ts';

describe('local stack', function () {
  const config = loadConfig();

  it('reports PostgreSQL, the pipeline\'s and the cache\'s Redis and Kafka answering on their ports', async function () {
    const statuses = await stackStatus(config);
    expect(statuses.map((status) => status.service)).to.deep.equal(['postgres', 'redis', 'redis-cache', 'kafka']);
    for (const status of statuses) expect(['running', 'reused'], status.service).to.include(status.state);
    expect(statuses.map((status) => status.address)).to.deep.equal([
      `127.0.0.1:${config.stack.postgresPort}`, `127.0.0.1:${config.stack.redisPort}`, `127.0.0.1:${config.stack.cacheRedisPort}`, `127.0.0.1:${config.stack.kafkaPort}`,
    ]);
    const table = formatStatus(statuses);
    expect(table).to.match(/^service\s+state\s+address\s+log/);
    expect(table).to.contain('controller 127.0.0.1:');
    expect(table).to.match(new RegExp(`^redis-cache\\s.*127\\.0\\.0\\.1:${config.stack.cacheRedisPort}, maxmemory ${config.cacheRedisMaxMemory}, allkeys-lru`, 'm'));
  });

  it('runs the cache\'s Redis with a memory budget, allkeys-lru and nothing persisted; the pipeline\'s with noeviction and AOF', async function () {
    const { Redis } = await import('ioredis');
    const settingsOf = async (url: string, names: readonly string[]): Promise<Record<string, string>> => {
      const redis = new Redis(url, { connectionName: 'deltameta-test-stack', lazyConnect: true });
      try {
        await redis.connect();
        const settings: Record<string, string> = {};
        for (const name of names) {
          const [key, value] = (await redis.config('GET', name)) as [string, string];
          settings[key] = value;
        }
        return settings;
      } finally {
        redis.disconnect();
      }
    };
    // A test (cache-redis.test.ts) may lower the cache's maxmemory for a moment: only its being set is checked here.
    const cache = await settingsOf(config.cacheRedisUrl, ['maxmemory', 'maxmemory-policy', 'appendonly', 'save']);
    expect(Number(cache['maxmemory'])).to.be.above(0);
    expect(cache).to.include({ 'maxmemory-policy': 'allkeys-lru', appendonly: 'no', save: '' });
    const pipeline = await settingsOf(config.redisUrl, ['maxmemory-policy', 'appendonly']);
    expect(pipeline).to.deep.equal({ 'maxmemory-policy': 'noeviction', appendonly: 'yes' });
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
