/**
 * The faults a chaos round injects, each healed before the round ends:
 * - kill: SIGKILL an instance of any service, start it again 0.5-3 s later;
 * - pause: SIGSTOP an instance for longer than the consumer session timeout, then SIGCONT;
 * - kafka: SIGKILL a broker (on a cluster: in turn the active controller, a
 *   commits partition's leader or any node) and start it again;
 * - redis-restart: SIGKILL the pipeline's Redis (AOF everysec: up to a
 *   second of writes lost) and start it again;
 * - redis-flush: FLUSHALL on both Redis instances (head pointers, queues, caches gone);
 * - redis-fill: the cache Redis filled to its maxmemory, and the pipeline's
 *   Redis capped at what it holds (noeviction: writes refused) for a while;
 * - postgres-restart: PostgreSQL stopped (fast) and started;
 * - slot-drop: the CDC's walsender terminated and its replication slot dropped.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import type { Pool } from '../db/index.ts';
import { kafkaController, kafkaNodes, killKafkaNode, partitionLeader, stackDown, stackStatus, stackUp, startKafkaNode, type ServiceName } from '../stack/index.ts';
import type { Fleet } from './fleet.ts';

export const faultKinds = ['kill', 'pause', 'kafka', 'redis-restart', 'redis-flush', 'redis-fill', 'postgres-restart', 'slot-drop'] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultContext {
  readonly fleet: Fleet;
  /** the stack's configuration (ports, pid files) */
  readonly stack: Config;
  /** a pool on the run's database with rights to drop its slot */
  readonly pool: Pool;
  readonly slotName: string;
  /** the run's commits topic: on a cluster, the leader of one of its partitions is a target */
  readonly commitsTopic: string;
  /** longer than the consumers' session timeout */
  readonly pauseMs: number;
  readonly log: (line: string) => void;
}

const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

/** Injects one fault of `kind` and heals it; what was done, for the report. */
export async function injectFault(kind: FaultKind, context: FaultContext): Promise<string> {
  switch (kind) {
    case 'kill': {
      const instance = pick(context.fleet.instances);
      if (!instance) return 'no instance';
      await instance.kill();
      await delay(500 + Math.random() * 2500);
      instance.start();
      await instance.waitReady(120_000);
      return `SIGKILL ${instance.id}, restarted`;
    }
    case 'pause': {
      const instance = pick(context.fleet.instances.filter((candidate) => candidate.process?.running));
      if (!instance) return 'no instance';
      instance.pause();
      await delay(context.pauseMs);
      instance.resume();
      return `SIGSTOP ${instance.id} for ${context.pauseMs} ms`;
    }
    case 'kafka':
      return killKafkaBroker(context);
    case 'redis-restart':
      return killAndRestart(context.stack, 'redis');
    case 'redis-flush':
      return withRedis(context.stack, async (pipeline, cache) => {
        await pipeline.flushall();
        await cache.flushall();
        return 'FLUSHALL on both Redis instances';
      });
    case 'redis-fill':
      return withRedis(context.stack, (pipeline, cache) => fillRedis(pipeline, cache));
    case 'postgres-restart':
      await stackDown(context.stack, ['postgres']);
      await delay(500);
      await stackUp(context.stack, ['postgres']);
      return 'PostgreSQL stopped (fast) and started';
    case 'slot-drop':
      return dropSlot(context.pool, context.slotName);
  }
}

async function killAndRestart(stack: Config, service: ServiceName): Promise<string> {
  const [status] = await stackStatus(stack, [service]);
  if (status?.pid === undefined) throw new Error(`${service} is ${status?.state ?? 'unknown'}: the chaos run kills the stack's own ${service}, start it with deltameta stack up`);
  process.kill(status.pid, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(status.pid, 0);
      await delay(100);
    } catch {
      break;
    }
  }
  await delay(Math.random() * 2000);
  await stackUp(stack, [service]);
  return `SIGKILL ${service} (pid ${status.pid}), started again`;
}

