/**
 * A service process: start its pieces, then on SIGTERM or SIGINT stop them
 * in order (stop taking work, finish or hand back what is in flight, close
 * connections), and exit. A second signal, or a stop that overruns its
 * grace time, exits at once: what was in flight is redelivered (Kafka
 * offsets and the replication slot only ever move after work is done).
 */
import pRetry from 'p-retry';
import type { Logger } from '../logging/index.ts';

export interface RunningService {
  /** Stops everything; must be safe to call once. */
  stop(): Promise<void>;
}

export function runUntilSignal(
  logger: Logger,
  service: RunningService,
  options: { shutdownGraceMs: number; exitWhenStopped?: boolean },
): Promise<void> {
  const graceMs = options.shutdownGraceMs;
  let detach = (): void => undefined;
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error({ graceMs }, 'shutdown overran its grace time: exiting');
        process.exit(1);
      }, graceMs);
      timer.unref();
      service.stop().then(
        () => {
          clearTimeout(timer);
          logger.info('stopped');
          resolve();
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    // `on`, not `once`: a second SIGTERM must reach the branch above, not Node's default handler.
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    detach = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };

  });
  if (options.exitWhenStopped === false) return stopped.then(detach);
  // Once everything is flushed and closed, exit: a client library's reconnect
  // timer (kafkajs, ioredis after a broker or Redis restart) must not keep a
  // stopped service alive.
  return stopped.then(() => {
    setImmediate(() => process.exit());
  });
}

export interface BackoffOptions {
  /** The longest wait between two attempts. */
  readonly maxBackoffMs: number;
  readonly logger: Logger;
  /**
   * Ends the retrying: a wait in progress ends at once (a stop never sits
   * out a backoff), an attempt in progress is let finish, and no new one starts.
   */
  readonly signal: AbortSignal;
  /** Failures that waiting does not fix: thrown at once, not logged as a retry. Default: none. */
  readonly isPermanent?: (error: unknown) => boolean;
}

/**
 * p-retry gives up at once on a TypeError (it takes one for a bug) and on
 * a thrown non-Error; here every failure that is not permanent is retried,
 * so each one travels wrapped and is unwrapped before it is logged or thrown.
 */
class FailedAttempt extends Error {
  constructor(readonly error: unknown) {
    super('attempt failed', { cause: error });
  }
}

/** The first wait; each next one doubles, up to maxBackoffMs. */
const firstBackoffMs = 100;

/**
 * Retries `attempt` with exponential backoff and jitter (each wait between
 * half and all of its backoff) until it succeeds, fails permanently (thrown),
 * or `signal` aborts (undefined, unless the attempt then running succeeded:
 * its result is never dropped, since it may hold a connection to close).
 * Each failed attempt is logged as a warning with its backoff (`retryInMs`).
 */
export async function withBackoff<T>(what: string, attempt: () => Promise<T>, options: BackoffOptions): Promise<T | undefined> {
  const isPermanent = options.isPermanent ?? (() => false);
  let succeeded: { readonly value: T } | undefined;
  try {
    return await pRetry(
      async () => {
        try {
          const value = await attempt();
          succeeded = { value };
          return value;
        } catch (error) {
          throw new FailedAttempt(error);
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        factor: 2,
        // randomize multiplies by [1, 2): waits of [backoff / 2, backoff).
        minTimeout: firstBackoffMs / 2,
        randomize: true,
        maxTimeout: options.maxBackoffMs,
        signal: options.signal,
        onFailedAttempt: ({ error, retriesConsumed }) => {
          const cause = error instanceof FailedAttempt ? error.error : error;
          if (options.signal.aborted || isPermanent(cause)) return;
          const retryInMs = Math.min(firstBackoffMs * 2 ** retriesConsumed, options.maxBackoffMs);
          options.logger.warn({ err: cause, retryInMs }, `${what} failed; retrying`);
        },
        shouldRetry: ({ error }) => !isPermanent(error instanceof FailedAttempt ? error.error : error),
      },
    );
  } catch (error) {
    if (succeeded) return succeeded.value;
    const cause = error instanceof FailedAttempt ? error.error : error;
    if (options.signal.aborted && !isPermanent(cause)) return undefined;
    throw cause;
  }
}
