/**
 * The head pointer's forward-only rule (shared/contracts/advance-head.lua
 * through HeadPointers) on the real Redis: a version older than the head,
 * or equal to it, moves nothing and announces nothing, whatever order the
 * calls come in. Each check is made after the pointer has already moved
 * forward, so a script that moved backwards would be seen.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { HeadPointers, type HeadAnnouncement } from '../../shared/contracts/index.ts';
import { describeWithEnv } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

describeWithEnv('head pointers', (env) => {
  let redis: Redis;
  let subscriber: Redis;
  let heads: HeadPointers;
  const announced: HeadAnnouncement[] = [];

  before(async () => {
    redis = env.redis();
    subscriber = env.redis();
    heads = new HeadPointers(redis, env.keyPrefix);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === heads.channel) announced.push(JSON.parse(message) as HeadAnnouncement);
    });
    await subscriber.subscribe(heads.channel);
  });

  after(() => {
    subscriber.disconnect();
    redis.disconnect();
  });

  /**
   * Announcements seen so far, once a marker move on another table has
   * arrived: the script publishes from one connection, so anything an
   * earlier call announced is delivered before the marker.
   */
  async function announcementsUpTo(marker: string, markerVersion: number): Promise<HeadAnnouncement[]> {
    expect(await heads.advance(marker, markerVersion, '2026-01-01T00:00:00.000Z')).to.equal(true);
    await eventually(`the ${marker} marker announcement`, () => announced.some((entry) => entry.table === marker && entry.version === markerVersion));
    return announced.splice(0).filter((entry) => entry.table !== marker);
  }

  it('moves forward from nothing and announces each move', async () => {
    expect(await heads.get('fresh')).to.equal(undefined);
    expect(await heads.advance('fresh', 0, '2026-01-01T00:00:00.000Z')).to.equal(true);
    expect(await heads.advance('fresh', 3, '2026-01-01T00:00:03.000Z')).to.equal(true);
    expect(await heads.get('fresh')).to.deep.equal({ version: 3, committedAt: '2026-01-01T00:00:03.000Z' });
    expect(await announcementsUpTo('marker-a', 1)).to.deep.equal([
      { table: 'fresh', version: 0, committedAt: '2026-01-01T00:00:00.000Z' },
      { table: 'fresh', version: 3, committedAt: '2026-01-01T00:00:03.000Z' },
    ]);
  });

  it('never moves back: an older or equal version after a newer one changes and announces nothing', async () => {
    const table = 'orders';
    expect(await heads.advance(table, 7, '2026-01-01T00:07:00.000Z')).to.equal(true);
    expect(await announcementsUpTo('marker-b', 1)).to.deep.equal([{ table, version: 7, committedAt: '2026-01-01T00:07:00.000Z' }]);

    // Replayed (older) and duplicate (equal) events arrive after the head moved.
    for (const [version, committedAt] of [[2, '2026-01-01T00:02:00.000Z'], [0, '2026-01-01T00:00:00.000Z'], [6, '2026-01-01T00:06:00.000Z'], [7, '2026-01-01T09:09:09.000Z']] as const) {
      expect(await heads.advance(table, version, committedAt), `advance to ${version}`).to.equal(false);
      expect(await heads.get(table), `after advance to ${version}`).to.deep.equal({ version: 7, committedAt: '2026-01-01T00:07:00.000Z' });
    }
    // Compared as numbers, not strings: "10" is newer than "7", "9" older than "10".
    expect(await heads.advance(table, 10, '2026-01-01T00:10:00.000Z')).to.equal(true);
    expect(await heads.advance(table, 9, '2026-01-01T00:09:00.000Z')).to.equal(false);
    expect(await heads.get(table)).to.deep.equal({ version: 10, committedAt: '2026-01-01T00:10:00.000Z' });
    expect(await announcementsUpTo('marker-b', 2)).to.deep.equal([{ table, version: 10, committedAt: '2026-01-01T00:10:00.000Z' }]);
  });

  it('moves many tables in one pipeline (the invalidator\'s batch), forward only, also after the script cache was flushed', async () => {
    expect(await heads.advance('many-b', 5, '2026-01-01T00:05:00.000Z')).to.equal(true);
    const moves = [
      { table: 'many-a', version: 2, committedAt: '2026-01-01T00:02:00.000Z' },
      { table: 'many-b', version: 4, committedAt: '2026-01-01T00:04:00.000Z' },
      { table: 'many-c', version: 0, committedAt: '2026-01-01T00:00:00.000Z' },
    ];
    expect(await heads.advanceMany(moves)).to.deep.equal([true, false, true]);
    expect(await heads.get('many-b')).to.deep.equal({ version: 5, committedAt: '2026-01-01T00:05:00.000Z' });
    // As after a Redis restart: the scripts are gone, the moves still happen (and NOSCRIPT moved nothing twice).
    await redis.script('FLUSH');
    expect(await heads.advanceMany([{ table: 'many-a', version: 3, committedAt: '2026-01-01T00:03:00.000Z' }, { table: 'many-c', version: 0, committedAt: 'x' }]))
      .to.deep.equal([true, false]);
    expect(await heads.advanceMany([])).to.deep.equal([]);
    expect(await announcementsUpTo('marker-c', 1)).to.deep.equal([
      { table: 'many-b', version: 5, committedAt: '2026-01-01T00:05:00.000Z' }, moves[0], moves[2], { table: 'many-a', version: 3, committedAt: '2026-01-01T00:03:00.000Z' },
    ]);
  });
});
