/**
 * Head pointers: the only mutable fact of the system ("which version is
 * latest"), one Redis hash per table, moved forward only by an atomic Lua
 * script that also announces the move on pub/sub for reader processes.
 * Everything else is keyed by version and never needs invalidation.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { redisKeys, type RedisKeys } from './redis-keys.ts';

const advanceScript = readFileSync(new URL('./advance-head.lua', import.meta.url), 'utf8');
const advanceScriptSha = createHash('sha1').update(advanceScript).digest('hex');

export interface HeadAnnouncement {
  readonly table: string;
  readonly version: number;
  readonly committedAt: string;
}

/** Announced when a table is dropped: readers forget its head and its table row (a table of that name may come again, from version 0). */
export interface DropAnnouncement {
  readonly table: string;
  readonly tableId: number;
  readonly dropped: true;
}

export interface Head {
  readonly version: number;
  readonly committedAt: string;
}

export class HeadPointers {
  private readonly keys: RedisKeys;

  constructor(private readonly redis: Redis, prefix: string) {
    this.keys = redisKeys(prefix);
  }

  key(table: string): string {
    return this.keys.head(table);
  }

  /** The channel announcements go to (JSON HeadAnnouncement). */
  get channel(): string {
    return this.keys.headsChannel;
  }

  /** The table was dropped: its head pointer goes, and readers hear it at once (idempotent). */
  async forget(table: string, tableId: number): Promise<void> {
    const payload = JSON.stringify({ table, tableId, dropped: true } satisfies DropAnnouncement);
    await this.redis.multi().del(this.key(table)).publish(this.channel, payload).exec();
  }

  /** Moves the head forward if `version` is newer; true when it moved. */
  async advance(table: string, version: number, committedAt: string): Promise<boolean> {
    const payload = JSON.stringify({ table, version, committedAt } satisfies HeadAnnouncement);
    const args = [this.key(table), String(version), committedAt, this.channel, payload];
    let moved: unknown;
    try {
      moved = await this.redis.evalsha(advanceScriptSha, 1, ...args);
    } catch (error) {
      // After a Redis restart the script cache is empty: send the script itself once.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      moved = await this.redis.eval(advanceScript, 1, ...args);
    }
    return moved === 1;
  }

  /**
   * advance() for many tables in one pipeline (one write to Redis, one
   * reply read): the invalidator's batch. Each move is the same atomic
   * script; true where the pointer moved.
   */
  async advanceMany(moves: ReadonlyArray<{ readonly table: string; readonly version: number; readonly committedAt: string }>): Promise<boolean[]> {
    if (moves.length === 0) return [];
    const argsOf = (move: (typeof moves)[number]): string[] => [
      this.key(move.table), String(move.version), move.committedAt, this.channel,
      JSON.stringify({ table: move.table, version: move.version, committedAt: move.committedAt } satisfies HeadAnnouncement),
    ];
    const run = async (script: 'evalsha' | 'eval'): Promise<Array<[Error | null, unknown]>> => {
      const pipeline = this.redis.pipeline();
      for (const move of moves) {
        if (script === 'evalsha') pipeline.evalsha(advanceScriptSha, 1, ...argsOf(move));
        else pipeline.eval(advanceScript, 1, ...argsOf(move));
      }
      return (await pipeline.exec()) ?? [];
    };
    let replies = await run('evalsha');
    // After a Redis restart the script cache is empty: send the script itself (NOSCRIPT changed nothing, so all again is safe).
    if (replies.some(([error]) => error?.message.startsWith('NOSCRIPT'))) replies = await run('eval');
    return replies.map(([error, moved]) => {
      if (error) throw error;
      return moved === 1;
    });
  }

  async get(table: string): Promise<Head | undefined> {
    const [version, committedAt] = await this.redis.hmget(this.key(table), 'version', 'committedAt');
    if (version === null || version === undefined) return undefined;
    return { version: Number(version), committedAt: committedAt ?? '' };
  }
}
