/** BullMQ over ioredis on the local Redis: a job round trip, a retried failure, and per-id deduplication. */
import { expect } from 'chai';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { describeWithEnv } from '../support/env.ts';

describeWithEnv('bullmq round trip', (env) => {
  it('runs a job, retries a failure, and reports results through queue events', async function () {
    const queueName = env.queueName('refresh');
    const connection = env.redisOptions();
    const queue = new Queue(queueName, { connection });
    const events = new QueueEvents(queueName, { connection });
    const attempts = new Map<string, number>();
    const worker = new Worker(
      queueName,
      async (job: Job<{ table: string; upTo: number }>) => {
        await job.updateProgress(50);
        const seen = (attempts.get(job.data.table) ?? 0) + 1;
        attempts.set(job.data.table, seen);
        if (job.data.table === 'flaky' && seen < 2) throw new Error('transient');
        return { refreshedTo: job.data.upTo };
      },
      { connection, concurrency: 2 },
    );
    try {
      await events.waitUntilReady();
      const ok = await queue.add('refresh', { table: 'orders', upTo: 7 });
      const flaky = await queue.add('refresh', { table: 'flaky', upTo: 3 }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
      expect(await ok.waitUntilFinished(events, 15_000)).to.deep.equal({ refreshedTo: 7 });
      expect(await flaky.waitUntilFinished(events, 15_000)).to.deep.equal({ refreshedTo: 3 });
      expect(attempts.get('flaky')).to.equal(2);

      // A second job with the same deduplication id while the first is still waiting is dropped.
      await worker.pause();
      const first = await queue.add('refresh', { table: 'dedup', upTo: 1 }, { deduplication: { id: 'dedup' } });
      const second = await queue.add('refresh', { table: 'dedup', upTo: 2 }, { deduplication: { id: 'dedup' } });
      expect(second.id).to.equal(first.id);
      expect(await queue.getWaitingCount()).to.equal(1);
      // addBulk (the invalidator's batch) deduplicates the same way, against waiting jobs and within the bulk.
      const bulk = await queue.addBulk([
        { name: 'refresh', data: { table: 'dedup', upTo: 3 }, opts: { deduplication: { id: 'dedup' } } },
        { name: 'refresh', data: { table: 'other', upTo: 4 }, opts: { deduplication: { id: 'other' } } },
        { name: 'refresh', data: { table: 'other', upTo: 5 }, opts: { deduplication: { id: 'other' } } },
      ]);
      expect(bulk[0]?.id).to.equal(first.id);
      expect(bulk[2]?.id).to.equal(bulk[1]?.id);
      expect(await queue.getWaitingCount()).to.equal(2);
      await worker.resume();
      expect(await first.waitUntilFinished(events, 15_000)).to.deep.equal({ refreshedTo: 1 });
    } finally {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
