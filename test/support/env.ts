/**
 * Per-file isolation on the real stack. `describeWithEnv` gives each file
 * (or top-level suite) its own database cloned from the migrated template,
 * its own Kafka topic names, BullMQ queue names and Redis key prefix. After
 * the suite's own `after` hooks it checks for leaks — a PostgreSQL backend
 * still connected, a Redis client still named after the suite (in the
 * pipeline's Redis or the cache's), a Kafka
 * client still connected — cleans everything up and fails the suite if
 * anything leaked.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { Kafka, logLevel, type Admin, type Consumer, type ConsumerConfig, type Producer, type ProducerConfig } from 'kafkajs';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig, localLoginUrl, withDatabase, type Config } from '../../shared/config/index.ts';
import { createPool, type Pool } from '../../shared/db/index.ts';
import { createKafka, unlinkMatching } from '../../shared/clients/index.ts';
import { withAdmin } from './template.ts';

export interface TestRedisOptions {
  host: string;
  port: number;
  connectionName: string;
  maxRetriesPerRequest: null;
}

export class TestEnv {
  readonly id: string;
  readonly databaseName: string;
  readonly config: Config;
  /** Redis keys, BullMQ prefixes and client names of this suite start with it. */
  readonly keyPrefix: string;
  private readonly openKafkaClients = new Map<string, string>();

  constructor(title: string) {
    const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 24);
    const nonce = randomBytes(3).toString('hex');
    this.id = `${process.pid}_${slug}_${nonce}`;
    this.databaseName = `t_${this.id}`;
    this.keyPrefix = `t:${this.id}:`;
    const base = loadConfig();
    this.config = { ...base, postgresUrl: withDatabase(base.postgresUrl, this.databaseName) };
  }

  /** A topic name unique to this suite. */
  topic(name: string): string {
    return `t-${this.id}-${name}`;
  }

  /** A BullMQ queue name unique to this suite. */
  queueName(name: string): string {
    return `t-${this.id}-${name}`;
  }

  /** This suite's database as the local stack's reader login (deltameta_read): what a reader connects with. */
  get readerUrl(): string {
    return localLoginUrl(this.config.postgresUrl, 'reader');
  }

  pool(max = 4): Pool {
    return createPool(this.config.postgresUrl, { max, applicationName: `test:${this.id}` });
  }

  /**
   * Connection options for ioredis and BullMQ that name the connection after
   * this suite (how leaks are found). A plain shape both libraries accept.
   */
  redisOptions(): TestRedisOptions {
    const url = new URL(this.config.redisUrl);
    return { host: url.hostname, port: Number(url.port || 6379), connectionName: `${this.keyPrefix}client`, maxRetriesPerRequest: null };
  }

  redis(extra: RedisOptions = {}): Redis {
    return new Redis({ ...this.redisOptions(), ...extra });
  }

  /** The same, for the cache's Redis instance (the reader's L2, warmed summaries). */
  cacheRedisOptions(): TestRedisOptions {
    const url = new URL(this.config.cacheRedisUrl);
    return { host: url.hostname, port: Number(url.port || 6379), connectionName: `${this.keyPrefix}cache-client`, maxRetriesPerRequest: null };
  }

  cacheRedis(extra: RedisOptions = {}): Redis {
    return new Redis({ ...this.cacheRedisOptions(), ...extra });
  }

  /** Both Redis instances a suite may leave keys and clients in. */
  private redisInstances(): TestRedisOptions[] {
    return [this.redisOptions(), this.cacheRedisOptions()];
  }

  /** A kafkajs client whose producers, consumers and admins are tracked until they disconnect. */
  kafka(): Kafka {
    const open = this.openKafkaClients;
    let count = 0;
    const id = this.id;
    class TrackedKafka extends Kafka {
      override producer(config?: ProducerConfig): Producer {
        const producer = super.producer(config);
        const key = `producer#${++count}`;
        producer.on('producer.connect', () => open.set(key, key));
        producer.on('producer.disconnect', () => open.delete(key));
        return producer;
      }
      override consumer(config: ConsumerConfig): Consumer {
        const consumer = super.consumer(config);
        const key = `consumer#${++count} (group ${config.groupId})`;
        consumer.on('consumer.connect', () => open.set(key, key));
        consumer.on('consumer.disconnect', () => open.delete(key));
        return consumer;
      }
      override admin(): Admin {
        const admin = super.admin();
        const key = `admin#${++count}`;
        admin.on('admin.connect', () => open.set(key, key));
        admin.on('admin.disconnect', () => open.delete(key));
        return admin;
      }
    }
    return new TrackedKafka({
      clientId: `test-${id}`,
      brokers: [...this.config.kafkaBrokers],
      logLevel: logLevel.ERROR,
      retry: { retries: 8, initialRetryTime: 100 },
    });
  }

  async setUp(): Promise<void> {
    const template = process.env['DELTAMETA_TEST_TEMPLATE'];
    if (!template) throw new Error('DELTAMETA_TEST_TEMPLATE is not set: run the tests through mocha (test/support/global.ts)');
    await withAdmin((admin) => admin.query(`CREATE DATABASE "${this.databaseName}" TEMPLATE "${template}"`));
  }

  /** Cleans up everything this suite made and returns what was left open. */
  async tearDown(): Promise<string[]> {
    const leaks: string[] = [];
    // Backends and Redis clients take a moment to go away after a client's end() resolves.
    const deadline = Date.now() + 3000;
    let backends: string[];
    let redisClients: string[];
    for (;;) {
      backends = await withAdmin(async (admin) => {
        const { rows } = await admin.query<{ who: string }>(
          `SELECT coalesce(nullif(application_name, ''), backend_type) || ' (pid ' || pid || ')' AS who
             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [this.databaseName],
        );
        return rows.map((row) => row.who);
      });
      redisClients = await this.namedRedisClients();
      if ((backends.length === 0 && redisClients.length === 0) || Date.now() > deadline) break;
      await delay(50);
    }
    leaks.push(...backends.map((who) => `PostgreSQL connection ${who}`));
    leaks.push(...redisClients.map((who) => `Redis client ${who}`));
    leaks.push(...[...this.openKafkaClients.values()].map((client) => `Kafka ${client}`));

    await withAdmin(async (admin) => {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [this.databaseName]);
      await admin.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1', [this.databaseName]).catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS "${this.databaseName}" WITH (FORCE)`);
    });
    await this.deleteRedisKeys();
    await this.deleteTopics();
    return leaks;
  }

  private async namedRedisClients(): Promise<string[]> {
    const named: string[] = [];
    for (const options of this.redisInstances()) {
      const redis = new Redis({ ...options, connectionName: 'deltameta-test-admin' });
      try {
        const list = (await redis.client('LIST')) as string;
        named.push(...list
          .split('\n')
          .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
          .filter((name) => name.startsWith(this.keyPrefix))
          .map((name) => `${name} on port ${options.port}`));
      } finally {
        redis.disconnect();
      }
    }
    return named;
  }

  private async deleteRedisKeys(): Promise<void> {
    for (const options of this.redisInstances()) {
      const redis = new Redis({ ...options, connectionName: 'deltameta-test-admin' });
      try {
        // Suites put their keys under keyPrefix and their BullMQ queues under their queue names.
        for (const pattern of [`${this.keyPrefix}*`, `bull:t-${this.id}-*`, `*t-${this.id}-*`]) await unlinkMatching(redis, pattern);
      } finally {
        redis.disconnect();
      }
    }
  }

  private async deleteTopics(): Promise<void> {
    const kafka = createKafka({ clientId: 'deltameta-test-admin', brokers: this.config.kafkaBrokers });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`t-${this.id}-`));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
    } finally {
      await admin.disconnect();
    }
  }
}

/**
 * A suite with its own isolated environment. `body` declares tests and hooks
 * as usual; the environment's teardown runs after the suite's own `after`
 * hooks (it is registered after them) and fails the suite on any leak.
 */
export function describeWithEnv(title: string, body: (env: TestEnv) => void): void {
  describe(title, function () {
    const env = new TestEnv(title);
    before(async function () {
      this.timeout(30_000);
      await env.setUp();
    });
    body(env);
    after(async function () {
      this.timeout(30_000);
      const leaks = await env.tearDown();
      if (leaks.length > 0) throw new Error(`the suite left open: ${leaks.join('; ')}`);
    });
  });
}
