/**
 * The refresh jobs' retry schedule (shared/contracts/queues.ts), as BullMQ
 * computes it with the refresher's custom strategy: exponential from 200 ms,
 * capped at a minute, and no last attempt (a quarantined table is retried
 * until it recovers; a last attempt would free its deduplication key and let
 * the catch-up restart the backoff at 200 ms).
 */
import { expect } from 'chai';
import { Backoffs } from 'bullmq';
import { refreshBackoffStrategy, refreshJobOptions, refreshRetry } from '../../shared/contracts/index.ts';

describe('refresh retry schedule', function () {
  const options = refreshJobOptions('t');
  const backoff = Backoffs.normalize(options.backoff ?? 0);
  const delayAfter = (attemptsMade: number): number => {
    if (!backoff) throw new Error('refresh jobs have a backoff');
    return Backoffs.calculate(backoff, attemptsMade, new Error('refresh failed'), undefined as never, refreshBackoffStrategy) as number;
  };

  it('doubles from 200 ms and never waits more than a minute', function () {
    const delays = Array.from({ length: 40 }, (_, index) => delayAfter(index + 1));
    expect(delays.slice(0, 5)).to.deep.equal([200, 400, 800, 1600, 3200]);
    expect(Math.max(...delays)).to.equal(60_000);
    expect(delays.slice(9).every((delay) => delay === 60_000), 'capped from the 10th retry on').to.equal(true);
    expect(delayAfter(1_000_000)).to.equal(60_000);
  });

  it('has no practical last attempt', function () {
    // At a minute apart, a billion attempts is longer than any table lives.
    expect(options.attempts).to.equal(refreshRetry.attempts);
    expect(refreshRetry.attempts * refreshRetry.maxDelayMs).to.be.above(100 * 365 * 24 * 3600 * 1000);
  });

  it('refuses a backoff type it was not made for', function () {
    expect(() => refreshBackoffStrategy(1, 'exponential')).to.throw(/deltameta-refresh/);
  });
});
