/**
 * The abandonment watch's cancels (services/reader/snapshot-scope.ts), at
 * the level below the routes (reader-abandonment.test.ts drives them through
 * HTTP): one pg_cancel_backend lands only on the query running when it
 * arrives, so an abandoned request's backend is cancelled again until its
 * work ends, and work of a request abandoned before it got a connection
 * never starts. Real PostgreSQL, a table locked by another session.
 */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { cancelOnAbort, endLingeringWatches, inSnapshot, RequestAbandoned, requestAbandonment, RequestWatch, watchedUntilClosed } from '../../services/reader/index.ts';
import type { Pool } from '../../shared/db/index.ts';
import { describeWithEnv } from '../support/env.ts';

describeWithEnv('reader: cancels of abandoned work', (env) => {
  let pool: Pool;

  before(async () => {
    pool = env.pool(4);
    await pool.query('CREATE TABLE cancel_target (id int)');
  });

  after(async () => {
    await pool.end();
  });

  async function withTableLocked<T>(work: () => Promise<T>): Promise<T> {
    const locker = await pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE cancel_target IN ACCESS EXCLUSIVE MODE');
      return await work();
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
  }

  it('a query sent after the abort (its first cancel found the backend idle) is cancelled too', async function () {
    this.timeout(20_000);
    const client = await pool.connect();
    const abort = new AbortController();
    abort.abort();
    const stop = cancelOnAbort(pool, client, abort.signal);
    try {
      // Sent once the first cancel has had time to land on an idle backend: without the repeats it would wait for the lock.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      const error = await withTableLocked(() => client.query('SELECT count(*) FROM cancel_target').then(() => undefined, (failure: unknown) => failure));
      expect((error as { code?: string } | undefined)?.code, String(error)).to.equal('57014');
      expect(Date.now() - started).to.be.below(10_000);
    } finally {
      stop();
      client.release(true);
    }
  });

  it('work of a request abandoned before it got a connection does not start', async () => {
    // A stand-in for a response whose client went away (RequestWatch reads closed and writableFinished only).
    const closed = { closed: true, writableFinished: false } as unknown as ServerResponse;
    let ran = false;
    const idleBefore = pool.idleCount;
    const outcome = await requestAbandonment.run(new RequestWatch(closed), () => inSnapshot(pool, () => {
      ran = true;
      return Promise.resolve();
    })).then(() => undefined, (error: unknown) => error);
    expect(outcome).to.be.instanceOf(RequestAbandoned);
    expect(ran).to.equal(false);
    expect(pool.idleCount).to.equal(idleBefore);
  });

  it('an abandoned request\'s watch outlives its response\'s close: work still running then finds it, aborted', async () => {
    // A stand-in response (the watch reads closed and writableFinished, and listens for 'close').
    const response = Object.assign(new EventEmitter(), { closed: false, writableFinished: false });
    const seen = await new Promise<boolean | undefined>((resolve) => {
      watchedUntilClosed(response as unknown as ServerResponse, () => {
        void (async () => {
          response.closed = true;
          response.emit('close');
          // the rest of the request's work, after its client went away (another table of a list, say)
          await new Promise((resume) => setTimeout(resume, 20));
          resolve(requestAbandonment.getStore()?.signal.aborted);
        })();
      }, 10_000);
    });
    endLingeringWatches();
    expect(seen, 'the watch, aborted (undefined: the store was disabled at the close)').to.equal(true);
  });
});