/** SIGKILL one broker — on a cluster the active controller, a commits partition's leader or any, in turn at random — and start it again. */
async function killKafkaBroker(context: FaultContext): Promise<string> {
  const nodes = kafkaNodes(context.stack).filter((node) => node.running);
  let target = pick(nodes)?.nodeId;
  let role = 'the broker';
  if (nodes.length > 1) {
    const draw = Math.random();
    if (draw < 1 / 3) {
      target = kafkaController(context.stack) ?? target;
      role = 'the active controller';
    } else if (draw < 2 / 3) {
      const partition = Math.floor(Math.random() * 6);
      const leader = await partitionLeader(context.stack, context.commitsTopic, partition).catch(() => -1);
      if (leader >= 0) target = leader;
      role = leader >= 0 ? `the leader of partition ${partition}` : 'a broker';
    } else {
      role = 'a broker';
    }
  }
  if (target === undefined) throw new Error('no Kafka node runs: the chaos run kills the stack\'s own brokers, start them with deltameta stack up');
  await killKafkaNode(context.stack, target, 'SIGKILL');
  await delay(1000 + Math.random() * 3000);
  await startKafkaNode(context.stack, target);
  return `SIGKILL Kafka node ${target} (${role} of ${nodes.length}), started again`;
}

async function withRedis(stack: Config, work: (pipeline: Redis, cache: Redis) => Promise<string>): Promise<string> {
  const pipeline = new Redis(stack.redisUrl, { connectionName: 'deltameta-chaos', maxRetriesPerRequest: 20 });
  const cache = new Redis(stack.cacheRedisUrl, { connectionName: 'deltameta-chaos', maxRetriesPerRequest: 20 });
  try {
    return await work(pipeline, cache);
  } finally {
    pipeline.disconnect();
    cache.disconnect();
  }
}

const junkPrefix = 'chaos-junk:';

/** The cache Redis to its limit (LRU evicts), the pipeline's Redis capped where it stands for 3 s (noeviction refuses writes). */
async function fillRedis(pipeline: Redis, cache: Redis): Promise<string> {
  const blob = 'x'.repeat(64 * 1024);
  const limit = Number((await cache.config('GET', 'maxmemory'))[1] ?? 0);
  let written = 0;
  for (let i = 0; limit > 0 && written < limit * 1.2; i++) {
    const batch = cache.pipeline();
    for (let j = 0; j < 64; j++) batch.set(`${junkPrefix}${i}:${j}`, blob);
    await batch.exec();
    written += 64 * blob.length;
  }
  const used = Number(/used_memory:(\d+)/.exec(await pipeline.info('memory'))?.[1] ?? 0);
  const before = (await pipeline.config('GET', 'maxmemory'))[1] ?? '0';
  await pipeline.config('SET', 'maxmemory', String(used + 1024 * 1024));
  let refused = 0;
  try {
    for (let i = 0; i < 64; i++) await pipeline.set(`${junkPrefix}${i}`, blob).catch(() => refused++);
    await delay(3000);
  } finally {
    await pipeline.config('SET', 'maxmemory', before);
    const keys = await pipeline.keys(`${junkPrefix}*`);
    if (keys.length > 0) await pipeline.del(...keys);
  }
  return `cache Redis filled past ${limit} bytes; pipeline Redis at its cap for 3 s (${refused} junk writes refused)`;
}

async function dropSlot(pool: Pool, slotName: string): Promise<string> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    try {
      await pool.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slotName]);
      const { rows } = await pool.query<{ dropped: boolean }>('SELECT count(*) > 0 AS dropped FROM (SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active) d', [slotName]);
      if (rows[0]?.dropped) return `replication slot ${slotName} dropped`;
    } catch {
      // The CDC took the slot again between the two statements (55006): once more.
    }
    await delay(20);
  }
  return `replication slot ${slotName}: could not be dropped (always active)`;
}
