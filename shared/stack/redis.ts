/**
 * The stack's two Redis instances, from Debian's redis-server, daemonized:
 * the pipeline's (BullMQ, head pointers, pub/sub; noeviction + AOF,
 * infra/redis/redis.conf) and the cache's (the reader's L2 and warmed
 * summaries; a maxmemory budget with allkeys-lru, nothing persisted,
 * infra/redis/redis-cache.conf). Separate instances, because maxmemory and
 * its policy are per instance: in one instance, even a volatile-* policy
 * could evict BullMQ's job locks, which carry TTLs.
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { projectRoot, type Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { livePid, stopPid } from './process.ts';
import { findOnPath, installSystemPackages, run } from './system.ts';
import type { ServiceStatus, StackService } from './types.ts';

/** What differs between the two instances. */
interface RedisInstance {
  readonly name: 'redis' | 'redis-cache';
  readonly port: number;
  /** under infra/redis/ */
  readonly confFile: string;
  /** command-line settings after the conf file's */
  readonly extraArgs: readonly string[];
  /** what `stack status` adds after the address */
  readonly detail?: string;
}

export class RedisService implements StackService {
  readonly name: RedisInstance['name'];
  private readonly port: number;
  private readonly dir: string;

  /** The pipeline's instance. */
  static pipeline(config: Config): RedisService {
    return new RedisService(config, { name: 'redis', port: config.stack.redisPort, confFile: 'redis.conf', extraArgs: [] });
  }

  /** The cache's instance, its memory budget from DELTAMETA_CACHE_REDIS_MAXMEMORY. */
  static cache(config: Config): RedisService {
    return new RedisService(config, {
      name: 'redis-cache',
      port: config.stack.cacheRedisPort,
      confFile: 'redis-cache.conf',
      extraArgs: ['--maxmemory', config.cacheRedisMaxMemory],
      detail: `maxmemory ${config.cacheRedisMaxMemory}, allkeys-lru`,
    });
  }

  private constructor(private readonly config: Config, private readonly instance: RedisInstance) {
    this.name = instance.name;
    this.port = instance.port;
    this.dir = path.join(config.stackDir, instance.name);
  }

  private get pidFile(): string {
    return path.join(this.dir, `${this.name}.pid`);
  }

  private get logPath(): string {
    return path.join(this.config.stackDir, 'logs', `${this.name}.log`);
  }

  async status(): Promise<ServiceStatus> {
    const pid = livePid(this.pidFile);
    const answers = await redisPings(this.port);
    const state = pid !== undefined ? (answers ? 'running' : 'unhealthy') : answers ? 'reused' : 'stopped';
    const detail = this.instance.detail !== undefined ? { detail: this.instance.detail } : {};
    return { service: this.name, state, address: `127.0.0.1:${this.port}`, pid, logPath: this.logPath, dataDir: this.dir, ...detail };
  }

  async up(): Promise<ServiceStatus> {
    const before = await this.status();
    if (before.state === 'running' || before.state === 'reused') return before;
    let binary = findOnPath('redis-server');
    if (!binary) {
      await installSystemPackages(['redis-server'], 'redis-server is not installed');
      binary = findOnPath('redis-server');
    }
    if (!binary) throw new StackError(this.name, 'redis-server not found on PATH after installing it');
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(path.dirname(this.logPath), { recursive: true });
    const startedAt = Date.now();
    try {
      // daemonize yes (redis.conf): the parent returns once the server has forked.
      await run(binary, [
        path.join(projectRoot, 'infra/redis', this.instance.confFile),
        '--port', String(this.port), '--dir', this.dir, '--pidfile', this.pidFile, '--logfile', this.logPath, ...this.instance.extraArgs,
      ]);
      await waitUntil(`${this.name} on 127.0.0.1:${this.port}`, () => redisPings(this.port), {
        timeoutMs: this.config.stackStartTimeoutMs,
        // The pid file appears a moment after the fork; until then assume alive.
        whileAlive: () => livePid(this.pidFile) !== undefined || Date.now() - startedAt < 5000,
      });
    } catch (error) {
      throw new StackError(this.name, 'did not start', { cause: error, logPath: this.logPath });
    }
    return this.status();
  }

  async down(): Promise<ServiceStatus> {
    const pid = livePid(this.pidFile);
    // SIGTERM makes Redis flush its AOF (the pipeline's) and exit cleanly.
    if (pid !== undefined) await stopPid(pid, 30_000);
    return this.status();
  }
}

/** Speaks just enough RESP to ask PING; no client library needed for a health check. */
export function redisPings(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let reply = '';
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}
