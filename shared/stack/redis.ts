/** Redis from Debian's redis-server, daemonized with AOF persistence (infra/redis/redis.conf). */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { projectRoot, type Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { livePid, stopPid } from './process.ts';
import { findOnPath, installSystemPackages, run } from './system.ts';
import type { ServiceStatus, StackService } from './types.ts';

export class RedisService implements StackService {
  readonly name = 'redis' as const;
  private readonly port: number;
  private readonly dir: string;

  constructor(private readonly config: Config) {
    this.port = config.stack.redisPort;
    this.dir = path.join(config.stackDir, 'redis');
  }

  private get pidFile(): string {
    return path.join(this.dir, 'redis.pid');
  }

  private get logPath(): string {
    return path.join(this.config.stackDir, 'logs', 'redis.log');
  }

  async status(): Promise<ServiceStatus> {
    const pid = livePid(this.pidFile);
    const answers = await redisPings(this.port);
    const state = pid !== undefined ? (answers ? 'running' : 'unhealthy') : answers ? 'reused' : 'stopped';
    return { service: this.name, state, address: `127.0.0.1:${this.port}`, pid, logPath: this.logPath, dataDir: this.dir };
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
        path.join(projectRoot, 'infra/redis/redis.conf'),
        '--port', String(this.port), '--dir', this.dir, '--pidfile', this.pidFile, '--logfile', this.logPath,
      ]);
      await waitUntil(`redis on 127.0.0.1:${this.port}`, () => redisPings(this.port), {
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
    // SIGTERM makes Redis flush its AOF and exit cleanly.
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
