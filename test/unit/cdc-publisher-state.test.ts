/** The CDC publisher's life as one state value: which moves it takes, and what each one stops. */
import { expect } from 'chai';
import { PublisherLifecycle } from '../../services/cdc/index.ts';

describe('PublisherLifecycle', () => {
  it('receives while starting and running; a graceful stop ends the connection backoffs but not the sends', () => {
    const lifecycle = new PublisherLifecycle();
    expect(lifecycle.receiving).to.equal(false);
    expect(lifecycle.moveTo('starting')).to.equal(true);
    expect(lifecycle.receiving).to.equal(true);
    expect(lifecycle.moveTo('running')).to.equal(true);
    expect([lifecycle.receiving, lifecycle.maySend, lifecycle.stopSignal.aborted]).to.deep.equal([true, true, false]);
    expect(lifecycle.moveTo('draining')).to.equal(true);
    expect([lifecycle.receiving, lifecycle.stopping, lifecycle.stopSignal.aborted]).to.deep.equal([false, true, true]);
    // Draining publishes what is buffered, waiting for Kafka as long as it takes.
    expect([lifecycle.maySend, lifecycle.discarding, lifecycle.discardSignal.aborted]).to.deep.equal([true, false, false]);
    expect(lifecycle.moveTo('stopped')).to.equal(true);
    expect([lifecycle.maySend, lifecycle.discardSignal.aborted]).to.deep.equal([false, true]);
  });

  it('an abort ends every backoff and every send, also during a graceful stop, and a stop after it changes nothing', () => {
    const lifecycle = new PublisherLifecycle();
    lifecycle.moveTo('starting');
    lifecycle.moveTo('running');
    lifecycle.moveTo('draining');
    expect(lifecycle.moveTo('aborting')).to.equal(true);
    expect([lifecycle.stopSignal.aborted, lifecycle.discardSignal.aborted, lifecycle.maySend]).to.deep.equal([true, true, false]);
    expect(lifecycle.moveTo('draining')).to.equal(false);
    expect(lifecycle.state).to.equal('aborting');
  });

  it('halts on the first failure: stops receiving and sending, and reports only that one', () => {
    const lifecycle = new PublisherLifecycle();
    lifecycle.moveTo('starting');
    lifecycle.moveTo('running');
    const first = lifecycle.fail(new Error('bad row'));
    expect(first?.message).to.equal('bad row');
    expect(lifecycle.state).to.equal('failed');
    expect([lifecycle.receiving, lifecycle.maySend, lifecycle.stopping]).to.deep.equal([false, false, false]);
    expect(lifecycle.fail('a second one')).to.equal(undefined);
    expect(lifecycle.failure).to.equal(first);
    // A halted publisher is still stopped by its owner, but never runs again.
    expect(lifecycle.moveTo('running')).to.equal(false);
    expect(lifecycle.moveTo('draining')).to.equal(true);
    expect(lifecycle.maySend).to.equal(false);
  });

  it('records a failure while draining without leaving it, so the stop goes on', () => {
    const lifecycle = new PublisherLifecycle();
    lifecycle.moveTo('starting');
    lifecycle.moveTo('draining');
    expect(lifecycle.fail('boom')?.message).to.equal('boom');
    expect(lifecycle.state).to.equal('draining');
    expect(lifecycle.maySend).to.equal(false);
  });

  it('a failed start ends stopped; nothing moves out of stopped', () => {
    const lifecycle = new PublisherLifecycle();
    lifecycle.moveTo('starting');
    expect(lifecycle.moveTo('stopped')).to.equal(true);
    for (const next of ['idle', 'starting', 'running', 'failed', 'draining', 'aborting'] as const) {
      expect(lifecycle.moveTo(next), next).to.equal(false);
    }
  });

  it('refuses to start twice or to run without starting', () => {
    const lifecycle = new PublisherLifecycle();
    expect(lifecycle.moveTo('running')).to.equal(false);
    lifecycle.moveTo('starting');
    expect(lifecycle.moveTo('starting')).to.equal(false);
  });
});
