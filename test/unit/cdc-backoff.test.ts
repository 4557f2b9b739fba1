/**
 * withBackoff, the CDC's retry loop (p-retry underneath): what it retries,
 * what it throws at once, what it logs, and that aborting its signal ends a
 * wait at once without dropping the result of an attempt that succeeded.
 */
import { expect } from 'chai';
import { pino } from 'pino';
import type { Logger } from '../../shared/logging/index.ts';
import { withBackoff } from '../../shared/service/index.ts';

interface Warning {
  readonly msg: string;
  readonly retryInMs: number;
  readonly err?: { readonly message: string };
}

function recordingLogger(): { logger: Logger; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const logger: Logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Warning) });
  return { logger, warnings };
}

class PermanentError extends Error {}
const isPermanent = (error: unknown): boolean => error instanceof PermanentError;

describe('withBackoff', () => {
  it('retries what fails, TypeErrors included, logging each failure with its backoff', async () => {
    const { logger, warnings } = recordingLogger();
    let attempts = 0;
    const result = await withBackoff('connecting', () => {
      attempts++;
      if (attempts === 1) return Promise.reject(new Error('refused'));
      // p-retry alone would give up on a TypeError.
      if (attempts === 2) return Promise.reject(new TypeError('undefined is not a function'));
      return Promise.resolve('connected');
    }, { maxBackoffMs: 150, logger, signal: new AbortController().signal, isPermanent });
    expect(result).to.equal('connected');
    expect(attempts).to.equal(3);
    expect(warnings.map(({ msg, retryInMs, err }) => [msg, retryInMs, err?.message])).to.deep.equal([
      ['connecting failed; retrying', 100, 'refused'],
      ['connecting failed; retrying', 150, 'undefined is not a function'],
    ]);
  });

  it('throws a permanent failure at once, without a retry or a warning', async () => {
    const { logger, warnings } = recordingLogger();
    let attempts = 0;
    const failure = new PermanentError('wal_level is not logical');
    const outcome = await withBackoff('setting up', () => {
      attempts++;
      return Promise.reject(failure);
    }, { maxBackoffMs: 100, logger, signal: new AbortController().signal, isPermanent }).then(() => undefined, (error: unknown) => error);
    expect(outcome).to.equal(failure);
    expect(attempts).to.equal(1);
    expect(warnings).to.deep.equal([]);
  });

  it('ends a backoff at once when its signal aborts', async () => {
    const { logger } = recordingLogger();
    const stop = new AbortController();
    let attempts = 0;
    let abortedAt = 0;
    const retrying = withBackoff('reconnecting', () => {
      // The 4th wait is 400 to 800 ms: abort 20 ms into it.
      if (++attempts === 4) {
        setTimeout(() => {
          abortedAt = performance.now();
          stop.abort();
        }, 20);
      }
      return Promise.reject(new Error('slot in use'));
    }, { maxBackoffMs: 60_000, logger, signal: stop.signal });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([retrying, new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting'), 2_000)))]);
    clearTimeout(timer);
    expect(outcome).to.equal(undefined);
    expect(attempts).to.equal(4);
    expect(performance.now() - abortedAt).to.be.below(100);
  });

  it('returns what an attempt that was running when the signal aborted produced; no new attempt starts', async () => {
    const { logger, warnings } = recordingLogger();
    const stop = new AbortController();
    const opened = await withBackoff('connecting', () => {
      stop.abort();
      return Promise.resolve('a connection to close');
    }, { maxBackoffMs: 100, logger, signal: stop.signal });
    expect(opened).to.equal('a connection to close');
    let attempts = 0;
    const failed = await withBackoff('connecting', () => {
      attempts++;
      return Promise.reject(new Error('refused'));
    }, { maxBackoffMs: 100, logger, signal: stop.signal });
    expect([failed, attempts]).to.deep.equal([undefined, 0]);
    expect(warnings).to.deep.equal([]);
  });
});
